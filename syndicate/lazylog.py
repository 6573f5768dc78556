"""A module's logger, got from ``logging`` at its first message: a command that logs nothing
never imports ``logging`` (with traceback, string, weakref: about 2 ms of ``syndicate status``'s
start, on a command whose run takes a few ms).

    log = getLogger("syndicate.store")   # logging is not imported here...
    log.warning("…", extra={…})          # ...but at the first message, and the record is the
                                         # same as ``logging.getLogger("syndicate.store")``'s

The modules that ``status``, ``health`` and ``preview`` import log through one; the rest of the
package (the daemon's side) uses ``logging`` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

__all__ = ["LazyLogger", "getLogger"]


class LazyLogger:
    """``logging.getLogger(name)``'s ``debug`` … ``exception``, the real logger made when first
    used; each record names its caller (``stacklevel``), as the real logger's would."""

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    @property
    def logger(self) -> logging.Logger:
        if self._logger is None:
            import logging

            self._logger = logging.getLogger(self.name)
        return self._logger

    def debug(self, msg: str, *args: object, extra: Mapping[str, object] | None = None,
              exc_info: bool = False) -> None:
        self.logger.debug(msg, *args, extra=extra, exc_info=exc_info, stacklevel=2)

    def info(self, msg: str, *args: object, extra: Mapping[str, object] | None = None,
             exc_info: bool = False) -> None:
        self.logger.info(msg, *args, extra=extra, exc_info=exc_info, stacklevel=2)

    def warning(self, msg: str, *args: object, extra: Mapping[str, object] | None = None,
                exc_info: bool = False) -> None:
        self.logger.warning(msg, *args, extra=extra, exc_info=exc_info, stacklevel=2)

    def error(self, msg: str, *args: object, extra: Mapping[str, object] | None = None,
              exc_info: bool = False) -> None:
        self.logger.error(msg, *args, extra=extra, exc_info=exc_info, stacklevel=2)

    def exception(self, msg: str, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self.logger.exception(msg, *args, extra=extra, stacklevel=2)


def getLogger(name: str) -> LazyLogger:
    """The logger ``name``, made at its first message."""
    return LazyLogger(name)
