"""Value classes made cheaply: ``@valueclass`` is ``@dataclass(frozen=True, slots=True)``, for less.

The package makes ~80 value classes on every command's start; a dataclass costs about 0.5 ms
each on CPython 3.11 (an ``exec`` per method, ``inspect`` for the docstring) and ``import
dataclasses`` brings ``inspect``, ``dis``, ``ast`` and ``tokenize``.  ``valueclass`` does without:
it reads the fields from the class's annotations (strings: every module has ``from __future__
import annotations``) and its value-class bases, and writes ``__init__`` (and, when ``hot``,
``__eq__``/``__hash__``) on first use, so a class never made by a command costs no ``exec``.
``__repr__``, ``__setattr__``/``__delattr__`` (frozen) and the generic ``__eq__``/``__hash__`` are
functions written once here, over a per-class key of the fields.

What a dataclass does is kept, with this module's ``field``/``fields``/``replace``/``asdict``/
``MISSING``/``KW_ONLY``/``FrozenInstanceError`` (``syndicate.value_fields``): defaults and
``default_factory``, ``field(init=False)``, ``kw_only`` and ``KW_ONLY``, ``compare``/``hash``/
``repr`` of a field, ``ClassVar`` left out, ``__post_init__``, ``__match_args__``, inheritance of
fields, ``FrozenInstanceError`` on assignment, pickling of slotted values; methods a class writes
itself are kept.  ``__dataclass_fields__`` is set too, so ``dataclasses.fields``/``replace``/
``asdict`` and pytest's diffs work on a value class wherever ``dataclasses`` is imported anyway.

``hot=True`` writes ``__eq__`` and ``__hash__`` out for the class, as a dataclass does, for the
values compared or hashed in hot paths: the generic ones cost about twice as much a call.
``frozen=False`` is a mutable dataclass (``__hash__`` is None, as there).
"""

from __future__ import annotations

import reprlib
import sys
import types
import typing
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

from syndicate.value_fields import (
    KW_ONLY,
    MISSING,
    Field,
    FrozenInstanceError,
    asdict,
    field,
    fields,
    replace,
)

__all__ = ["KW_ONLY", "MISSING", "Field", "FrozenInstanceError", "asdict", "field", "fields", "replace",
           "valueclass"]

T = TypeVar("T", bound=type)

_FACTORY = object()  # the default of an argument whose field has a default_factory
_MARKS = frozenset({"ClassVar", "KW_ONLY", "InitVar"})  # the annotations that are no plain field


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
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, name) for name in self._value_names]


def _setstate(self: Any, state: list[Any]) -> None:
    for name, item in zip(self._value_names, state, strict=True):
        object.__setattr__(self, name, item)


# --- the methods written on first use ----------------------------------------------------------


class _Written:
    """A method of a value class written (one ``exec``) when first looked up, then set on the class.

    One instance per method name serves every class: the class it was found on is the first in
    the looking class's MRO that holds it, which is the class it was set on (a subclass that is
    not a value class inherits its base's, and writes the base's on first use).
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        looking = objtype if objtype is not None else type(obj)
        owner = next((c for c in looking.__mro__ if c.__dict__.get(self.name) is self), None)
        if owner is None:  # another thread wrote it since this lookup found the stub
            fn = getattr(looking, self.name)
        else:
            fn = _write(owner, self.name)
            setattr(owner, self.name, fn)
        return fn.__get__(obj, looking)


_INIT, _EQ, _HASH = _Written("__init__"), _Written("__eq__"), _Written("__hash__")


def _write(cls: Any, name: str) -> Any:
    """``cls``'s method ``name``, compiled from its fields, as a dataclass compiles it."""
    fs: tuple[Field, ...] = cls.__value_fields__
    ns: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    if name == "__init__":
        src = _init_source(fs, cls._value_frozen, hasattr(cls, "__post_init__"), ns)
    elif name == "__eq__":
        mine = "".join(f"self.{f.name}," for f in fs if f.compare)
        theirs = "".join(f"other.{f.name}," for f in fs if f.compare)
        src = (f"def __eq__(self, other):\n  if other.__class__ is self.__class__:\n"
               f"    return ({mine}) == ({theirs})\n  return NotImplemented\n")
    else:
        hashed = "".join(f"self.{f.name}," for f in fs if (f.compare if f.hash is None else f.hash))
        src = f"def __hash__(self):\n  return hash(({hashed}))\n"
    written: dict[str, Any] = {}
    exec(src, ns, written)  # as dataclasses does
    fn = written[name]
    fn.__qualname__ = f"{cls.__qualname__}.{name}"
    return fn


def _init_source(fs: tuple[Field, ...], frozen: bool, post_init: bool, ns: dict[str, Any]) -> str:
    """The ``__init__`` of fields ``fs``, as source; its defaults and factories put in ``ns``."""
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in fs:
        name = f.name
        has_default = f.default is not MISSING
        factory = f.default_factory is not MISSING
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
            (keyword if f.kw_only else positional).append(arg)
        elif factory:
            val = f"_f_{name}()"
        elif has_default:
            val = f"_d_{name}"
        else:
            continue
        body.append(f"  _set(self, {name!r}, {val})" if frozen else f"  self.{name} = {val}")
    if post_init:
        body.append("  self.__post_init__()")
    args = ["self", *positional, *(["*", *keyword] if keyword else [])]
    return f"def __init__({', '.join(args)}):\n" + ("\n".join(body) or "  pass") + "\n"


# --- the fields, as dataclasses reads them -----------------------------------------------------


def _kind(tp: Any, ns: dict[str, Any]) -> str:
    """What annotation ``tp`` declares: "field", "classvar", "kw_only" or "initvar".

    A string is resolved as dataclasses resolves it: ``ClassVar[...]`` / ``KW_ONLY`` by the name
    in the module, ``typing.ClassVar[...]`` / ``dataclasses.KW_ONLY`` by the module's name there.
    """
    if isinstance(tp, str):
        prefix, _, last = tp.partition("[")[0].strip().rpartition(".")
        if last not in _MARKS:
            return "field"
        tp = getattr(ns.get(prefix.strip()), last, None) if prefix else ns.get(last)
    if tp is typing.ClassVar or typing.get_origin(tp) is typing.ClassVar:
        return "classvar"
    if tp is KW_ONLY:
        return "kw_only"
    std = sys.modules.get("dataclasses")  # loaded if the module annotates with its KW_ONLY / InitVar
    if std is not None:
        if tp is std.KW_ONLY:
            return "kw_only"
        if tp is std.InitVar or isinstance(tp, std.InitVar):
            return "initvar"
    return "field"


def _collect(cls: type, *, kw_only: bool, frozen: bool) -> tuple[Field, ...]:
    """``cls``'s fields: its value-class bases' (in MRO order), then its own annotations'.

    As ``dataclasses`` does, a default written in the class body stays a class attribute (a
    ``field()`` without one is removed), and the same mistakes are refused with the same errors.
    """
    found: dict[str, Field] = {}
    bases = False
    frozen_base = False
    for base in cls.__mro__[-1:0:-1]:
        inherited = base.__dict__.get("__value_fields__")
        if inherited is None:
            if "__dataclass_fields__" in base.__dict__:
                raise TypeError(f"{cls.__qualname__}: a value class cannot inherit a dataclass's fields")
            continue
        bases = True
        frozen_base = frozen_base or base.__dict__["_value_frozen"]
        for f in inherited:
            found[f.name] = f
    if bases and frozen_base and not frozen:
        raise TypeError("cannot inherit non-frozen dataclass from a frozen one")
    if bases and not frozen_base and frozen:
        raise TypeError("cannot inherit frozen dataclass from a non-frozen one")
    own = cls.__dict__
    annotations: dict[str, Any] = own.get("__annotations__", {})
    module = sys.modules.get(cls.__module__)
    ns = module.__dict__ if module is not None else {}
    kw = kw_only
    marked = False
    std = sys.modules.get("dataclasses")  # (to refuse its field(): it would be taken for a default)
    inherits = len(cls.__mro__) > 2  # (else a default is in the class's own namespace, or none)
    for name, tp in annotations.items():
        if tp.__class__ is str and "ClassVar" not in tp and "KW_ONLY" not in tp and "InitVar" not in tp:
            kind = "field"  # (the usual annotation, told without parsing it)
        else:
            kind = _kind(tp, ns)
        if kind == "classvar":
            continue
        if kind == "kw_only":
            if marked:
                raise TypeError(f"{name!r} is KW_ONLY, but KW_ONLY has already been specified")
            marked = kw = True
            continue
        if kind == "initvar":
            raise TypeError(f"{cls.__qualname__}: InitVar is not supported by @valueclass")
        default = getattr(cls, name, MISSING) if inherits else own.get(name, MISSING)
        if std is not None and isinstance(default, std.Field):
            raise TypeError(f"{cls.__qualname__}.{name}: a value class's field is syndicate.value.field()")
        if isinstance(default, Field):
            f = default
        else:
            f = Field(MISSING if isinstance(default, types.MemberDescriptorType) else default)
        f.name, f.type = name, tp
        if f.kw_only is MISSING:
            f.kw_only = kw
        if f.default is not MISSING and f.default.__class__.__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: "
                             "use default_factory")
        found[name] = f
        if isinstance(own.get(name), Field):
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
    for name, value in own.items():
        if isinstance(value, Field) and name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    fs = tuple(found.values())
    defaulted = False
    for f in fs:
        if f.init and not f.kw_only:
            if f.default is MISSING and f.default_factory is MISSING:
                if defaulted:
                    raise TypeError(f"non-default argument {f.name!r} follows default argument")
            else:
                defaulted = True
    return fs


def _slots_of(cls: type) -> tuple[str, ...]:
    slots = cls.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


def _make(cls: T, *, frozen: bool, kw_only: bool, slots: bool, hot: bool) -> T:
    """``cls`` made a value class (a new class when ``slots``, as ``dataclass`` makes one)."""
    fs = _collect(cls, kw_only=kw_only, frozen=frozen)
    own = cls.__dict__
    names: list[str] = []
    shown: list[str] = []
    compared: list[str] = []
    hashed: list[str] = []
    positional: list[str] = []
    for f in fs:  # (one loop: this runs for every class of every command)
        names.append(f.name)
        if f.repr:
            shown.append(f.name)
        if f.compare:
            compared.append(f.name)
        if f.compare if f.hash is None else f.hash:
            hashed.append(f.name)
        if not f.kw_only:
            positional.append(f.name)
    added: dict[str, Any] = {
        "__value_fields__": fs, "__dataclass_fields__": dict(zip(names, fs, strict=True)),
        "_value_frozen": frozen, "_value_names": tuple(names), "_value_shown": tuple(shown),
        "_value_compared": _key(tuple(compared)), "_value_hashed": _key(tuple(hashed)),
    }
    methods: dict[str, Any] = {"__init__": _INIT, "__repr__": _repr, "__eq__": _EQ if hot else _eq,
                               "__match_args__": tuple(positional)}
    hash_written = own.get("__hash__", MISSING)
    if hash_written is MISSING or (hash_written is None and "__eq__" in own):  # no hash of its own
        added["__hash__"] = (_HASH if hot else _hash) if frozen else None
    if frozen:
        for name in ("__setattr__", "__delattr__"):
            if name in own:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
        added |= {"__setattr__": _setattr, "__delattr__": _delattr}
        if slots:
            methods |= {"__getstate__": _getstate, "__setstate__": _setstate}
    added |= {name: fn for name, fn in methods.items() if name not in own}
    if not slots:
        for name, value in added.items():
            setattr(cls, name, value)
        return cls
    if "__slots__" in own:
        raise TypeError(f"{cls.__name__} already specifies __slots__")
    body = dict(own)
    for name in (*names, "__dict__", "__weakref__"):
        body.pop(name, None)
    body |= added
    if len(cls.__mro__) > 2:
        inherited = {name for base in cls.__mro__[1:-1] for name in _slots_of(base)}
        names = [name for name in names if name not in inherited]
    body["__slots__"] = tuple(names)
    made = type(cls)(cls.__name__, cls.__bases__, body)
    made.__qualname__ = cls.__qualname__
    return made


@overload
def valueclass(cls: T, /) -> T: ...


@overload
def valueclass(*, frozen: bool = True, kw_only: bool = False, slots: bool = True,
          hot: bool = False) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def valueclass(cls: T | None = None, /, *, frozen: bool = True, kw_only: bool = False, slots: bool = True,
          hot: bool = False) -> T | Callable[[T], T]:
    """``@valueclass`` or ``@valueclass(...)`` on a class: a dataclass, frozen and slotted unless told not."""
    def wrap(c: T) -> T:
        return _make(c, frozen=frozen, kw_only=kw_only, slots=slots, hot=hot)
    return wrap if cls is None else wrap(cls)
