"""Value classes made cheaply: ``@valueclass`` is ``@dataclass(frozen=True, slots=True)``, for less.

A dataclass compiles (``exec``) one function per generated method when its class is made: on
CPython 3.11 about 0.5 ms for a frozen one, and the package makes ~80 of them on every command's
start.  ``valueclass`` asks ``dataclasses`` only for the fields (and the slots), writes ``__init__``
in one ``exec`` of its own, and takes ``__eq__``, ``__hash__``, ``__repr__``, ``__setattr__`` and
``__delattr__`` from functions written once here, over a per-class key of the fields.  What a
dataclass does is kept: ``fields``/``replace``/``asdict``/``__match_args__`` (the fields are the
dataclass's own), defaults and ``default_factory``, ``field(init=False)``, ``kw_only`` and
``KW_ONLY``, ``compare``/``hash``/``repr`` of a field, ``__post_init__``, ``FrozenInstanceError``
on assignment, pickling of slotted values; methods a class writes itself are kept.

``hot=True`` writes ``__eq__`` and ``__hash__`` out for the class too (in the same ``exec``), as
a dataclass does, for the values compared or hashed in hot paths: the generic ones cost about
twice as much a call.  ``frozen=False`` is a mutable dataclass (``__hash__`` is None, as there).
"""

from __future__ import annotations

import dataclasses
import reprlib
import typing
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["valueclass"]

T = TypeVar("T", bound=type)

_FACTORY = object()  # the default of an argument whose field has a default_factory


def _key(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A getter of the named attributes, as a tuple (also for one name, or none)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        return attrgetter(names[0], names[0])  # a tuple, so == keeps a tuple's identity shortcut
    return _Empty()


class _Empty:
    """The key of a class without compared fields (``attrgetter()`` takes at least one name)."""

    __slots__ = ()

    def __call__(self, _: object) -> tuple[()]:
        return ()


def _eq(self: Any, other: Any) -> bool:
    if other.__class__ is self.__class__:
        key = self._value_compared
        same: bool = key(self) == key(other)
        return same
    return NotImplemented  # type: ignore[no-any-return]


def _hash(self: Any) -> int:
    return hash(self._value_hashed(self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._value_shown)
    return f"{self.__class__.__qualname__}({shown})"


def _setattr(self: Any, name: str, _: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, name) for name in self._value_names]


def _setstate(self: Any, state: list[Any]) -> None:
    for name, item in zip(self._value_names, state, strict=True):
        object.__setattr__(self, name, item)


def _source(cls: type, fs: tuple[dataclasses.Field[Any], ...], frozen: bool, hot: bool,
            ns: dict[str, Any]) -> str:
    """The ``__init__`` (and, when ``hot``, ``__eq__``/``__hash__``) of ``cls``, as source."""
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    defaulted = ""
    for f in fs:
        name = f.name
        has_default = f.default is not dataclasses.MISSING
        factory = f.default_factory is not dataclasses.MISSING
        if factory:
            ns[f"_f_{name}"] = f.default_factory
        if has_default:
            ns[f"_d_{name}"] = f.default
        if f.init:
            arg = name
            if factory:
                arg += "=_FACTORY"
                val = f"_f_{name}() if {name} is _FACTORY else {name}"
            elif has_default:
                arg += f"=_d_{name}"
                val = name
            else:
                val = name
            if f.kw_only:
                keyword.append(arg)
            else:
                if not (factory or has_default) and defaulted:
                    raise TypeError(f"non-default argument {name!r} follows default argument")
                if factory or has_default:
                    defaulted = name
                positional.append(arg)
        elif factory:
            val = f"_f_{name}()"
        elif has_default:
            val = f"_d_{name}"
        else:
            continue
        body.append(f"  _set(self, {name!r}, {val})" if frozen else f"  self.{name} = {val}")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    args = ["self", *positional, *(["*", *keyword] if keyword else [])]
    src = f"def __init__({', '.join(args)}):\n" + ("\n".join(body) or "  pass") + "\n"
    if hot:
        compared = [f.name for f in fs if f.compare]
        hashed = [f.name for f in fs if (f.compare if f.hash is None else f.hash)]
        mine = "".join(f"self.{n}," for n in compared)
        theirs = "".join(f"other.{n}," for n in compared)
        src += (f"def __eq__(self, other):\n  if other.__class__ is self.__class__:\n"
                f"    return ({mine}) == ({theirs})\n  return NotImplemented\n")
        src += f"def __hash__(self):\n  return hash(({''.join(f'self.{n},' for n in hashed)}))\n"
    return src


def _make(cls: T, *, frozen: bool, kw_only: bool, slots: bool, hot: bool) -> T:
    """``cls`` made a value class (a new class when ``slots``, as ``dataclass`` makes one)."""
    own = set(cls.__dict__)
    made: Any = dataclasses.dataclass(cls, init=False, repr=False, eq=False, kw_only=kw_only, slots=slots)
    fs = dataclasses.fields(made)
    initvar = ("InitVar", "dataclasses.InitVar")
    if any(str(f.type).startswith(initvar) for f in made.__dataclass_fields__.values()):
        raise TypeError(f"{cls.__qualname__}: InitVar is not supported by @valueclass")
    ns: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    written: dict[str, Any] = {}
    exec(_source(made, fs, frozen, hot, ns), ns, written)  # as dataclasses does
    qualname = made.__qualname__
    for name, fn in written.items():
        fn.__qualname__ = f"{qualname}.{name}"
        if name in own:
            continue  # the class's own __init__ / __eq__ / __hash__ win, as with a dataclass
        setattr(made, name, fn)
    made._value_names = tuple(f.name for f in fs)
    made._value_shown = tuple(f.name for f in fs if f.repr)
    made._value_compared = _key(tuple(f.name for f in fs if f.compare))
    made._value_hashed = _key(tuple(f.name for f in fs if (f.compare if f.hash is None else f.hash)))
    generic: dict[str, Any] = {"__eq__": _eq, "__repr__": _repr}
    if frozen:
        generic |= {"__hash__": _hash, "__setattr__": _setattr, "__delattr__": _delattr}
        if slots:
            generic |= {"__getstate__": _getstate, "__setstate__": _setstate}
    elif "__hash__" not in own:
        generic["__hash__"] = None  # eq without frozen: unhashable, as a dataclass is
    for name, fn in generic.items():
        if name not in own and name not in written:
            setattr(made, name, fn)
    return typing.cast(T, made)


@overload
def valueclass(cls: T, /) -> T: ...


@overload
def valueclass(*, frozen: bool = True, kw_only: bool = False, slots: bool = True,
          hot: bool = False) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def valueclass(cls: T | None = None, /, *, frozen: bool = True, kw_only: bool = False, slots: bool = True,
          hot: bool = False) -> T | Callable[[T], T]:
    """``@valueclass`` or ``@valueclass(...)`` on a class: a dataclass, frozen and slotted unless told not."""
    def wrap(c: T) -> T:
        return _make(c, frozen=frozen, kw_only=kw_only, slots=slots, hot=hot)
    return wrap if cls is None else wrap(cls)
