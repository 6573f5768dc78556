"""The shared value-class mechanism (syndicate.value) behaves as the dataclass it stands for."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import KW_ONLY, field

import pytest

from syndicate.value import valueclass


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
class Checked:
    n: int
    double: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "double", self.n * 2)


@valueclass(frozen=False)
class Box:
    items: list[int] = field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class StdPoint:
    x: int
    y: int = 0
    tags: tuple[str, ...] = field(default=())
    seen: list[int] = field(default_factory=list, compare=False, repr=False)


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
    assert [f.name for f in dataclasses.fields(p)] == [f.name for f in dataclasses.fields(s)]
    assert dataclasses.asdict(p) == dataclasses.asdict(s)
    assert Point.__match_args__ == StdPoint.__match_args__
    assert Point.__slots__ == StdPoint.__slots__  # type: ignore[attr-defined]
    assert not hasattr(p, "__dict__")
    assert dataclasses.is_dataclass(p)
    assert p != s  # type: ignore[comparison-overlap]  # another class, as between two dataclasses


def test_frozen() -> None:
    p = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.x
    with pytest.raises(AttributeError):  # slotted: no other attribute either
        object.__setattr__(p, "other", 1)


def test_replace_defaults_and_factories() -> None:
    p = Point(1)
    assert (p.y, p.tags, p.seen) == (0, (), [])
    assert Point(1).seen is not Point(1).seen
    q = dataclasses.replace(p, y=5)
    assert q == Point(1, 5) and q is not p and p.y == 0
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_kw_only_and_post_init() -> None:
    assert Named(name="n").size == 1
    with pytest.raises(TypeError):
        Named("n")  # type: ignore[call-arg]
    assert Mixed(1, b=3).b == 3
    with pytest.raises(TypeError):
        Mixed(1, 3)  # type: ignore[call-arg]
    c = Checked(4)
    assert c.double == 8 and dataclasses.replace(c, n=5).double == 10
    with pytest.raises(TypeError):
        Checked(1, 2)  # type: ignore[call-arg]


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


def test_default_order_checked_as_a_dataclass() -> None:
    with pytest.raises(TypeError, match="non-default argument"):
        @valueclass
        class Bad:
            a: int = 0
            b: int  # type: ignore[misc]


def test_own_methods_kept() -> None:
    @valueclass
    class Own:
        a: int

        def __repr__(self) -> str:
            return "own"

    assert repr(Own(1)) == "own" and Own(1) == Own(1)
