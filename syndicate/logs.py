"""Logging: one line per event with key=value fields, or JSON lines.

``log.info("delivered", extra={"article": url, "target": "mastodon"})``
renders as::

    2026-11-25T15:40:01Z INFO delivered article=https://… target=mastodon

Every secret the configuration resolved is registered with ``redact()``;
the formatter replaces it wherever it would appear (message, fields,
tracebacks), so a token can never reach a log line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName", "color_message"}
_SECRETS: set[str] = set()


def redact(secret: str) -> None:
    """Never let ``secret`` appear in a log line."""
    if secret and len(secret) >= 4:
        _SECRETS.add(secret)


def scrub(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "<redacted>")
    return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        # Scrub each piece before it is quoted or escaped, so no encoding of a secret slips by.
        parts = [stamp, record.levelname, scrub(record.getMessage())]
        parts += [f"{k}={_quote(scrub(str(v)))}" for k, v in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + scrub(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "event": scrub(record.getMessage()),
        }
        data.update({k: v if isinstance(v, int | float | bool) or v is None else scrub(str(v))
                     for k, v in _fields(record).items()})
        if record.exc_info:
            data["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


def setup_logging(fmt: str = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Configure the root logger once (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_syndicate", False):
            root.removeHandler(old)
    handler._syndicate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "urllib3", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
