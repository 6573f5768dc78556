"""The post template: its grammar, and rendering it without blank runs.  Pure.

A template is ``str.format`` text using only the names in ``FIELDS`` (no
positional fields, format specs or conversions); it must carry ``{title}``,
``{link}`` and ``{date}`` or ``{first_published}``.  ``validate_template``
says in one line what is wrong with one (``config`` checks every template
in feeds.yaml with it).

A field with no value leaves nothing behind: the lines are right-stripped,
there is no leading or trailing blank line and never two blank lines in a
row.  ``render_parts`` gives the rendered text as the pieces it is made of,
each with the field it came from, so a platform can place rich-text spans
(Bluesky's facets) on them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from functools import lru_cache

__all__ = ["DEFAULT_TEMPLATE", "FIELDS", "MINIMAL_TEMPLATE", "Part", "render", "render_parts",
           "validate_template"]

#: Every field a template may use.
FIELDS: tuple[str, ...] = (
    "title",  # the article's title
    "standfirst",  # the lead paragraph (shortened to fit)
    "author",  # "Ian Parker" or ""
    "by_author",  # " by Ian Parker" or ""
    "dash_author",  # " — Ian Parker" or ""
    "date",  # original publication date: "13 October 2022"
    "source",  # original source name for a repost, else ""
    "first_published",  # "First published 13 October 2022" [+ " in Red Pepper"]
    "link",  # the article's canonical link (never cut)
    "hashtags",  # "#Communism #Stalinism" or ""
    "intro",  # the editor's intro line for a manual repost, or ""
)

DEFAULT_TEMPLATE = (
    "{intro}\n\n{title}{dash_author}\n\n{standfirst}\n\n{first_published}\n{link}\n{hashtags}"
)
#: The fallback when the configured template cannot fit, its title shortened as far as its words allow.
MINIMAL_TEMPLATE = "{title}\n{date}\n{link}"

#: A piece of rendered text: ``(field, text)``, with ``field`` None for the template's own words.
Part = tuple[str | None, str]

_FORMATTER = string.Formatter()
_SENTINEL_BASE = 0xF0000  # Supplementary Private Use Area-A: one code point per field
_SENTINELS = re.compile(r"([\U000F0000-\U000F00FF])")  # (re, not regex: config checks templates)


@lru_cache(maxsize=128)
def _parse(template: str) -> tuple[tuple[str, str | None], ...]:
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"template: {exc} (write {{{{ or }}}} for a literal brace)") from None
    if _SENTINELS.search(template):
        raise ValueError("template: contains a private-use character U+F0000..U+F00FF (reserved)")
    known = ", ".join("{" + f + "}" for f in FIELDS)
    out: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            out.append((literal, None))
            continue
        if name == "" or name.isdigit():
            raise ValueError(
                f"template: positional field {{{name}}} is not allowed; use a named field ({known})"
            )
        if name not in FIELDS:
            import difflib  # only to say what was meant

            close = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            raise ValueError(f"template: unknown field {{{name}}}{hint}; known fields: {known}")
        if spec or conversion:
            raise ValueError(
                f"template: field {{{name}}} may not have a format spec or conversion "
                "(write it as {" + name + "})"
            )
        out.append((literal, name))
    names = {n for _, n in out if n}
    for required, what in (("title", "the title"), ("link", "the link")):
        if required not in names:
            raise ValueError(f"template: must contain {{{required}}} (every post carries {what})")
    if not names & {"date", "first_published"}:
        raise ValueError(
            "template: must contain {date} or {first_published} "
            "(every post carries the original publication date)"
        )
    return tuple(out)


def validate_template(template: str) -> None:
    """Raise ``ValueError`` with a one-line reason when ``template`` is unusable.

    A template is ``str.format`` text using only the names in ``FIELDS``
    (no positional fields, format specs or conversions), and it must contain
    ``{title}``, ``{link}`` and ``{date}`` or ``{first_published}``.
    """
    _parse(template)


@lru_cache(maxsize=512)
def _layout(template: str, present: frozenset[str]) -> tuple[tuple[bool, str], ...]:
    """The template as (is_field, literal-or-field-name) parts, with the blank
    lines and trailing spaces that the empty fields leave already removed."""
    skeleton = []
    for literal, name in _parse(template):
        skeleton.append(literal)
        if name is not None and name in present:
            skeleton.append(chr(_SENTINEL_BASE + FIELDS.index(name)))
    lines: list[str] = []
    for line in "".join(skeleton).split("\n"):
        line = line.rstrip()
        if not line and (not lines or not lines[-1]):
            continue  # no leading blank line, never two blank lines in a row
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    parts: list[tuple[bool, str]] = []
    for piece in _SENTINELS.split("\n".join(lines)):
        if len(piece) == 1 and _SENTINEL_BASE <= ord(piece) < _SENTINEL_BASE + len(FIELDS):
            parts.append((True, FIELDS[ord(piece) - _SENTINEL_BASE]))
        elif piece:
            parts.append((False, piece))
    return tuple(parts)


def _present(values: Mapping[str, str]) -> frozenset[str]:
    return frozenset(k for k, v in values.items() if v)


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` filled with ``values`` (every field in it must have one, "" for none)."""
    return "".join(values[t] if is_field else t for is_field, t in _layout(template, _present(values)))


def render_parts(template: str, values: Mapping[str, str]) -> tuple[Part, ...]:
    """What ``render`` makes, as its pieces: ``"".join(text for _, text in parts)`` is the text."""
    return tuple((t, values[t]) if is_field else (None, t)
                 for is_field, t in _layout(template, _present(values)))
