"""The reference Bluesky PDS (``@atproto/pds``) on a free loopback port, for tests.

::

    with start_pds() as pds:                      # or: pds = start_pds(); ...; pds.stop()
        did, handle = pds.create_account("acrbot.test", "a-password")
        Client(base_url=pds.url) ...

``tests/pds`` holds the npm project (``make test`` runs ``npm ci`` there);
``start_pds`` runs ``node tests/pds/start-pds.js`` with free ports, waits for
its ``READY <url>`` line (bounded), and stops it with SIGTERM, then SIGKILL.
The node process also stops by itself when our end of its stdin closes, so
a test run that dies does not leave a PDS behind.

Used from pytest (``require_pds()`` skips, or fails when ``CI=true``, if the
npm install is missing) and from plain scripts: ``python tests/servers/pds.py``
starts one and prints its URL until interrupted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

PDS_DIR = Path(__file__).resolve().parent.parent / "pds"
START_SCRIPT = PDS_DIR / "start-pds.js"
INSTALL_HINT = "run `make test`, or `cd tests/pds && npm ci && npm rebuild better-sqlite3`"


class PdsUnavailable(RuntimeError):
    """The PDS cannot be started here (npm install or node missing, or it failed)."""


def missing_reason() -> str | None:
    """Why the PDS cannot start on this machine, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (the Bluesky PDS tests need Node 20+)"
    for needed in ("@atproto/pds", "@did-plc/server", "better-sqlite3"):
        if not (PDS_DIR / "node_modules" / needed / "package.json").is_file():
            return f"tests/pds/node_modules/{needed} is missing: {INSTALL_HINT}"
    return None


def require_pds() -> None:
    """In pytest: skip when the PDS cannot run here, but fail under CI=true."""
    import pytest

    reason = missing_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Bluesky PDS unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"Bluesky PDS unavailable: {reason}")


def free_port() -> int:
    """A TCP port that was free on the loopback interface a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PdsHandle:
    """A running PDS; ``url`` is its base URL (``http://localhost:PORT``)."""

    def __init__(self, url: str, plc_url: str, process: subprocess.Popen[bytes], log_path: Path,
                 jwt_secret: str) -> None:
        self.url = url
        self.plc_url = plc_url
        self.process = process
        self.log_path = log_path  # node's stderr
        self.jwt_secret = jwt_secret  # signs the PDS's session tokens (HS256)

    def resign_token(self, token: str, **claims: object) -> str:
        """``token`` (an access or refresh JWT of this PDS) with ``claims`` changed, validly signed.

        For tests of session handling, e.g. an access token that expires in a minute:
        ``pds.resign_token(access, exp=int(time.time()) + 60)``.
        """
        header, payload, _ = token.split(".")
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        body.update(claims)
        encoded = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=")
        signing_input = header.encode() + b"." + encoded
        signature = hmac.new(self.jwt_secret.encode(), signing_input, hashlib.sha256).digest()
        return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()

    # -- accounts --

    def create_account(self, handle: str | None = None, password: str | None = None) -> tuple[str, str]:
        """Create an account (``com.atproto.server.createAccount``); return ``(did, handle)``.

        ``handle`` must end in ``.test`` with 3 to 18 characters before it;
        by default a fresh one is made.  The email is always unique.
        """
        handle = handle or f"u{secrets.token_hex(5)}.test"
        password = password or secrets.token_urlsafe(12)
        email = f"{handle.split('.')[0]}-{secrets.token_hex(4)}@example.test"
        resp = httpx.post(
            f"{self.url}/xrpc/com.atproto.server.createAccount",
            json={"handle": handle, "email": email, "password": password},
            timeout=30,
        )
        if resp.status_code != 200:
            raise PdsUnavailable(f"createAccount {handle} answered {resp.status_code}: {resp.text[:300]}")
        body = resp.json()
        return body["did"], body["handle"]

    def list_records(self, repo: str, collection: str = "app.bsky.feed.post") -> list[dict]:
        """Every record of ``collection`` in ``repo`` (``com.atproto.repo.listRecords``)."""
        records: list[dict] = []
        cursor = None
        while True:
            params = {"repo": repo, "collection": collection, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            resp = httpx.get(f"{self.url}/xrpc/com.atproto.repo.listRecords", params=params, timeout=30)
            resp.raise_for_status()
            body = resp.json()
            records.extend(body["records"])
            cursor = body.get("cursor")
            if not cursor or not body["records"]:
                return records

    def get_record(self, repo: str, rkey: str, collection: str = "app.bsky.feed.post") -> dict | None:
        """One record as JSON (``com.atproto.repo.getRecord``), or None when absent."""
        resp = httpx.get(
            f"{self.url}/xrpc/com.atproto.repo.getRecord",
            params={"repo": repo, "collection": collection, "rkey": rkey},
            timeout=30,
        )
        if resp.status_code == 400 and resp.json().get("error") == "RecordNotFound":
            return None
        resp.raise_for_status()
        return resp.json()

    # -- lifetime --

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
        proc = self.process
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stdin:
            proc.stdin.close()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> PdsHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_pds(timeout: float = 60.0, env: Mapping[str, str] | None = None) -> PdsHandle:
    """Start a PLC directory and a PDS on free ports; return once the PDS serves.

    ``env`` adds the PDS's own settings (``{"PDS_RATE_LIMITS_ENABLED": "true"}``).

    Raises ``PdsUnavailable`` when the npm install is missing, node exits, or
    READY does not come within ``timeout`` seconds (with node's stderr tail).
    """
    reason = missing_reason()
    if reason:
        raise PdsUnavailable(reason)
    plc_port, pds_port = free_port(), free_port()
    while pds_port == plc_port:
        pds_port = free_port()
    jwt_secret = secrets.token_hex(16)
    extra = dict(env or {})
    env = dict(os.environ, PLC_PORT=str(plc_port), PDS_PORT=str(pds_port), STOP_ON_STDIN_CLOSE="1",
               PDS_JWT_SECRET=jwt_secret)
    env.pop("LOG_ENABLED", None)  # keep stdout to the READY line
    env.update(extra)
    fd, log_name = tempfile.mkstemp(prefix="pds-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            ["node", str(START_SCRIPT)],
            cwd=PDS_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )

    ready = threading.Event()
    found: list[str] = []
    tail: deque[str] = deque(maxlen=50)

    def drain() -> None:
        # Reads stdout for READY, then keeps draining so node never blocks on a full pipe.
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            tail.append(line)
            if not found and line.startswith("READY "):
                found.append(line.split(" ", 1)[1].strip())
                ready.set()
        ready.set()  # EOF: node exited

    threading.Thread(target=drain, name=f"pds-stdout-{pds_port}", daemon=True).start()
    handle = PdsHandle("", f"http://127.0.0.1:{plc_port}", proc, log_path, jwt_secret)
    if not ready.wait(timeout) or not found:
        handle.stop(timeout=5)
        errors = ""
        try:
            errors = log_path.read_text("utf-8", "replace")[-2000:]
        except OSError:
            pass
        what = "exited" if proc.returncode is not None else f"was not ready within {timeout:.0f}s"
        raise PdsUnavailable(f"the PDS {what}; stdout: {list(tail)!r}; stderr: {errors.strip()!r}")
    handle.url = found[0]
    return handle


if __name__ == "__main__":  # pragma: no cover - manual use
    with start_pds() as pds:
        print(pds.url, flush=True)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    sys.exit(0)
