"""``syndicate.lazylog``: a logger that imports ``logging`` at its first message, and whose
records are the real logger's (name, level, fields, the caller's line)."""

from __future__ import annotations

import logging
import subprocess
import sys

from syndicate.lazylog import getLogger


def test_a_lazy_logger_logs_as_the_real_one(caplog):
    log = getLogger("syndicate.test_lazylog")
    with caplog.at_level(logging.INFO, logger="syndicate.test_lazylog"):
        log.info("article %s seen", "one", extra={"feed": "acr"})
        log.debug("not shown: below the level")
        line = sys._getframe().f_lineno - 2
    [record] = caplog.records
    assert (record.name, record.levelname, record.getMessage()) == (
        "syndicate.test_lazylog", "INFO", "article one seen")
    assert record.feed == "acr"  # type: ignore[attr-defined]
    # the record names the caller, as logging.getLogger(...).info here would, not lazylog's method
    assert (record.funcName, record.lineno, record.filename) == (
        "test_a_lazy_logger_logs_as_the_real_one", line, "test_lazylog.py")


def test_exception_keeps_the_traceback(caplog):
    log = getLogger("syndicate.test_lazylog")
    with caplog.at_level(logging.ERROR, logger="syndicate.test_lazylog"):
        try:
            raise ValueError("broken")
        except ValueError:
            log.exception("failed")
    [record] = caplog.records
    assert record.levelname == "ERROR" and record.exc_info and record.exc_info[0] is ValueError


def test_logging_is_imported_at_the_first_message_only():
    script = """
import sys
from syndicate.lazylog import getLogger
log = getLogger("syndicate.test")
before = "logging" in sys.modules
log.warning("now")
print(before, "logging" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr
    assert done.stderr.strip() == "now"  # (logging's last resort: no handler was set up)
