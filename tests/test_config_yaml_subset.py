"""``config.yaml_subset`` against ``yaml.safe_load``: the same data, or a fallback to PyYAML.

Every config the repository has (feeds.yaml, the YAML blocks of the README and docs/, the
configs the tests and benchmarks write) and a Hypothesis corpus of config-shaped documents
are read both ways; where the fast reader answers, its answer is PyYAML's, value and type
(``True`` is not ``1``), and where PyYAML refuses a document, the fast reader refuses it
too (so PyYAML reports the error, as it always has).  The plain configs are read fast, and a
config error names the same line either way.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.config import loading, parse_config, yaml_subset
from syndicate.config.yaml_subset import REFUSED
from syndicate.errors import ConfigError
from tests.test_config import BASE

ROOT = Path(__file__).resolve().parent.parent


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (and dicts in the same order)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _check(text: str) -> Any:
    """The fast reader's answer for ``text``, having checked it against PyYAML's."""
    fast = yaml_subset.read(text)
    try:
        slow = yaml.safe_load(text)
    except yaml.YAMLError:
        assert fast is REFUSED, f"PyYAML refuses {text!r}, the fast reader read {fast!r}"
        return fast
    assert fast is REFUSED or _same(fast, slow), f"{text!r}: fast {fast!r}, PyYAML {slow!r}"
    return fast


def _yaml_blocks() -> list[tuple[str, str]]:
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for n, match in enumerate(re.finditer(r"^( *)```ya?ml\n(.*?)^\1```", text, re.M | re.S)):
            indent = len(match.group(1))
            block = "".join(line[indent:] for line in match.group(2).splitlines(keepends=True))
            out.append((f"{path.name}#{n}", block))
    return out


def _written_configs() -> list[tuple[str, str]]:
    """Every string literal in tests/ and bench/ holding ``feeds:`` (an f-string's fields filled)."""
    out = []
    for path in sorted([*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                text = "".join(part.value if isinstance(part, ast.Constant) else "/tmp/x1"
                               for part in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = re.sub(r"\{[a-z_]+\}", "/tmp/x1", node.value)  # a str.format template's fields
            else:
                continue
            if "feeds:" in text:
                out.append((f"{path.relative_to(ROOT)}:{node.lineno}", text))
    return out


def test_feeds_yaml_is_read_fast_and_as_pyyaml_reads_it():
    text = (ROOT / "feeds.yaml").read_text(encoding="utf-8")
    assert _check(text) is not REFUSED


@pytest.mark.parametrize(("where", "text"), _yaml_blocks())
def test_the_docs_yaml_blocks(where, text):
    _check(text)


def test_the_docs_have_yaml_blocks_and_most_are_read_fast():
    blocks = _yaml_blocks()
    assert len(blocks) >= 3
    assert sum(yaml_subset.read(text) is not REFUSED for _, text in blocks) >= 2


def test_the_configs_the_tests_and_benchmarks_write():
    configs = _written_configs()
    assert len(configs) > 50
    fast = sum(_check(text) is not REFUSED for _, text in configs)
    assert fast > len(configs) // 2  # the common case is the fast one


def test_the_benchmarks_config_is_read_fast(tmp_path):
    from bench.common import write_config

    path = write_config(tmp_path / "feeds.yaml", state=tmp_path / "s.db",
                        feeds=[("a", "https://a.example/feed"), ("b", "http://127.0.0.1:8080/f")])
    assert _check(path.read_text()) is not REFUSED


TRICKY = ["yes", "No", "ON", "off", "y", "n", "Y", "true", "False", "TRUE", "tRUE", "null", "Null", "~",
          "", "0", "-0", "+5", "12", "007", "010", "0o17", "0x1F", "0b101", "1_000", "1:30", "190:20:30",
          "1.5", "-1.5", "1.", ".5", "1e3", "1.0e+3", "6.8523015e+5", ".inf", "-.Inf", ".nan", "2024-01-01",
          "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43", "<<", "=", "!!str x", "!x y", "&a x",
          "*a", "@x", "`x", "%x", "?x", "? x", ":x", "-x", "- x", "15m", "1h", "1d", "90s", "127.0.0.1",
          "22:00-07:00", "https://example.org/a?b=c#d", "a #b", "a#b", "a: b", "a:b", "a:", "'q'", "'q''s'",
          "'q", '"d"', '"d\\"e"', '"\\x41"', '"\\u00e9"', '"a\\tb"', "[a, b]", "[a, [b]]", "[]", "{}",
          "{a: 1}", "{a: [1, 2], b: x}", "[a: 1]", "[a,]", "[,]", "{a}", "|", ">-", "x]", "a, b", "é",
          "Anti*Capitalist — x", "\xa0x", "a\xa0", "(x)", "$x", "/p", "_x", "--", "---", "...", "#"]


@pytest.mark.parametrize("scalar", TRICKY)
def test_a_tricky_scalar_is_read_as_pyyaml_reads_it_or_refused(scalar):
    for text in (f"a: {scalar}\n", f"{scalar}: 1\n", f"- {scalar}\n", f"a: [{scalar}]\n",
                 f"a: {{k: {scalar}}}\n", f"a:\n  - x: {scalar}\n    y: 2\n"):
        _check(text)


@pytest.mark.parametrize("scalar", ["2024-01-01", "1:30", "0x1F", "010", "1_000", "!!str x", "&a x", "*a",
                                    ".inf", "<<", "1e3", "|", ">"])
def test_what_pyyaml_reads_as_a_date_number_or_node_property_is_left_to_it(scalar):
    assert yaml_subset.read(f"a: {scalar}\n") is REFUSED


def test_anchors_and_aliases_are_left_to_pyyaml():
    assert yaml_subset.read("a: &x 1\nb: *x\n") is REFUSED
    assert yaml_subset.read("base: &b\n  k: 1\nother:\n  <<: *b\n") is REFUSED


@pytest.mark.parametrize(("scalar", "value"), [
    ("15m", "15m"), ("90", 90), ("1.5", 1.5), ("true", True), ("yes", True), ("Off", False), ("~", None),
    ("", None), ("127.0.0.1", "127.0.0.1"), ("https://e.org/f?a=1#x", "https://e.org/f?a=1#x"),
    ("-1", -1), ("-2.5", -2.5), ("'010'", "010"), ("'it''s'", "it's"), ("'a: #b'", "a: #b"), ('"a \\"b\\""', 'a "b"'), ("[80, 443]", [80, 443]), ("y", "y"), ("0o17", "0o17")])
def test_the_plain_forms_are_read_fast(scalar, value):
    assert _same(_check(f"a: {scalar}\n"), {"a": value})


def test_a_repeated_key_keeps_its_first_place_and_its_last_value_as_pyyaml_does():
    data = _check("a: 1\nb: 2\na: 3\n")
    assert _same(data, {"a": 3, "b": 2})
    assert _same(_check("feeds:\n  - name: x\n    url: u\n    name: y\n"), {"feeds": [{"name": "y", "url": "u"}]})


@pytest.mark.parametrize("text", [
    "a:\n  b: 1\n c: 2\n",          # an odd indent
    "a: 1\n  b: 2\n",               # more indented after a scalar
    "a: b\n  c\n",                  # a multi-line plain scalar
    "a: 'x\n  y'\n",                # a multi-line quoted scalar
    "a: [1,\n  2]\n",               # a multi-line flow sequence
    "a:\n\t- x\n",                  # a tab
    "a: 1\r\nb: 2\r\n",             # carriage returns
    "--- \na: 1\n",                 # a document marker
    "%YAML 1.1\n---\na: 1\n",       # a directive
    "a: 1\n---\nb: 2\n",            # two documents
    "a: b: c\n",                    # PyYAML: mapping values are not allowed here
    "- a\nb: 1\n",                  # a sequence, then a key
    "a:\n- x\n b: 1\n",
    "? a\n: b\n",                   # a complex key
    "a: |\n  text\n",               # a block scalar
    "'a': 1\n",                     # a quoted key in block context
    "a: 'x' y\n",                   # something after a quoted scalar
    "a: \"\\x41\"\n",                # an escape it does not read
])
def test_what_it_does_not_fully_understand_is_left_to_pyyaml(text):
    assert yaml_subset.read(text) is REFUSED
    _check(text)


# -- a Hypothesis corpus of config-shaped documents -----------------------------------------

_WORDS = st.sampled_from(["name", "url", "feeds", "targets", "kind", "a", "b", "x_y", "k1", "yes", "on", "1",
                          "null", "~", "1.5", "2024-01-01", "<<", "a b", "a:b", "é", "-x", ".x"])
_TEXT = st.text(alphabet="ab09 :#-'\"_./,[]{}!&*~é\\\xa0|>%@?=", max_size=12)
_SAFE = st.sampled_from(["acr", "https://example.org/feed/", "15m", "0", "-1", "3", "2.5", "true", "no", "",
                         "Anti*Capitalist — x", "a, b", "a#b", "127.0.0.1", "en", "/tmp/s.db", "x: y"])
_SCALAR = st.one_of(_SAFE, _SAFE, st.sampled_from(TRICKY), _TEXT, _WORDS)


def _render_scalar(draw: st.DrawFn) -> str:
    text = draw(_SCALAR)
    style = draw(st.sampled_from(["plain", "plain", "single", "double"]))
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    if style == "double":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _comment(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", "", "", "  # c", " #: x", "#c"]))


@st.composite
def _block(draw: st.DrawFn, indent: int = 0, depth: int = 0) -> list[str]:
    """A block mapping or sequence as lines, at ``indent``."""
    step = draw(st.sampled_from([2, 2, 4, 1, 3]))
    lines: list[str] = []
    pad = " " * indent
    if draw(st.booleans()) or depth > 2:  # a mapping
        for _ in range(draw(st.integers(1, 4))):
            key = draw(_WORDS)
            kind = draw(st.sampled_from(["scalar", "scalar", "flow", "nested", "empty"]))
            if kind == "nested" and depth < 3:
                lines.append(f"{pad}{key}:{_comment(draw)}")
                inner = indent + step if draw(st.integers(0, 4)) else indent  # a sequence at its key's indent
                sub = draw(_block(inner, depth + 1))
                if inner == indent and not sub[0].lstrip().startswith("-"):
                    sub = draw(_block(indent + step, depth + 1))
                lines += sub
            elif kind == "flow":
                items = [_render_scalar(draw) for _ in range(draw(st.integers(0, 3)))]
                flow = (f"[{', '.join(items)}]" if draw(st.booleans())
                        else "{" + ", ".join(f"k{n}: {item}" for n, item in enumerate(items)) + "}")
                lines.append(f"{pad}{key}: {flow}{_comment(draw)}")
            elif kind == "empty":
                lines.append(f"{pad}{key}:{_comment(draw)}")
            else:
                lines.append(f"{pad}{key}: {_render_scalar(draw)}{_comment(draw)}")
            if draw(st.integers(0, 5)) == 0:
                lines.append(draw(st.sampled_from(["", "# a comment", "      # far", "  "])))
    else:  # a sequence, of mappings or of scalars
        for _ in range(draw(st.integers(1, 3))):
            sub = draw(_block(indent + 2, depth + 1)) if depth < 3 else []
            if draw(st.booleans()) and sub and not sub[0].lstrip().startswith("-"):  # a mapping in the item
                first = sub[0][indent + 2:]
                lines.append(f"{pad}- {first}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {_render_scalar(draw)}{_comment(draw)}")
    return lines


@st.composite
def _document(draw: st.DrawFn) -> str:
    lines = draw(_block())
    if draw(st.integers(0, 3)) == 0:  # a mutation: PyYAML may read it another way, or refuse it
        at = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["indent", "dedent", "join", "drop"]))
        if how == "indent":
            lines[at] = " " + lines[at]
        elif how == "dedent" and lines[at].startswith(" "):
            lines[at] = lines[at][1:]
        elif how == "join" and at + 1 < len(lines):
            lines[at:at + 2] = [lines[at] + " " + lines[at + 1].lstrip()]
        elif how == "drop":
            del lines[at]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_document())
def test_a_config_shaped_document_is_read_as_pyyaml_reads_it_or_refused(text):
    _check(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab1 :-#'\"[]{},\n.~", max_size=40))
def test_any_short_text_is_read_as_pyyaml_reads_it_or_refused(text):
    _check(text)


# -- errors: the same messages and lines as before ------------------------------------------

BAD = [
    BASE + "    visibility: loud\n",
    BASE.replace("    url: https://example.org/feed/\n", "    url: https://example.org/feed/\n    colour: red\n"),
    BASE.replace("    url: https://example.org/feed/\n", ""),
    BASE + "poll_interval: soon\n",
    BASE.replace("kind: mastodon", "kind: myspace"),
    BASE.replace("https://example.org/feed/", "https://example.org/feed/\n    targets: [bsky]"),
    BASE + "output:\n  max_items: many\nlog:\n  level: LOUD\n",
]


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "f.yaml", environ={})
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("text", BAD)
def test_a_config_error_names_the_same_line_read_fast_or_by_pyyaml(text, monkeypatch):
    assert yaml_subset.read(text) is not REFUSED  # read fast
    fast = _problems(text)
    assert all(re.match(r"f\.yaml:\d+: ", line) for line in fast), fast
    monkeypatch.setattr(yaml_subset, "read", lambda text: REFUSED)
    assert _problems(text) == fast


def test_a_syntax_error_is_pyyaml_s_with_its_line():
    text = BASE + "  bad: [1,\n"
    assert yaml_subset.read(text) is REFUSED
    [line] = _problems(text)
    assert line.startswith("f.yaml:9: invalid YAML")


def test_a_valid_config_read_fast_does_not_compose_with_pyyaml(monkeypatch):
    def refuse(text: str) -> None:
        raise AssertionError("PyYAML read a config the fast reader reads")

    monkeypatch.setattr(loading, "_read_yaml", refuse)
    cfg = parse_config(BASE, "f.yaml", environ={})
    assert cfg.feeds[0].name == "acr"
