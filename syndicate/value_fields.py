"""The fields of value classes (``syndicate.value``): ``field``, ``fields``, ``replace``, ``asdict``.

The names and meanings are ``dataclasses``' (``Field``, ``MISSING``, ``KW_ONLY``,
``FrozenInstanceError``), for ``@valueclass`` classes, without importing ``dataclasses`` (and
with it ``inspect``, ``dis``, ``ast``, ``tokenize``).  A ``Field`` answers ``dataclasses``' own
functions too (``dataclasses.fields`` asks a field's private ``_field_type``), so a value class
is a dataclass to whatever imports ``dataclasses`` anyway: pytest's diffs, a library's encoder.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

__all__ = ["KW_ONLY", "MISSING", "Field", "FrozenInstanceError", "asdict", "field", "fields", "replace"]

V = TypeVar("V")


class _Missing:
    """The type of ``MISSING``: no default (``None`` is a default like any other)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

if TYPE_CHECKING:  # so a type checker's dataclass support sees the marker it knows
    from dataclasses import KW_ONLY as KW_ONLY
else:
    class KW_ONLY:
        """``_: KW_ONLY`` in a value class: the fields after it are keyword-only."""


class FrozenInstanceError(AttributeError):
    """An assignment to (or deletion of) a field of a frozen value class."""


_NO_METADATA: Mapping[Any, Any] = types.MappingProxyType({})


class Field:
    """One field of a value class, as ``dataclasses.Field`` has it (``name`` and ``type`` set
    when its class is made; ``kw_only`` is ``MISSING`` until then unless given)."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "hash", "compare", "metadata",
                 "kw_only")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
                 repr: bool = True, hash: bool | None = None, compare: bool = True,
                 metadata: Mapping[Any, Any] | None = None, kw_only: Any = MISSING) -> None:
        self.name: str = ""
        self.type: Any = None
        self.default: Any = default
        self.default_factory: Any = default_factory
        self.init = init
        self.repr = repr
        self.hash = hash
        self.compare = compare
        self.metadata: Mapping[Any, Any] = _NO_METADATA if metadata is None else types.MappingProxyType(
            dict(metadata))
        self.kw_only: Any = kw_only

    def __repr__(self) -> str:
        return (f"Field(name={self.name!r},type={self.type!r},default={self.default!r},"
                f"default_factory={self.default_factory!r},init={self.init!r},repr={self.repr!r},"
                f"hash={self.hash!r},compare={self.compare!r},metadata={self.metadata!r},"
                f"kw_only={self.kw_only!r})")

    @property
    def _field_type(self) -> Any:
        """``dataclasses``' mark of a plain field (asked by ``dataclasses.fields``, ``replace``)."""
        return vars(sys.modules["dataclasses"])["_FIELD"]  # loaded: only its own functions ask


@overload
def field(*, default: V, init: bool = True, repr: bool = True, hash: bool | None = None,
          compare: bool = True, metadata: Mapping[Any, Any] | None = None, kw_only: bool = ...) -> V: ...


@overload
def field(*, default_factory: Callable[[], V], init: bool = True, repr: bool = True,
          hash: bool | None = None, compare: bool = True, metadata: Mapping[Any, Any] | None = None,
          kw_only: bool = ...) -> V: ...


@overload
def field(*, init: bool = True, repr: bool = True, hash: bool | None = None,
          compare: bool = True, metadata: Mapping[Any, Any] | None = None, kw_only: bool = ...) -> Any: ...


def field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
          repr: bool = True, hash: bool | None = None, compare: bool = True,
          metadata: Mapping[Any, Any] | None = None, kw_only: Any = MISSING) -> Any:
    """A field's default (or ``default_factory``) and how it takes part, as ``dataclasses.field``."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, init, repr, hash, compare, metadata, kw_only)


def fields(class_or_instance: Any) -> tuple[Field, ...]:
    """The fields of a value class (or of one of its values), in ``__init__``'s order."""
    try:
        found: tuple[Field, ...] = class_or_instance.__value_fields__
    except AttributeError:
        raise TypeError("must be called with a value class type or instance") from None
    return found


def replace(obj: V, /, **changes: Any) -> V:
    """A copy of value ``obj`` with the fields ``changes`` names changed (``__init__`` runs again)."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with "
                                 "replace()")
            continue
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


def asdict(obj: Any, *, dict_factory: Callable[[list[tuple[str, Any]]], Any] = dict) -> Any:
    """Value ``obj`` as a dict of its fields, recursively (lists, tuples, dicts, values within),
    other values deep-copied, as ``dataclasses.asdict``."""
    fields(obj)  # a TypeError unless a value
    return _asdict(obj, dict_factory)


_ATOMIC = frozenset({bool, int, float, complex, str, bytes, types.NoneType})


def _asdict(obj: Any, dict_factory: Callable[[list[tuple[str, Any]]], Any]) -> Any:
    kind = type(obj)
    if kind in _ATOMIC:
        return obj
    if hasattr(kind, "__value_fields__"):
        return dict_factory([(f.name, _asdict(getattr(obj, f.name), dict_factory))
                             for f in kind.__value_fields__])
    if hasattr(kind, "__dataclass_fields__"):  # a dataclass proper: dataclasses is loaded
        return sys.modules["dataclasses"].asdict(obj, dict_factory=dict_factory)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a named tuple
        return kind(*[_asdict(v, dict_factory) for v in obj])
    if isinstance(obj, list | tuple):
        return kind(_asdict(v, dict_factory) for v in obj)
    if isinstance(obj, dict):
        return kind((_asdict(k, dict_factory), _asdict(v, dict_factory)) for k, v in obj.items())
    import copy  # only for values of other kinds

    return copy.deepcopy(obj)
