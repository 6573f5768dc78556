"""The ``syndicate`` command in-process: ``invoke(["--config", path, "status"])``.

``main(argv)`` runs with stdout and stderr captured (``stdout``, ``stderr``, and ``output``: both,
interleaved as a terminal shows them), stdin read from ``input``, and the environment changed by
``env`` for the call only (a value of None unsets the variable).  Exceptions other than SystemExit
propagate: a test sees a command's crash as a crash.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping, Sequence

from syndicate.cli import main


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str, output: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.output = output

    def __repr__(self) -> str:
        return f"<Result exit {self.exit_code}: {self.output!r}>"


class _Stream(io.StringIO):
    """One of the two streams, which also writes into the terminal's view of both."""

    def __init__(self, both: io.StringIO) -> None:
        super().__init__()
        self.both = both

    def write(self, text: str) -> int:
        self.both.write(text)
        return super().write(text)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message"): the message on stderr, status 1
    return 1


def invoke(args: Sequence[str], *, input: str | None = None,
           env: Mapping[str, str | None] | None = None) -> Result:
    both = io.StringIO()
    out, err = _Stream(both), _Stream(both)
    saved_env = {name: os.environ.get(name) for name in env or {}}
    saved = sys.stdin, sys.stdout, sys.stderr
    for name, value in (env or {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(input or ""), out, err
    try:
        try:
            main(list(args))
        except SystemExit as exc:
            code = _exit_code(exc.code)
        else:
            code = 0
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return Result(code, out.getvalue(), err.getvalue(), both.getvalue())
