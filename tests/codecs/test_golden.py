"""The codecs against the golden vectors in the top-level ``codecs/`` folder.

Each vector names a Python type (a spec string mapped by :data:`TYPES`), the JSON form of a
value (built into that type with msgspec, or pydantic for pydantic models), the exact encoded
bytes (hex), the content type and the JSON Schema. See ``codecs/README.md``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypedDict

import msgspec
import pytest

from restate_trio.codecs import BytesCodec, CborCodec, JsonCodec, PayloadCodec

GOLDEN = Path(__file__).resolve().parents[2] / "codecs"

try:
    import pydantic
except ImportError:  # pragma: no cover - pydantic is in the tests dependency group
    pydantic = None  # type: ignore[assignment]


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 10


@dataclass
class Point:
    x: int
    y: int = 0


@dataclass
class Order:
    id: int
    items: list[Point]
    color: Color
    tags: frozenset[str] = frozenset()
    note: str | None = None
    when: dt.datetime | None = None
    meta: dict[str, int] = field(default_factory=dict)


class Movie(TypedDict):
    title: str
    year: int


class Pair(NamedTuple):
    left: int
    right: str


class Inventory(msgspec.Struct):
    sku: str
    counts: dict[str, int]
    labels: set[str] = set()


TYPES: dict[str, object] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "None": None,
    "int | None": int | None,
    "list[int]": list[int],
    "list[str]": list[str],
    "dict[str,int]": dict[str, int],
    "dict[int,str]": dict[int, str],
    "tuple[int,str]": tuple[int, str],
    "set[str]": set[str],
    "frozenset[int]": frozenset[int],
    "bytes": bytes,
    "bytearray": bytearray,
    "bytes | None": bytes | None,
    "datetime": dt.datetime,
    "date": dt.date,
    "time": dt.time,
    "timedelta": dt.timedelta,
    "uuid": uuid.UUID,
    "decimal": decimal.Decimal,
    "Literal['a','b']": Literal["a", "b"],
    "Color": Color,
    "Level": Level,
    "Point": Point,
    "list[Point]": list[Point],
    "Point | None": Point | None,
    "Order": Order,
    "Movie": Movie,
    "Pair": Pair,
    "Inventory": Inventory,
    "object": object,
    "Any": Any,
}

if pydantic is not None:

    class User(pydantic.BaseModel):
        name: str
        email: str | None = None
        roles: frozenset[str] = frozenset()
        joined: dt.date | None = None
        login_count: int = pydantic.Field(default=0, alias="loginCount")

    @dataclass
    class Team:
        name: str
        members: list[User]

    TYPES |= {"User": User, "list[User]": list[User], "Team": Team}

PYDANTIC_TYPES = {"User", "list[User]", "Team"}
CODECS: dict[str, PayloadCodec] = {
    "json": JsonCodec(),
    "cbor": CborCodec(),
    "bytes": BytesCodec(),
}


def build(spec: str, value: object) -> object:
    """The Python value a vector describes: its JSON form converted into the spec's type."""
    tp = TYPES[spec]
    if spec == "float" and isinstance(value, str):
        return float(value)  # "NaN", "Infinity", "-Infinity"
    if spec in PYDANTIC_TYPES:
        return pydantic.TypeAdapter(tp).validate_python(value)
    return msgspec.convert(value, tp, str_keys=True)  # type: ignore[call-overload]


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, float) and isinstance(b, float) and a == 0.0:
        return b == 0.0 and math.copysign(1, a) == math.copysign(1, b)
    return a == b and type(a) is type(b)


def load(codec: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((GOLDEN / f"{codec}.json").read_text())
    return cases


def vectors() -> list[Any]:
    params = []
    for codec in CODECS:
        for case in load(codec):
            marks = []
            if case["python_type"] in PYDANTIC_TYPES and pydantic is None:
                marks.append(pytest.mark.skip(reason="pydantic is not installed"))
            params.append(pytest.param(codec, case, id=f"{codec}-{case['name']}", marks=marks))
    return params


def test_vector_files_are_well_formed() -> None:
    keys = {"name", "python_type", "value", "hex", "content_type", "json_schema"}
    for codec in CODECS:
        cases = load(codec)
        assert cases, codec
        names = [case["name"] for case in cases]
        assert len(names) == len(set(names)), f"{codec}: duplicate names"
        for case in cases:
            assert set(case) == keys, (codec, case["name"])
            assert case["python_type"] in TYPES or case["python_type"] in PYDANTIC_TYPES
            bytes.fromhex(case["hex"])
    assert not (GOLDEN / "__init__.py").exists(), "codecs/ holds data only"


@pytest.mark.parametrize(("codec_name", "case"), vectors())
def test_vector(codec_name: str, case: dict[str, Any]) -> None:
    codec = CODECS[codec_name]
    tp = TYPES[case["python_type"]]
    value = build(case["python_type"], case["value"])
    data = bytes.fromhex(case["hex"])
    assert codec.encode(value, tp).hex() == case["hex"]
    decoded = codec.decode(data, tp)  # type: ignore[arg-type]
    assert same(decoded, value), (decoded, value)
    assert codec.encode(decoded, tp) == data  # decode then encode reproduces the bytes
    assert codec.content_type == case["content_type"]
    assert codec.json_schema(tp) == case["json_schema"]
