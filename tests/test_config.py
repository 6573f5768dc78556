"""feeds.yaml validation: every problem is one line with file, line and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicate.config import load_config, parse_config, parse_duration
from syndicate.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

BASE = """\
feeds:
  - name: acr
    url: https://example.org/feed/
targets:
  masto:
    kind: mastodon
    instance: https://example.social
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "f.yaml", environ={})
    return [str(p) for p in info.value.problems]


def test_production_config_is_valid():
    cfg = load_config(ROOT / "feeds.yaml", environ={})
    assert cfg.feeds[0].url == "https://anticapitalistresistance.org/feed/"
    assert {t.kind for t in cfg.targets.values()} == {"mastodon", "bluesky"}
    assert cfg.feeds[0].backfill == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE + "    visibility: loud\n", "f.yaml:8: targets.masto.visibility: input should be 'public'"),
        (BASE.replace("    url: https://example.org/feed/\n", "    url: https://example.org/feed/\n    colour: red\n"),
         "f.yaml:4: feeds[0].colour: unknown key"),
        (BASE.replace("    url: https://example.org/feed/\n", ""), "f.yaml:2: feeds[0].url: required key is missing"),
        (BASE.replace("https://example.org/feed/", "ftp://x"), "f.yaml:3: feeds[0].url: expected an http(s) URL"),
        (BASE + "poll_interval: soon\n", 'f.yaml:8: poll_interval: expected a duration such as 90, "15m" or "1h"'),
        (BASE.replace("kind: mastodon", "kind: myspace"), "f.yaml:6: targets.masto: expected kind: mastodon or kind: bluesky"),
        (BASE.replace("    instance: https://example.social\n", ""), "f.yaml:5: targets.masto.instance: required key is missing"),
        ("feeds: [\n", "f.yaml:2: invalid YAML"),
        ("- 1\n", "f.yaml:1: expected a mapping"),
    ],
)
def test_each_problem_is_one_line_with_file_line_and_key(text, expected):
    lines = problems(text)
    assert lines[0].startswith(expected), lines
    assert all("\n" not in line for line in lines)


def test_unknown_target_named_by_a_feed():
    text = BASE.replace("    url: https://example.org/feed/\n", "    url: https://example.org/feed/\n    targets: [bsky]\n")
    assert "names target 'bsky', which is not under targets" in problems(text)[0]


def test_duplicate_feed_names():
    text = BASE.replace("feeds:\n", "feeds:\n  - name: acr\n    url: https://example.org/other/\n")
    assert "feed name 'acr' is used twice" in problems(text)[0]


def test_durations():
    assert parse_duration(90) == 90
    assert parse_duration("15m") == 900
    assert parse_duration("1h") == 3600
    with pytest.raises(ValueError):
        parse_duration("0s")


def test_secrets_from_env_and_file_never_shown(tmp_path):
    cfg = parse_config(BASE, "f.yaml", environ={})
    ref = cfg.targets["masto"].secret_ref
    assert ref.resolve({}) is None
    assert "SYNDICATE_MASTODON_TOKEN" in ref.hint()
    secret = ref.resolve({"SYNDICATE_MASTODON_TOKEN": "tok-from-env-123"})
    assert secret.reveal() == "tok-from-env-123"
    assert "tok-from-env-123" not in repr(secret) and "tok-from-env-123" not in str(secret)
    path = tmp_path / "token"
    path.write_text("tok-from-file-456\n")
    secret = ref.resolve({"SYNDICATE_MASTODON_TOKEN_FILE": str(path)})
    assert secret.reveal() == "tok-from-file-456"
    with pytest.raises(ConfigError, match="cannot read secret file"):
        ref.resolve({"SYNDICATE_MASTODON_TOKEN_FILE": str(tmp_path / "missing")})


def test_dump_redacts_secrets(monkeypatch):
    monkeypatch.setenv("SYNDICATE_MASTODON_TOKEN", "super-secret-token-789")
    cfg = parse_config(BASE, "f.yaml", environ={})
    dump = cfg.dump()
    assert "super-secret-token-789" not in dump
    assert "<redacted, from env SYNDICATE_MASTODON_TOKEN>" in dump


def test_state_path_from_environment():
    cfg = parse_config(BASE, "f.yaml", environ={"SYNDICATE_STATE": "/tmp/x.db"})
    assert str(cfg.state) == "/tmp/x.db"


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_templates_are_validated_with_line_numbers():
    text = BASE + "    template: \"{title} {linkk} {date}\"\n"
    [line] = problems(text)
    assert line.startswith("f.yaml:8: targets.masto.template:") and "linkk" in line


@pytest.mark.parametrize(("delivery", "wait"), [
    ("{lease: 900}", "max_rate_wait"),  # the old defaults: one in-lease rate wait and the row is gone
    ("{lease: 60, max_rate_wait: 30, max_backoff: 90}", "max_backoff"),
    ("{lease: 60, max_rate_wait: 30, max_backoff: 10}", "timeout"),
])
def test_a_lease_shorter_than_a_wait_it_covers_is_refused(delivery, wait):
    text = f"""feeds: [{{name: f, url: "https://e.org/f"}}]
targets:
  m: {{kind: mastodon, instance: "https://m.example", timeout: 60}}
delivery: {delivery}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, "feeds.yaml", environ={})
    assert "delivery.lease" in str(info.value) and wait in str(info.value)
