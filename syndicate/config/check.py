"""The checker behind feeds.yaml's sections: frozen value classes, checked by their annotations.

A section is a ``Section`` subclass: a frozen, keyword-only value class whose annotations say what
each key holds (``str``, ``int``, ``float``, ``bool``, ``Path``, ``Literal``, ``X | None``,
``list``, ``dict``, another section, a union of sections told apart by a key) and whose
``Annotated`` marks add the limits and checks: ``Bounds`` (``ge``/``le``), ``MinLen``,
``Match`` (a pattern and what it means), ``Before`` / ``After`` (a function run before or
after the type's own check) and ``Plain`` (a function that is the whole check), ``Tag`` (the
key that tells a union's sections apart).  ``Section.validate(mapping)`` reads a mapping
(a section of the YAML), ``Section(**keys)`` checks the same way, and both raise ``Invalid``
with every ``Issue`` found: its key path and what was expected, in the order the keys are
declared (then the unknown keys, in the order written).  Values are coerced where a YAML
author plausibly means it: ``"8080"`` or ``8080.0`` for an int, ``"yes"`` or ``1`` for a
bool; a bool is never a number.

Annotations are read on first use (as ``typing.get_type_hints`` reads them), so importing a module of
sections costs only the value classes themselves.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union, dataclass_transform, get_args, get_origin

from syndicate.config.kinds import (
    BAD,
    MISSING_KEY,
    SIMPLE,
    UNKNOWN_KEY,
    After,
    Before,
    Bounds,
    Checker,
    Invalid,
    Issue,
    Loc,
    Match,
    MinLen,
    Plain,
    Tag,
    calling,
    dict_of,
    limit,
    list_of,
    literal,
    nullable,
    part,
    value_reason,
)
from syndicate.value import MISSING, field, fields, valueclass

__all__ = ["After", "Before", "Bounds", "Invalid", "Issue", "Loc", "Match", "MinLen", "Plain", "Section",
           "Tag", "checker", "dump_section"]

# --- sections ------------------------------------------------------------------------------------


@valueclass
class _Key:
    name: str
    check: Checker
    required: bool
    default: Any  # a value, or (when ``factory``) the callable that makes it
    factory: bool
    dump: bool


_SPECS: dict[type, tuple[_Key, ...]] = {}
_TYPES: dict[type, dict[str, Any]] = {}


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Section:
    """A section of feeds.yaml: unknown keys refused, every key checked, frozen once read.

    A subclass is made a frozen keyword-only value class (``syndicate.value.valueclass``: ``==``,
    ``hash``, ``repr`` and frozen as a dataclass's, for less); ``field(metadata={"dump": False})``
    (``syndicate.value.field``) leaves a key out of ``dump_section``.  ``_validate`` (raising
    ``ValueError``) checks what spans the keys, once each key is fine.
    """

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        valueclass(kw_only=True, slots=False)(cls)

    def __post_init__(self) -> None:
        issues: list[Issue] = []
        for key in _spec(type(self)):
            value = getattr(self, key.name)
            checked = key.check(value, (key.name,), issues)
            if checked is not value and checked is not BAD:
                object.__setattr__(self, key.name, checked)
        if not issues:
            try:
                self._validate()
            except ValueError as exc:
                issues.append(Issue((), value_reason(exc)))
        if issues:
            raise Invalid(issues)

    def _validate(self) -> None:
        """Checks across keys; raise ``ValueError`` naming what is wrong."""

    @classmethod
    def validate(cls, data: Mapping[str, Any]) -> Self:
        """``data`` (keys as feeds.yaml writes them) checked; ``Invalid`` with every issue found."""
        issues: list[Issue] = []
        out = cls._read(data, (), issues)
        if issues:
            raise Invalid(issues)
        return typing.cast(Self, out)

    @classmethod
    def types(cls) -> dict[str, Any]:
        """Each key's annotation, resolved (``Literal["mastodon"]`` for a target's ``kind``)."""
        if cls not in _TYPES:
            hints = _hints(cls)
            _TYPES[cls] = {f.name: hints[f.name] for f in fields(cls)}
        return _TYPES[cls]

    @classmethod
    def _read(cls, data: Any, loc: Loc, issues: list[Issue]) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            issues.append(Issue(loc, f"input should be a valid dictionary or instance of {cls.__name__}"))
            return BAD
        spec = _spec(cls)
        before = len(issues)
        values: dict[str, Any] = {}
        for key in spec:
            if key.name in data:
                values[key.name] = key.check(data[key.name], (*loc, key.name), issues)
            elif key.required:
                issues.append(Issue((*loc, key.name), MISSING_KEY))
            else:
                values[key.name] = key.default() if key.factory else key.default
        names = {key.name for key in spec}
        for name in data:
            if not isinstance(name, str):
                issues.append(Issue((*loc, part(name)), "keys should be strings"))
            elif name not in names:
                issues.append(Issue((*loc, name), UNKNOWN_KEY))
        if len(issues) > before:
            return BAD
        out = object.__new__(cls)
        for name, value in values.items():
            object.__setattr__(out, name, value)
        try:
            out._validate()
        except ValueError as exc:
            issues.append(Issue(loc, value_reason(exc)))
            return BAD
        return out


def _hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls, include_extras=True)``, each class's annotations evaluated in one
    ``eval`` (as a tuple) instead of one compile per annotation: a config's ~50 keys cost a third
    less to resolve on every command's start.  The names resolve as there: the class's module
    first, then the class's own namespace, then builtins."""
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        own: dict[str, Any] = base.__dict__.get("__annotations__", {})
        if not own:
            continue
        if all(isinstance(v, str) for v in own.values()):
            module = sys.modules.get(base.__module__)
            names = getattr(module, "__dict__", {})
            evaluated = eval(f"({', '.join(own.values())},)", dict(vars(base)), names)
        else:  # an annotation that is not a string: typing's way, one by one
            base_hints = typing.get_type_hints(base, include_extras=True)
            evaluated = tuple(base_hints[name] for name in own)
        hints.update(zip(own, (type(None) if v is None else v for v in evaluated), strict=True))
    return hints


def _spec(cls: type[Section]) -> tuple[_Key, ...]:
    spec = _SPECS.get(cls)
    if spec is None:
        types_ = cls.types()
        keys = []
        for f in fields(cls):
            factory = f.default_factory is not MISSING
            required = f.default is MISSING and not factory
            default = f.default_factory if factory else f.default
            keys.append(_Key(f.name, checker(types_[f.name]), required, default, factory,
                             f.metadata.get("dump", True)))
        spec = _SPECS[cls] = tuple(keys)
    return spec


def dump_section(value: Any) -> Any:
    """A section as plain JSON-like data: nested sections as dicts, paths as strings."""
    if isinstance(value, Section):
        return {key.name: dump_section(getattr(value, key.name)) for key in _spec(type(value)) if key.dump}
    if isinstance(value, list | tuple):
        return [dump_section(v) for v in value]
    if isinstance(value, dict):
        return {k: dump_section(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


# --- the checkers, one per annotation ------------------------------------------------------------

_CHECKERS: dict[Any, Checker] = {}


def checker(tp: Any) -> Checker:
    """The checker of values of type ``tp`` (made once per type)."""
    try:
        return _CHECKERS[tp]
    except KeyError:
        made = _CHECKERS[tp] = _make(tp)
        return made
    except TypeError:  # an unhashable annotation: made each time
        return _make(tp)


def _make(tp: Any) -> Checker:
    origin = get_origin(tp)
    if origin is Annotated:
        base, *marks = get_args(tp)
        return _annotated(base, marks)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args:
            rest = tuple(a for a in args if a is not type(None))
            return nullable(checker(rest[0] if len(rest) == 1 else Union[rest]))  # noqa: UP007
        raise TypeError(f"a union other than X | None needs a Tag or a Plain check: {tp}")
    if origin is Literal:
        return literal(get_args(tp))
    if origin is list:
        return list_of(checker(get_args(tp)[0]))
    if origin is dict:
        key, value = get_args(tp)
        return dict_of(checker(key), checker(value))
    if isinstance(tp, type) and issubclass(tp, Section):
        return tp._read
    simple = SIMPLE.get(tp)
    if simple is None:
        raise TypeError(f"no checker for {tp!r}")
    return simple


def _annotated(base: Any, marks: list[Any]) -> Checker:
    for mark in marks:
        if isinstance(mark, Plain):
            return calling(mark.fn)
        if isinstance(mark, Tag):
            return _tagged(mark.key, get_args(base))
    check = checker(base)
    before = [m.fn for m in marks if isinstance(m, Before)]
    limits = [limit(m) for m in marks if isinstance(m, Bounds | MinLen | Match)]
    after = [m.fn for m in marks if isinstance(m, After)]

    def annotated(value: Any, loc: Loc, issues: list[Issue]) -> Any:
        try:
            for fn in before:
                value = fn(value)
            value = check(value, loc, issues)
            if value is BAD:
                return BAD
            for limit in limits:
                reason = limit(value)
                if reason:
                    issues.append(Issue(loc, reason))
                    return BAD
            for fn in after:
                value = fn(value)
        except ValueError as exc:
            issues.append(Issue(loc, value_reason(exc)))
            return BAD
        return value

    return annotated


def _tagged(key: str, members: tuple[type[Section], ...]) -> Checker:
    """One of ``members``, chosen by the value of ``key`` (each member's ``Literal``)."""
    made: list[dict[str, type[Section]]] = []  # the tags, read from the members on first use

    def tagged(value: Any, loc: Loc, issues: list[Issue]) -> Any:
        if not made:  # a whole dict or none: another thread never sees it half made
            made.append({get_args(m.types()[key])[0]: m for m in members})
        kinds = made[0]
        if isinstance(value, members):
            return value
        if not isinstance(value, Mapping):
            issues.append(Issue(loc, "input should be a valid dictionary or object to extract fields from"))
            return BAD
        if key not in value:
            issues.append(Issue(loc, f"missing {key}: ({' or '.join(kinds)})"))
            return BAD
        tag = value[key]
        member = kinds.get(tag) if isinstance(tag, str) else None
        if member is None:
            issues.append(Issue(loc, "expected " + " or ".join(f"{key}: {k}" for k in kinds), (*loc, key)))
            return BAD
        return member._read(value, loc, issues)

    return tagged

