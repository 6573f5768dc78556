"""What the checker of feeds.yaml's sections is made of (``syndicate.config.check``).

``Issue`` (a key path and what was expected) and ``Invalid`` (the issues of one check); the
marks an ``Annotated`` key carries (``Bounds``, ``MinLen``, ``Match``, ``Before``, ``After``,
``Plain``, ``Tag``); and the checkers of the plain kinds of value: ``str``, ``int``, ``float``,
``bool``, ``Path``, ``Literal``, a list, a dict, ``X | None``.  A checker takes the value, its
key path and the list of issues; it returns the value (coerced where a YAML author plausibly
means it: ``"8080"`` or ``8080.0`` for an int, ``"yes"`` or ``1`` for a bool; never a bool for
a number), or ``BAD`` once it has recorded why not.  The reasons are worded as they were when
pydantic checked feeds.yaml, so every line a user sees stays the same.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Loc = tuple[int | str, ...]
Checker = Callable[[Any, Loc, list["Issue"]], Any]

UNKNOWN_KEY = "unknown key (check the spelling; see feeds.yaml in the README)"
MISSING_KEY = "required key is missing"


class _Bad:
    """What a checker returns for a value it refused (its ``Issue`` already recorded)."""

    __slots__ = ()


BAD: Any = _Bad()


class Issue:
    """One problem: where (``loc``, the key path), and what was expected; ``at``: the key path
    whose line to name, when it is not ``loc`` (a section's wrong ``kind:``)."""

    __slots__ = ("at", "loc", "reason")

    def __init__(self, loc: Loc, reason: str, at: Loc | None = None) -> None:
        self.loc, self.reason, self.at = loc, reason, at

    def __repr__(self) -> str:
        return f"Issue({self.loc!r}, {self.reason!r})"

    @property
    def path(self) -> str:
        """``feeds[0].url``, ``targets.masto.visibility``."""
        out = ""
        for part in self.loc:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else str(part)
        return out


class Invalid(ValueError):
    """The issues found in what was checked, in order."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{i.path}: {i.reason}" if i.path else i.reason for i in issues))


# --- the marks (plain classes: a dataclass apiece would cost more to import than the checks) ----


class Bounds:
    __slots__ = ("ge", "le")

    def __init__(self, ge: int | None = None, le: int | None = None) -> None:
        self.ge, self.le = ge, le


class MinLen:
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


class Match:
    """A string matching ``pattern`` whole; ``reason``: what a string that does not was expected to be."""

    __slots__ = ("pattern", "reason")

    def __init__(self, pattern: str, reason: str) -> None:
        self.pattern, self.reason = pattern, reason


class _Calls:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn


class Before(_Calls):
    """``fn`` turns the value into what the type's check takes (``"15m"`` → ``900.0``)."""

    __slots__ = ()


class After(_Calls):
    """``fn`` checks (or normalises) the value once the type's check took it."""

    __slots__ = ()


class Plain(_Calls):
    """``fn`` is the whole check: it returns the value or raises ``ValueError``."""

    __slots__ = ()


class Tag:
    """The key whose value tells a union's sections apart (each section's ``Literal``)."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


def value_reason(exc: ValueError) -> str:
    """A check's ``ValueError`` as a reason: its text, the first letter lower-cased."""
    msg = str(exc)
    return msg[0].lower() + msg[1:] if msg else "value_error"


def limit(mark: Bounds | MinLen | Match) -> Callable[[Any], str | None]:
    if isinstance(mark, Bounds):
        ge, le = mark.ge, mark.le

        def bounds(value: Any) -> str | None:
            if ge is not None and value < ge:
                return f"input should be greater than or equal to {ge}"
            if le is not None and value > le:
                return f"input should be less than or equal to {le}"
            return None

        return bounds
    if isinstance(mark, MinLen):
        n = mark.n

        def min_len(value: Any) -> str | None:
            if len(value) >= n:
                return None
            if isinstance(value, str):
                return f"string should have at least {n} character{'s' if n != 1 else ''}"
            items = f"{n} item{'s' if n != 1 else ''}"
            return f"list should have at least {items} after validation, not {len(value)}"

        return min_len
    fullmatch, reason = re.compile(mark.pattern).fullmatch, mark.reason
    return lambda value: None if fullmatch(value) else reason


def part(key: Any) -> int | str:
    """A mapping's key as a part of a key path: a string or an int as it is (a bool as its int),
    anything else (a date, written unquoted) as its repr."""
    if isinstance(key, str):
        return key
    return int(key) if isinstance(key, int) else repr(key)


def calling(fn: Callable[[Any], Any]) -> Checker:
    def plain(value: Any, loc: Loc, issues: list[Issue]) -> Any:
        try:
            return fn(value)
        except ValueError as exc:
            issues.append(Issue(loc, value_reason(exc)))
            return BAD

    return plain


def nullable(check: Checker) -> Checker:
    return lambda value, loc, issues: None if value is None else check(value, loc, issues)


def literal(allowed: tuple[Any, ...]) -> Checker:
    shown = [repr(a) for a in allowed]
    reason = "input should be " + (", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0])

    def literal(value: Any, loc: Loc, issues: list[Issue]) -> Any:
        for a in allowed:
            if value == a and type(value) is type(a):
                return a
        issues.append(Issue(loc, reason))
        return BAD

    return literal


def list_of(item: Checker) -> Checker:
    def list_(value: Any, loc: Loc, issues: list[Issue]) -> Any:
        if not isinstance(value, list | tuple | set | frozenset):
            issues.append(Issue(loc, "input should be a valid list"))
            return BAD
        out = [item(v, (*loc, i), issues) for i, v in enumerate(value)]
        return BAD if any(v is BAD for v in out) else out

    return list_


def dict_of(key: Checker, item: Checker) -> Checker:
    def dict_(value: Any, loc: Loc, issues: list[Issue]) -> Any:
        if not isinstance(value, Mapping):
            issues.append(Issue(loc, "input should be a valid dictionary"))
            return BAD
        out, bad = {}, False
        for k, v in value.items():
            at = part(k)
            k2 = key(k, (*loc, at, "[key]"), issues)
            v2 = item(v, (*loc, at), issues)
            bad = bad or k2 is BAD or v2 is BAD
            if not bad:
                out[k2] = v2
        return BAD if bad else out

    return dict_


# --- the simple types ----------------------------------------------------------------------------

_INT_TEXT = re.compile(r"\s*[+-]?\d+(?:_\d+)*(?:\.0*)?\s*")
_BOOLS = {"0": False, "off": False, "f": False, "false": False, "n": False, "no": False,
          "1": True, "on": True, "t": True, "true": True, "y": True, "yes": True}


def _str(value: Any, loc: Loc, issues: list[Issue]) -> Any:
    """A string; YAML's ``!!binary`` too, as its UTF-8 text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            reason = "input should be a valid string, unable to parse raw data as a unicode string"
            issues.append(Issue(loc, reason))
            return BAD
    issues.append(Issue(loc, "input should be a valid string"))
    return BAD


def _int(value: Any, loc: Loc, issues: list[Issue]) -> Any:
    """An int; a float without a fraction (``8080.0``) or digits as text (``"8080"``) too."""
    if isinstance(value, bool):
        reason = "input should be a valid integer"
    elif isinstance(value, int):
        return value
    elif isinstance(value, float):
        if not math.isfinite(value):
            reason = "input should be a finite number"
        elif value.is_integer():
            return int(value)
        else:
            reason = "input should be a valid integer, got a number with a fractional part"
    elif isinstance(value, str):
        if _INT_TEXT.fullmatch(value):
            return int(value.strip().split(".")[0])
        reason = "input should be a valid integer, unable to parse string as an integer"
    else:
        reason = "input should be a valid integer"
    issues.append(Issue(loc, reason))
    return BAD


def _float(value: Any, loc: Loc, issues: list[Issue]) -> Any:
    """A float; an int, or a number as text, too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            issues.append(Issue(loc, "input should be a valid number, unable to parse string as a number"))
            return BAD
    issues.append(Issue(loc, "input should be a valid number"))
    return BAD


def _bool(value: Any, loc: Loc, issues: list[Issue]) -> Any:
    """A bool; ``0`` / ``1`` and ``"yes"``, ``"off"``, ``"true"``, … (any case) too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        found = _BOOLS.get(value.lower())
        if found is not None:
            return found
        reason = "input should be a valid boolean, unable to interpret input"
    elif isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    elif isinstance(value, int):
        reason = "input should be a valid boolean, unable to interpret input"
    else:
        reason = "input should be a valid boolean"
    issues.append(Issue(loc, reason))
    return BAD


def _path(value: Any, loc: Loc, issues: list[Issue]) -> Any:
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value)
    issues.append(Issue(loc, "input is not a valid path for <class 'pathlib.Path'>"))
    return BAD


SIMPLE: dict[Any, Checker] = {str: _str, int: _int, float: _float, bool: _bool, Path: _path}
