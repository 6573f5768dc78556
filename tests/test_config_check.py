"""The checker behind feeds.yaml (``syndicate.config.check``): what pydantic used to do for us.

Coercions a YAML author plausibly means (and none they do not: a bool is not a number), every
problem with its key path and line however deep the section, the target union told apart by
``kind:``, the order several problems come in, and sections built in code checked the same way.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pytest

from syndicate.config import (
    BlueskyTarget,
    Config,
    FeedConfig,
    Invalid,
    MastodonTarget,
    OutputConfig,
    Section,
    parse_config,
)
from syndicate.config.control import FilterConfig, PacingConfig
from syndicate.value import FrozenInstanceError, fields, replace
from tests.test_config import BASE, problems


def feed_with(line: str) -> str:
    return BASE.replace("    url: https://example.org/feed/\n", f"    url: https://example.org/feed/\n    {line}\n")


# --- coercions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", "no", "false"])
def test_a_bool_is_not_an_int(value):
    assert problems(feed_with(f"backfill: {value}")) == ["f.yaml:4: feeds[0].backfill: input should be a valid integer"]
    assert problems(BASE + f"listen: {{port: {value}}}\n") == ["f.yaml:8: listen.port: input should be a valid integer"]


@pytest.mark.parametrize(("written", "read"), [("3", 3), ('"3"', 3), ('" 3 "', 3), ("3.0", 3), ('"3.0"', 3),
                                               ('"1_0"', 10), ('"+3"', 3)])
def test_an_int_may_be_written_as_text_or_a_whole_float(written, read):
    assert parse_config(feed_with(f"backfill: {written}"), environ={}).feeds[0].backfill == read


@pytest.mark.parametrize(("written", "reason"), [
    ("1.5", "input should be a valid integer, got a number with a fractional part"),
    ('"1e3"', "input should be a valid integer, unable to parse string as an integer"),
    ('"three"', "input should be a valid integer, unable to parse string as an integer"),
    (".inf", "input should be a finite number"),
    ("[3]", "input should be a valid integer"),
    ("-1", "input should be greater than or equal to 0"),
])
def test_what_is_not_an_int(written, reason):
    assert problems(feed_with(f"backfill: {written}")) == [f"f.yaml:4: feeds[0].backfill: {reason}"]


@pytest.mark.parametrize(("written", "read"), [("yes", True), ('"yes"', True), ('"On"', True), ("1", True),
                                               ('"f"', False), ("0", False), ("0.0", False), ('"N"', False)])
def test_a_bool_may_be_written_as_yaml_or_text_or_0_and_1(written, read):
    assert parse_config(feed_with(f"force_language: {written}"), environ={}).feeds[0].force_language is read


@pytest.mark.parametrize(("written", "reason"), [
    ("2", "input should be a valid boolean, unable to interpret input"),
    ('"maybe"', "input should be a valid boolean, unable to interpret input"),
    ("0.5", "input should be a valid boolean"),
    ("~", "input should be a valid boolean"),
])
def test_what_is_not_a_bool(written, reason):
    assert problems(feed_with(f"force_language: {written}")) == [f"f.yaml:4: feeds[0].force_language: {reason}"]


def test_text_is_never_made_from_a_number_or_a_bool():
    # `language: no` (Norwegian) is YAML's false: say so rather than post in "False"
    assert problems(feed_with("language: no")) == ["f.yaml:4: feeds[0].language: input should be a valid string"]
    assert problems(feed_with("url: 5")) == ["f.yaml:3: feeds[0].url: input should be a valid string"]


def test_paths_and_durations_are_read_as_their_types():
    cfg = parse_config(BASE + "output: {dir: out}\npoll_interval: 15m\n", environ={})
    assert cfg.output.dir == Path("out") and cfg.poll_interval == 900.0
    assert problems(BASE + "output: {dir: 5}\n") == \
        ["f.yaml:8: output.dir: input is not a valid path for <class 'pathlib.Path'>"]


# --- where a problem is: key path and line, however deep ----------------------------------------


def test_an_unknown_key_in_a_nested_section_names_its_path_and_line():
    text = BASE + "    pacing:\n      time_zone: Europe/London\n      quiet_hour: 22:00-07:00\n"
    assert problems(text) == ["f.yaml:10: targets.masto.pacing.quiet_hour: unknown key "
                              "(check the spelling; see feeds.yaml in the README)"]
    text = feed_with("filters: {exclude: {categories: [a], keyword: [b]}}")
    assert problems(text) == ["f.yaml:4: feeds[0].filters.exclude.keyword: unknown key "
                              "(check the spelling; see feeds.yaml in the README)"]


def test_a_list_item_and_a_mapping_key_are_named():
    assert problems(feed_with("filters: {include: {patterns: ['ok', '(']}}"))[0].startswith(
        "f.yaml:4: feeds[0].filters.include.patterns[1]: invalid regular expression '('")
    assert problems(BASE + "  bad name:\n    kind: mastodon\n    instance: https://m.example\n") == [
        "f.yaml:8: targets.bad name.[key]: expected a name of letters, digits, '.', '_' or '-'"]
    assert problems(BASE + "2024-01-01: x\n") == ["f.yaml:1: datetime.date(2024, 1, 1): keys should be strings"]


def test_a_section_that_is_not_a_mapping():
    assert problems(BASE + "output: [a]\n") == \
        ["f.yaml:8: output: input should be a valid dictionary or instance of OutputConfig"]
    assert problems("feeds: [acr]\n") == \
        ["f.yaml:1: feeds[0]: input should be a valid dictionary or instance of FeedConfig"]


# --- the target union, told apart by kind: -------------------------------------------------------


def test_a_target_without_a_known_kind():
    assert problems(BASE.replace("    kind: mastodon\n", "")) == \
        ["f.yaml:5: targets.masto: missing kind: (mastodon or bluesky)"]
    # the line is the kind's own
    assert problems(BASE.replace("kind: mastodon", "kind: [mastodon]")) == \
        ["f.yaml:6: targets.masto: expected kind: mastodon or kind: bluesky"]
    assert problems(BASE + "  sky: bluesky\n") == \
        ["f.yaml:8: targets.sky: input should be a valid dictionary or object to extract fields from"]


def test_a_target_is_checked_as_its_kind():
    text = BASE + "  sky:\n    kind: bluesky\n    handle: ab\n    instance: https://x.example\n"
    assert problems(text) == [
        "f.yaml:10: targets.sky.handle: string should have at least 3 characters",
        "f.yaml:11: targets.sky.instance: unknown key (check the spelling; see feeds.yaml in the README)",
    ]


# --- several problems ----------------------------------------------------------------------------


def test_every_problem_in_the_order_keys_are_declared_then_unknown_keys_as_written():
    text = """\
zzz: 1
log: {level: loud}
feeds:
  - {name: "-a", url: ftp://x, colour: red, backfill: -1}
poll_interval: soon
"""
    assert problems(text) == [
        'f.yaml:5: poll_interval: expected a duration such as 90, "15m" or "1h"',
        "f.yaml:4: feeds[0].name: expected a name of letters, digits, '.', '_' or '-'",
        "f.yaml:4: feeds[0].url: expected an http(s) URL",
        "f.yaml:4: feeds[0].backfill: input should be greater than or equal to 0",
        "f.yaml:4: feeds[0].colour: unknown key (check the spelling; see feeds.yaml in the README)",
        "f.yaml:2: log.level: input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        "f.yaml:1: zzz: unknown key (check the spelling; see feeds.yaml in the README)",
    ]


def test_checks_across_sections_wait_for_every_key_to_be_fine():
    # feeds naming an unknown target is only checked once the keys themselves are fine
    text = feed_with("targets: [nowhere]") + "output: {max_items: 0}\n"
    assert problems(text) == ["f.yaml:9: output.max_items: input should be greater than or equal to 1"]
    assert "names target 'nowhere'" in problems(feed_with("targets: [nowhere]"))[0]


# --- sections built in code ----------------------------------------------------------------------


def test_a_section_built_in_code_is_checked_and_coerced_like_one_read():
    assert MastodonTarget(kind="mastodon", instance="https://m.example", timeout=5).timeout == 5.0
    out = OutputConfig(link="https://m.example/", self_url="https://m.example/feed.xml")
    assert out.self_url == "https://m.example/"
    with pytest.raises(Invalid) as info:
        MastodonTarget(kind="mastodon", instance="ftp://m.example", visibility="loud")
    assert [(i.path, i.reason) for i in info.value.issues] == [
        ("instance", "expected an http(s) URL"),
        ("visibility", "input should be 'public', 'unlisted', 'private' or 'direct'")]
    assert isinstance(info.value, ValueError)


def test_validate_reads_a_mapping_and_replace_checks_again():
    cfg = Config.validate({"feeds": [{"name": "a", "url": "https://e.org/"}],
                           "targets": {"b": {"kind": "bluesky", "handle": "a.test"}}})
    assert isinstance(cfg.targets["b"], BlueskyTarget) and cfg.feeds[0] == FeedConfig(name="a", url="https://e.org/")
    assert FilterConfig.validate({"exclude": {"keywords": ["x"]}}).rules().exclude.keywords == ("x",)
    assert replace(cfg.targets["b"], max_length=280).max_length == 280
    with pytest.raises(Invalid, match="max_length: input should be greater than or equal to 50"):
        replace(cfg.targets["b"], max_length=10)
    with pytest.raises(Invalid, match="feeds: required key is missing"):
        Config.validate({})


def test_sections_are_frozen_and_compare_by_value():
    pacing = PacingConfig(max_per_hour=6)
    with pytest.raises(FrozenInstanceError):
        pacing.max_per_hour = 7  # type: ignore[misc]
    assert pacing == PacingConfig(max_per_hour="6") != PacingConfig()
    assert pacing != FilterConfig() and pacing != 6
    assert hash(pacing) == hash(PacingConfig(max_per_hour=6)) and len({pacing, PacingConfig(max_per_hour=6)}) == 1
    assert repr(pacing) == "PacingConfig(max_per_hour=6, quiet_hours=None, time_zone='UTC', quiet_release=4)"
    assert isinstance(pacing, Section)


def test_a_section_s_types_are_its_annotations():
    assert MastodonTarget.types()["kind"].__args__ == ("mastodon",)


def _sections(cls: type = Section) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _sections(sub))]


def _shape(tp: object) -> object:
    """An annotation with each ``Annotated`` mark as its class and slots (marks are made anew by
    every evaluation, and compare by identity)."""
    if typing.get_origin(tp) is typing.Annotated:
        marks = tuple((type(m), tuple(getattr(m, n) for c in type(m).__mro__ for n in getattr(c, "__slots__", ())))
                      for m in tp.__metadata__)  # type: ignore[attr-defined]
        return ("Annotated", _shape(tp.__origin__), marks)  # type: ignore[attr-defined]
    args = typing.get_args(tp)
    return (typing.get_origin(tp), tuple(_shape(a) for a in args)) if args else tp


def test_every_section_s_types_are_what_typing_get_type_hints_resolves():
    import syndicate.config  # noqa: F401  (every section of the config made)

    sections = _sections()[1:]
    assert len(sections) > 10
    for section in sections:
        hints = typing.get_type_hints(section, include_extras=True)
        types = section.types()
        assert list(types) == [f.name for f in fields(section)]
        assert {n: _shape(t) for n, t in types.items()} == {n: _shape(hints[n]) for n in types}, section


def test_dump_leaves_out_the_source_and_writes_paths_as_text():
    cfg = parse_config(BASE, "f.yaml", environ={})
    dump = cfg.dump()
    assert dump.startswith("'# source': f.yaml\nstate: state/syndicate.db\n")
    assert "\nsource:" not in dump and "dir: public\n" in dump


def test_importing_the_config_and_reading_a_file_never_imports_pydantic(tmp_path):
    (tmp_path / "feeds.yaml").write_text(BASE)
    code = ("import sys, syndicate.config as c; c.load_config(sys.argv[1], environ={}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "feeds.yaml")], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(("text", "line"), [
    ("feeds: [\n", "f.yaml:2: invalid YAML: expected the node content, but found '<stream end>'"),
    ("feeds:\n\t- a\n", "f.yaml:2: invalid YAML: found character '\\t' that cannot start any token"),
    ("a: b: c\n", "f.yaml:1: invalid YAML: mapping values are not allowed here"),
])
def test_invalid_yaml_is_told_in_the_words_it_always_was(text, line):
    # libyaml reads the file when it can; what it refuses, the pure-Python parser words
    assert problems(text) == [line]


@pytest.mark.parametrize("written", [0, 0.0, "0", "0s", "0m", "0h", "0d", "0.0", "0ms", " 0 s "])
def test_a_wait_of_zero_reads_alike_in_every_unit(written):
    from syndicate.config.fields import parse_wait

    assert parse_wait(written) == 0.0


@pytest.mark.parametrize("written", [-1, "-1s", True, "soon"])
def test_a_wait_is_zero_or_more(written):
    from syndicate.config.fields import parse_wait

    with pytest.raises(ValueError):
        parse_wait(written)


@pytest.mark.parametrize("zone", ["America", "Europe/Nowhere", "../etc/passwd"])
def test_a_time_zone_that_is_no_zone_is_one_line(zone):
    """``America`` is a directory of the zone database, not a zone: one line, not a traceback."""
    [line] = problems(BASE + f"    pacing:\n      time_zone: {zone}\n")
    assert line == (f"f.yaml:9: targets.masto.pacing.time_zone: unknown time zone {zone!r} "
                    "(expected an IANA name such as Europe/London)")
