"""plain.py: data classes as @dataclass makes them, checked against dataclasses itself."""

import dataclasses

import pytest

from tinydocker.plain import as_dict, factory, plain, replace


@plain(frozen=True)
class Inner:
    a: int
    b: tuple = ()


@plain
class Outer:
    name: str
    inner: Inner = Inner(1)
    extra: dict = factory(dict)


@dataclasses.dataclass(frozen=True)
class InnerDC:
    a: int
    b: tuple = ()


@dataclasses.dataclass
class OuterDC:
    name: str
    inner: InnerDC = InnerDC(1)
    extra: dict = dataclasses.field(default_factory=dict)


def test_construction_defaults_and_factories_as_dataclasses():
    one, two = Outer("x"), Outer(name="y", inner=Inner(2, (3,)))
    assert (one.name, one.inner, one.extra) == ("x", Inner(1), {})
    assert one.extra is not Outer("z").extra  # a fresh dict each
    assert two.inner.b == (3,)
    assert repr(Inner(1)) == "Inner(a=1, b=())" == repr(InnerDC(1)).replace("DC", "")
    with pytest.raises(TypeError):
        Outer()
    with pytest.raises(TypeError):
        Outer("x", name="y")
    with pytest.raises(TypeError):
        Inner(1, (), 3)


def test_equality_hashing_and_frozen_fields():
    assert Inner(1, (2,)) == Inner(1, (2,)) and Inner(1) != Inner(2) and Inner(1) != InnerDC(1)
    assert hash(Inner(1, (2,))) == hash(Inner(1, (2,)))
    with pytest.raises(AttributeError):
        Inner(1).a = 2
    with pytest.raises(TypeError):
        hash(Outer("x"))  # mutable: unhashable, as a non-frozen dataclass
    o = Outer("x")
    o.name = "y"
    assert o.name == "y"


def test_replace_and_as_dict_as_dataclasses_do():
    ours = Outer("x", Inner(1, (Inner(2),)), {"k": [Inner(3)]})
    theirs = OuterDC("x", InnerDC(1, (InnerDC(2),)), {"k": [InnerDC(3)]})
    assert as_dict(ours) == dataclasses.asdict(theirs)
    assert replace(Inner(1, (2,)), a=5) == Inner(5, (2,))
    with pytest.raises(TypeError):
        replace(Inner(1), c=2)
