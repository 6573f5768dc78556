"""tests/servers/feeds.FeedServer in its own process, steered over stdin.

The benchmarks measure the CPU time of *our* process; a feed server in a
thread of that process would add its own CPU time (and fight for the GIL),
so it runs here instead::

    python -m bench.feedserver          # prints http://127.0.0.1:PORT, then reads commands

Commands, one JSON object a line, each answered with one line ``ok`` (or
``error: ...``): ``{"set": "/path", "file": "/tmp/x.rss"}`` serves a file's
bytes with an ETag (so a repeat request gets 304); ``{"count": true}``
answers the number of requests seen so far.  End of stdin stops the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.servers.feeds import FeedServer

    with FeedServer() as server:
        print(server.url(""), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                cmd = json.loads(line)
                if "set" in cmd:
                    if cmd.get("validators", True):
                        server.set_feed(cmd["set"], Path(cmd["file"]).read_bytes())
                    else:  # no ETag, no Last-Modified: every GET is a 200 with the whole body
                        server.set_feed(cmd["set"], Path(cmd["file"]).read_bytes(), etag=None,
                                        last_modified=None)
                    answer = "ok"
                elif "count" in cmd:
                    answer = str(len(server.requests))
                else:
                    answer = "error: unknown command"
            except Exception as exc:  # report, keep serving
                answer = f"error: {type(exc).__name__}: {exc}"
            print(answer, flush=True)
    return 0


class FeedServerProcess:
    """The parent's handle: ``set_feed(path, file)``, ``url(path)``, ``close()``."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.feedserver"], cwd=ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if not first.startswith("http://"):
            self.close()
            raise RuntimeError(f"feed server did not start: {first!r}")
        self.base = first.rstrip("/")

    def _ask(self, cmd: dict) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer.startswith("error") or not answer:
            raise RuntimeError(f"feed server: {answer or 'no answer'}")
        return answer

    def set_feed(self, path: str, file: Path, *, validators: bool = True) -> None:
        self._ask({"set": path, "file": str(file), "validators": validators})

    def request_count(self) -> int:
        return int(self._ask({"count": True}))

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> FeedServerProcess:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
