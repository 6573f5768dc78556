"""The fast path of reading feeds.yaml: the block YAML configs are written in, without PyYAML.

``read(text)`` returns what ``yaml.safe_load(text)`` would, or ``REFUSED`` when the document
is not one it fully understands; the caller then gives the whole document to PyYAML (whose
import, its big unicode regex and its resolvers cost more than the rest of a light command's
start).  It takes only:

- printable text without tabs, carriage returns, a BOM, directives (``%``) or document
  markers (``---``, ``...``), made of lines each of which is blank, a comment, a
  ``key: value`` or ``key:`` of a block mapping, or a ``- item`` of a block sequence
  (``- key: value`` opens a mapping in the item; a sequence may sit at its key's indent);
- every block at one indent, each line exactly at its block's (a value never continues
  on the next line: no multi-line plain or quoted scalars, no ``|`` / ``>`` block scalars);
- plain keys; as values, plain scalars, single-quoted ones, double-quoted ones whose
  only escapes are ``\\\\ \\" \\/ \\n \\t``, and one-line flow collections of those
  (``[80, 443]``, ``{categories: [Internal]}``) with plain keys;
- plain scalars PyYAML's YAML 1.1 resolver would read in a way this is sure of: decimal
  ints, ``1.5``-style floats, its eighteen bools (``yes``, ``On``, ``FALSE``, …), ``null``
  / ``~`` / nothing, and strings that no resolver can match (a letter first, or a digit
  first and a character no number or timestamp has, as in ``15m``).  Anything else that
  starts like a number, a timestamp, ``.inf``, ``<<``, an anchor, alias or tag is refused.

A repeated key keeps its first place and its last value, as PyYAML's constructor does.
``tests/test_config_yaml_subset.py`` holds the two to the same data over every config the
repository has and a Hypothesis corpus of config-shaped documents.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["REFUSED", "read"]


class _Refused(Exception):
    """The document is not one this reader fully understands."""


REFUSED: Final = object()  # the answer "not mine": the caller reads the document with PyYAML

_BOOLS: Final = {w: v for v, words in ((True, "yes true on"), (False, "no false off"))
                 for word in words.split() for w in (word, word.capitalize(), word.upper())}
_NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]+")
_NUMERIC: Final = frozenset("0123456789_.:+-eEtTZ ")  # every character a number or timestamp may hold
_PLAIN_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/_$(")
_ESCAPES: Final = {"\\": "\\", '"': '"', "/": "/", "n": "\n", "t": "\t"}
_BREAKS: Final = frozenset("\x85\u2028\u2029\ufeff\ufffe\uffff")


def _plain(text: str) -> Any:
    """A plain scalar's value as PyYAML's resolver and safe constructor give it."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    first = text[0]
    if first in "+-0123456789":
        if _INT.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
        if first in "+-" or text.startswith(("0x", "0b")) or (
                text.count(".") < 2 and all(ch in _NUMERIC for ch in text)):  # no number has two dots
            raise _Refused  # 0x1F, 1_000, 010, 1:30, 1e3, 2024-01-01, …
    elif first == "~" or (first not in _PLAIN_START and first < "\xa0"):
        raise _Refused
    return text


def _quoted(line: str, start: int) -> tuple[str, int]:
    """The quoted scalar at ``line[start]`` and the index after its closing quote."""
    quote, i = line[start], start + 1
    out: list[str] = []
    while i < len(line):
        ch = line[i]
        if ch == quote:
            if quote == "'" and line.startswith("'", i + 1):
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        if ch == "\\" and quote == '"':
            if line[i + 1:i + 2] not in _ESCAPES:
                raise _Refused
            out.append(_ESCAPES[line[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise _Refused  # a quoted scalar going on to the next line


def _flow(line: str, i: int) -> tuple[Any, int]:
    """The flow node (collection or scalar) at ``line[i]`` and the index after it."""
    while line.startswith(" ", i):
        i += 1
    ch = line[i:i + 1]
    if ch in ("'", '"'):
        return _quoted(line, i)
    if ch in ("[", "{"):
        close, i = "]" if ch == "[" else "}", i + 1
        items: list[Any] = []
        entries: dict[Any, Any] = {}
        while True:
            while line.startswith(" ", i):
                i += 1
            if line.startswith(close, i):
                return (items if close == "]" else entries), i + 1
            value, i = _flow(line, i)
            if close == "}":
                if not isinstance(value, str | int | float | bool) or not line.startswith(": ", i):
                    raise _Refused  # a quoted or odd key, or a key without a value
                entries[value], i = _flow(line, i + 2)
            else:
                items.append(value)
            while line.startswith(" ", i):
                i += 1
            if line.startswith(",", i):
                i += 1
            elif not line.startswith(close, i):
                raise _Refused
    j = i
    while j < len(line) and line[j] not in ",[]{}#" and not (
            line[j] == ":" and line[j + 1:j + 2] in " ,[]{}"):
        j += 1  # a flow plain scalar ends at an indicator, or a ':' before a space, one or the line's end
    if j < len(line) and line[j] in "[{#":
        raise _Refused
    text = line[i:j].rstrip(" ")
    if not text or ": " in text:
        raise _Refused
    return _plain(text), j


def _value(text: str) -> Any:
    """A value written on its key's (or its ``-``'s) line: ``text`` is stripped and not empty."""
    if text[0] in "'\"[{":
        value, end = _flow(text, 0)
        rest = text[end:]
        if rest and not (rest[0] == " " and rest.lstrip(" ").startswith("#")):
            raise _Refused  # something after the scalar or the collection
        return value
    cut = text.find(" #")
    if cut >= 0:
        text = text[:cut].rstrip(" ")
    if ": " in text or text.endswith(":"):
        raise _Refused  # PyYAML: "mapping values are not allowed here"
    return _plain(text)


def _key_split(content: str) -> tuple[str, str] | None:
    """``key: rest`` → (key, rest stripped); None when the content is no mapping entry."""
    at = content.find(": ")
    if at < 0:
        if not content.endswith(":"):
            return None
        at = len(content) - 1
    key, rest = content[:at].rstrip(" "), content[at + 1:].strip(" ")
    if not key or key[0] in "'\"[{?-!&*|>%@`#" or " #" in key:
        raise _Refused
    return key, rest


class _Reader:
    """One document's lines, (indent, content) each, read block by block."""

    def __init__(self, text: str) -> None:
        self.lines: list[tuple[int, str]] = []
        for raw in text.split("\n"):
            content = raw.lstrip(" ")
            if content and not content.startswith("#"):
                if raw.startswith(("---", "...", "%")):
                    raise _Refused
                self.lines.append((len(raw) - len(content), content.rstrip(" ")))
        self.at = 0

    def indent(self) -> int:
        return self.lines[self.at][0] if self.at < len(self.lines) else -1

    def is_item(self) -> bool:
        content = self.lines[self.at][1]
        return content == "-" or content.startswith("- ")

    def block(self, indent: int) -> Any:
        return self.sequence(indent) if self.is_item() else self.mapping(indent, self.lines[self.at][1])

    def nested(self, indent: int, *, in_mapping: bool) -> Any:
        """The value on the lines after an entry at ``indent`` with nothing after its ``:`` or ``-``."""
        below = self.indent()
        if below > indent:
            return self.block(below)
        if in_mapping and below == indent and self.is_item():
            return self.sequence(indent)  # a sequence at its key's indent
        return None

    def mapping(self, indent: int, first: str) -> dict[Any, Any]:
        """The block mapping at ``indent``, its first entry ``first`` (on the current line)."""
        out: dict[Any, Any] = {}
        content = first
        while True:
            split = _key_split(content)
            if split is None:
                raise _Refused
            key = _plain(split[0])
            self.at += 1
            if split[1] and not split[1].startswith("#"):
                out[key] = _value(split[1])
            else:
                out[key] = self.nested(indent, in_mapping=True)
            below = self.indent()
            if below < indent:
                return out
            if below > indent:
                raise _Refused  # a value going on to the next line, or an odd indent
            content = self.lines[self.at][1]

    def sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while self.indent() == indent and self.is_item():
            content = self.lines[self.at][1]
            item = content[1:].lstrip(" ")
            column = indent + len(content) - len(item)
            if not item or item.startswith("#"):
                self.at += 1
                out.append(self.nested(indent, in_mapping=False))
            elif item[0] not in "'\"[{" and _key_split(item) is not None:
                out.append(self.mapping(column, item))
            else:
                self.at += 1
                out.append(_value(item))
        if self.indent() > indent:
            raise _Refused  # a value going on to the next line, or an odd indent
        return out


def read(text: str) -> Any:
    """``yaml.safe_load(text)``, or ``REFUSED`` (see the module docstring)."""
    if _unprintable(text):
        return REFUSED
    try:
        reader = _Reader(text)
        if not reader.lines:
            return None
        data = reader.block(reader.indent())
        if reader.at != len(reader.lines):
            raise _Refused
        return data
    except (_Refused, IndexError, RecursionError, ValueError):  # ValueError: int() of 5000 digits
        return REFUSED


def _unprintable(text: str) -> bool:
    """A tab, a carriage return, a character PyYAML refuses, or one it reads as a break or a BOM."""
    return any((ch < " " and ch != "\n") or "\x7f" <= ch < "\xa0" or "\ud800" <= ch <= "\udfff"
               or ch in _BREAKS for ch in set(text))
