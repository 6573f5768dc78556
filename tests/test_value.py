"""The shared value-class mechanism (syndicate.value) behaves as the dataclass it stands for."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import subprocess
import sys
import types
import typing
from typing import ClassVar

import pytest

from syndicate.value import (
    KW_ONLY,
    MISSING,
    FrozenInstanceError,
    asdict,
    field,
    fields,
    replace,
    valueclass,
)


@valueclass
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = field(default=())
    seen: list[int] = field(default_factory=list, compare=False, repr=False)


@valueclass(hot=True)
class HotPoint:
    x: int
    y: int = 0
    note: str = field(default="", compare=False)


@valueclass(kw_only=True)
class Named:
    name: str
    size: int = 1


@valueclass
class Mixed:
    a: int
    _: KW_ONLY
    b: int = 2


@valueclass
class MixedStd:  # dataclasses' own marker, as a module that imports dataclasses anyway writes it
    a: int
    _: dataclasses.KW_ONLY
    b: int = 2


@valueclass
class Checked:
    n: int
    double: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "double", self.n * 2)


@valueclass(frozen=False)
class Box:
    items: list[int] = field(default_factory=list)


@valueclass
class Counted:
    limit: ClassVar[int] = 3
    other: typing.ClassVar[str] = "kept"
    n: int = 0


@valueclass
class Base:
    a: int
    b: int = 1


@valueclass
class Derived(Base):
    c: int = 2
    b: int = 5  # a base's field declared again: its place kept, its default new


class Plain(Checked):
    """A subclass that is no value class: it inherits Checked's methods."""


@dataclasses.dataclass(frozen=True, slots=True)
class StdPoint:
    x: int
    y: int = 0
    tags: tuple[str, ...] = dataclasses.field(default=())
    seen: list[int] = dataclasses.field(default_factory=list, compare=False, repr=False)


@pytest.mark.parametrize("cls", [Point, HotPoint])
def test_eq_and_hash_over_compared_fields(cls: type) -> None:
    a, b = cls(1, 2), cls(1, 2)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != cls(1, 3) and a != (1, 2)
    assert (a == (1, 2)) is False


def test_compare_false_fields_left_out() -> None:
    assert Point(1, seen=[1]) == Point(1, seen=[2]) and hash(Point(1, seen=[1])) == hash(Point(1))
    assert HotPoint(1, note="a") == HotPoint(1, note="b")


def test_same_as_a_dataclass() -> None:
    p, s = Point(1, 2, ("t",)), StdPoint(1, 2, ("t",))
    assert repr(p) == repr(s).replace("StdPoint", "Point") == "Point(x=1, y=2, tags=('t',))"
    assert [f.name for f in fields(p)] == [f.name for f in dataclasses.fields(s)]
    assert asdict(p) == dataclasses.asdict(s)
    assert Point.__match_args__ == StdPoint.__match_args__
    assert Point.__slots__ == StdPoint.__slots__  # type: ignore[attr-defined]
    assert not hasattr(p, "__dict__")
    assert p != s  # type: ignore[comparison-overlap]  # another class, as between two dataclasses


def test_dataclasses_own_functions_take_a_value() -> None:
    """(pytest's diffs and anything that imports dataclasses anyway see a dataclass.)"""
    p = Point(1, 2, ("t",))
    assert dataclasses.is_dataclass(p)
    assert [f.name for f in dataclasses.fields(p)] == ["x", "y", "tags", "seen"]
    assert dataclasses.replace(p, y=5) == Point(1, 5, ("t",))
    assert dataclasses.asdict(p) == {"x": 1, "y": 2, "tags": ("t",), "seen": []}
    assert dataclasses.replace(Checked(2), n=3).double == 6


def test_the_light_modules_load_no_dataclasses() -> None:
    code = ("import sys, syndicate.value, syndicate.models, syndicate.config;"
            "print(sorted(m for m in ('dataclasses', 'inspect', 'copy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_fields_as_dataclasses_has_them() -> None:
    x, y, tags, seen = fields(Point)
    assert (x.name, x.default, x.default_factory, x.init, x.kw_only) == ("x", MISSING, MISSING, True, False)
    assert (y.default, tags.default, seen.default_factory, seen.compare, seen.repr) == (0, (), list, False, False)
    assert x.type == "int" and fields(Point(1)) == fields(Point)
    assert [f.name for f in fields(Named) if f.kw_only] == ["name", "size"]
    with pytest.raises(TypeError):
        fields(object())
    meta = field(default=1, metadata={"dump": False})
    assert meta.metadata["dump"] is False and dict(field().metadata) == {}
    with pytest.raises(ValueError, match="both default and default_factory"):
        field(default=1, default_factory=int)


def test_frozen() -> None:
    p = Point(1)
    with pytest.raises(FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del p.x
    assert issubclass(FrozenInstanceError, AttributeError)
    with pytest.raises(AttributeError):  # slotted: no other attribute either
        object.__setattr__(p, "other", 1)


def test_replace_defaults_and_factories() -> None:
    p = Point(1)
    assert (p.y, p.tags, p.seen) == (0, (), [])
    assert Point(1).seen is not Point(1).seen
    q = replace(p, y=5)
    assert q == Point(1, 5) and q is not p and p.y == 0
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="init=False"):
        replace(Checked(1), double=3)
    with pytest.raises(TypeError):
        replace(object())


def test_asdict_goes_into_values_and_containers() -> None:
    @valueclass
    class Holder:
        points: list[Point]
        by_name: dict[str, Point]
        pair: tuple[Point, int]
        bag: frozenset[int] = frozenset()
        odd: set[int] = field(default_factory=set)

    held = Holder([Point(1)], {"a": Point(2)}, (Point(3), 4), odd={5})
    out = asdict(held)
    assert out == {"points": [{"x": 1, "y": 0, "tags": (), "seen": []}],
                   "by_name": {"a": {"x": 2, "y": 0, "tags": (), "seen": []}},
                   "pair": ({"x": 3, "y": 0, "tags": (), "seen": []}, 4), "bag": frozenset(), "odd": {5}}
    assert out["odd"] is not held.odd  # deep-copied, as dataclasses.asdict does
    assert out == dataclasses.asdict(held)
    with pytest.raises(TypeError):
        asdict({"a": 1})


def test_kw_only_and_post_init() -> None:
    assert Named(name="n").size == 1
    with pytest.raises(TypeError):
        Named("n")  # type: ignore[call-arg]
    for cls in (Mixed, MixedStd):
        assert cls(1, b=3).b == 3 and cls.__match_args__ == ("a",)
        with pytest.raises(TypeError):
            cls(1, 3)  # type: ignore[call-arg]
    c = Checked(4)
    assert c.double == 8 and replace(c, n=5).double == 10
    with pytest.raises(TypeError):
        Checked(1, 2)  # type: ignore[call-arg]


def test_class_vars_are_no_fields() -> None:
    assert [f.name for f in fields(Counted)] == ["n"]
    assert Counted.limit == 3 and Counted.other == "kept" and Counted(2) == Counted(n=2)
    assert repr(Counted(1)) == "Counted(n=1)"


def test_fields_inherited_in_a_dataclasss_order() -> None:
    assert [f.name for f in fields(Derived)] == ["a", "b", "c"]
    d = Derived(1)
    assert (d.a, d.b, d.c) == (1, 5, 2) and repr(d) == "Derived(a=1, b=5, c=2)"
    assert Derived(1, 2, 3) == Derived(1, 2, 3) != Base(1, 2)
    assert isinstance(d, Base) and replace(d, c=9).c == 9
    assert pickle.loads(pickle.dumps(d)) == d
    with pytest.raises(TypeError, match="non-frozen"):
        @valueclass(frozen=False)
        class Thawed(Base):
            z: int = 0


def test_init_is_written_when_first_used() -> None:
    @valueclass
    class Late:
        a: int
        b: str = "b"
        c: list[int] = field(default_factory=list)

    assert not isinstance(Late.__dict__["__init__"], types.FunctionType)  # made, but nothing compiled
    late = Late(1)
    assert isinstance(Late.__dict__["__init__"], types.FunctionType)
    assert (late.a, late.b, late.c) == (1, "b", []) and Late(1, "x", [2]).c == [2]
    assert list(inspect.signature(Late).parameters) == ["a", "b", "c"]
    with pytest.raises(TypeError, match=r"Late.__init__\(\) missing 1 required positional argument: 'a'"):
        Late()  # type: ignore[call-arg]


def test_a_stub_found_before_another_thread_wrote_the_method_gives_that_method() -> None:
    @valueclass(hot=True)
    class Raced:
        a: int

    stubs = {name: Raced.__dict__[name] for name in ("__init__", "__eq__", "__hash__")}
    one = Raced(1)
    assert one == Raced(1) and hash(one) == hash((1,))  # all three written now
    for name, stub in stubs.items():  # as a lookup that found the stub just before would go on
        assert stub.__get__(None, Raced) is Raced.__dict__[name]
        assert stub.__get__(one, Raced).__func__ is Raced.__dict__[name]
    two = object.__new__(Raced)
    stubs["__init__"].__get__(two, Raced)(2)
    assert two == Raced(2)


def test_a_subclass_writes_what_it_inherits_on_its_base() -> None:
    @valueclass
    class Root:
        a: int

        def __post_init__(self) -> None:
            object.__setattr__(self, "a", self.a + 1)

    class Leaf(Root):
        pass

    @valueclass
    class Branch(Root):
        b: int = 0

    assert Leaf(1).a == 2 and isinstance(Root.__dict__["__init__"], types.FunctionType)
    assert "__init__" not in Leaf.__dict__ and Root(1).a == 2
    assert not isinstance(Branch.__dict__["__init__"], types.FunctionType)  # its own, not yet written
    assert Branch(1, 3) == Branch(a=1, b=3) and Branch(1).a == 2  # the inherited __post_init__ runs

    class Own(Root):
        def __init__(self, a: int) -> None:
            super().__init__(a * 10)

    assert Own(1).a == 11
    assert Plain(3).double == 6 and isinstance(Plain(3), Checked)


def test_hot_methods_written_when_first_used() -> None:
    @valueclass(hot=True)
    class Key:
        a: int
        b: str

    assert not isinstance(Key.__dict__["__eq__"], types.FunctionType)
    assert not isinstance(Key.__dict__["__hash__"], types.FunctionType)
    assert Key(1, "x") == Key(1, "x") and hash(Key(1, "x")) == hash((1, "x"))
    assert isinstance(Key.__dict__["__eq__"], types.FunctionType)
    assert isinstance(Key.__dict__["__hash__"], types.FunctionType)
    assert Key(1, "x") != Key(1, "y") and (Key(1, "x") == (1, "x")) is False


def test_mutable() -> None:
    b = Box()
    b.items.append(1)
    b.items = [2]
    assert b == Box([2]) and repr(b) == "Box(items=[2])"
    with pytest.raises(TypeError):
        hash(b)


def test_pickles() -> None:
    p = Point(1, 2, ("t",), [3])
    q = pickle.loads(pickle.dumps(p))
    assert q == p and q.seen == [3]
    assert pickle.loads(pickle.dumps(HotPoint(1, note="n"))).note == "n"


def test_mistakes_refused_as_a_dataclass_refuses_them() -> None:
    with pytest.raises(TypeError, match="non-default argument"):
        @valueclass
        class Bad:
            a: int = 0
            b: int  # type: ignore[misc]
    with pytest.raises(ValueError, match="mutable default"):
        @valueclass
        class Shared:
            a: list[int] = []
    with pytest.raises(TypeError, match="no type annotation"):
        @valueclass
        class Unnamed:
            a = field(default=1)
    with pytest.raises(TypeError, match="syndicate.value.field"):
        @valueclass
        class Foreign:
            a: int = dataclasses.field(default=1)


def test_own_methods_kept() -> None:
    @valueclass
    class Own:
        a: int

        def __repr__(self) -> str:
            return "own"

    assert repr(Own(1)) == "own" and Own(1) == Own(1)

    @valueclass
    class OwnEq:
        a: int

        def __eq__(self, other: object) -> bool:
            return True

    assert OwnEq(1) == OwnEq(2) and hash(OwnEq(1)) == hash(OwnEq(1))  # frozen: hashed, as a dataclass
