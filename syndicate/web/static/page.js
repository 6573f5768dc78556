// The editors' page: Repost, Retry, Post now and Delete posts call the JSON API with the session's CSRF token.
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const editor = document.getElementById('editor');
  editor.value = localStorage.getItem('syndicate-editor') || '';
  editor.addEventListener('change', () => localStorage.setItem('syndicate-editor', editor.value.trim()));
  async function post(path, body) {
    const r = await fetch(path, {method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: JSON.stringify(body)});
    let data = {};
    try { data = await r.json(); } catch (e) { data = {error: r.statusText}; }
    return [r.status, data];
  }
  document.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const row = button.closest('tr[data-article]');
    const id = row.dataset.article;
    const out = row.querySelector('output');
    button.disabled = true;
    out.textContent = 'Working…';
    try {
      let status, data;
      if (button.dataset.action === 'repost') {
        const body = {};
        const intro = row.querySelector('input.intro').value.trim();
        if (intro) body.text = intro;
        if (editor.value.trim()) body.by = editor.value.trim();
        [status, data] = await post(`/api/articles/${id}/repost`, body);
        if (status === 409) {
          const where = (data.posted || []).map((p) => `${p.target}: ${p.url}`).join('\n');
          if (confirm(`Already posted:\n${where}\n\nPost it again?`)) {
            [status, data] = await post(`/api/articles/${id}/repost`, {...body, force: true});
          } else {
            out.textContent = 'Not reposted.';
            return;
          }
        }
        out.textContent = status === 202 ? `Queued for ${data.queued.join(', ')}.`
                                         : `Error: ${data.error || status}`;
      } else if (button.dataset.action === 'post-now') {
        const body = editor.value.trim() ? {by: editor.value.trim()} : {};
        [status, data] = await post(`/api/articles/${id}/post-now`, body);
        out.textContent = status === 200 ? (data.targets.length ? `Posting now to ${data.targets.join(', ')}.`
                                                                : 'Nothing was waiting.')
                                         : `Error: ${data.error || status}`;
      } else if (button.dataset.action === 'delete') {
        if (!confirm('Delete the posts made of this article?')) {
          out.textContent = 'Nothing deleted.';
          return;
        }
        const body = editor.value.trim() ? {by: editor.value.trim()} : {};
        [status, data] = await post(`/api/articles/${id}/delete`, body);
        out.textContent = status < 300 ? (data.queued.length ? `Deleting on ${data.queued.join(', ')}.`
                                                             : 'No post to delete.')
                                       : `Error: ${data.error || status}`;
      } else {
        [status, data] = await post(`/api/articles/${id}/retry`, {});
        const n = data.requeued;
        out.textContent = status === 200 ? `Re-queued ${n} failed deliver${n === 1 ? 'y' : 'ies'}.`
                                         : `Error: ${data.error || status}`;
      }
      if (status === 401 || status === 403) location.reload();
    } catch (e) {
      out.textContent = `Error: ${e}`;
    } finally {
      button.disabled = false;
    }
  });
})();
