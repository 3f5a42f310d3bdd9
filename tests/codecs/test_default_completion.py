"""Dataclasses decoded elsewhere (fields left at a plain default unset) encode completely.

The completion is guided by the declared type; these cases cover each route it can take.
"""

from __future__ import annotations

import dataclasses

import msgspec
import pytest

from restate_trio.codecs import CborCodec, JsonCodec, PayloadCodec


@dataclasses.dataclass
class Inner:
    x: int
    y: int = 0


@dataclasses.dataclass
class Outer:
    items: list[Inner]
    by_name: dict[str, Inner]
    maybe: Inner | None = None
    label: str = "none"


@dataclasses.dataclass
class Child(Inner):
    z: int = 5


CODECS = [JsonCodec(), CborCodec()]


def elsewhere(tp: object, data: object) -> object:
    """Decoded by msgspec outside our codecs: plain defaults stay unset on the instance."""
    return msgspec.convert(data, tp)


@pytest.mark.parametrize("codec", CODECS)
def test_nested_containers(codec: PayloadCodec) -> None:
    raw = {"items": [{"x": 1}], "by_name": {"a": {"x": 2}}, "maybe": {"x": 3}}
    value = elsewhere(Outer, raw)
    expected = Outer([Inner(1)], {"a": Inner(2)}, Inner(3))
    assert codec.encode(value, Outer) == codec.encode(expected, Outer)


@pytest.mark.parametrize("codec", CODECS)
def test_subclass_instances(codec: PayloadCodec) -> None:
    value = elsewhere(Child, {"x": 1})
    assert codec.encode(value, Inner) == codec.encode(Child(1), Inner)


@pytest.mark.parametrize("codec", CODECS)
def test_decoded_values_are_complete(codec: PayloadCodec) -> None:
    data = codec.encode(Outer([Inner(1)], {}), Outer)
    decoded = codec.decode(data, Outer)
    assert vars(decoded.items[0]) == {"x": 1, "y": 0}
    assert vars(decoded)["label"] == "none"
