"""Unit and property tests of the payload codecs (``restate_trio.codecs``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import doctest
import enum
import json
import math
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, NewType, TypedDict

import cbor2
import msgspec
import pydantic
import pytest
from hypothesis import given, strategies as st

import restate_trio.codecs as codecs_module
from restate_trio.codecs import (
    DEFAULT_CODEC,
    BytesCodec,
    CborCodec,
    CodecError,
    JsonCodec,
    PayloadCodec,
    _typed,
)

ROOT = Path(__file__).resolve().parents[2]
JSON = JsonCodec()
CBOR = CborCodec()
RAW = BytesCodec()
TYPED: list[PayloadCodec] = [JSON, CBOR]


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Flag(enum.IntFlag):
    A = 1
    B = 2


@dataclass
class Point:
    x: int
    y: int = 0


@dataclass(frozen=True)
class Frozen:
    point: Point
    label: str = "none"
    tags: frozenset[str] = frozenset()


@dataclass(slots=True)
class Slotted:
    a: int
    b: int = 2


@dataclass
class Everything:
    when: dt.datetime
    day: dt.date
    at: dt.time
    span: dt.timedelta
    id: uuid.UUID
    amount: decimal.Decimal
    color: Color
    blob: bytes
    numbers: set[int]
    pairs: dict[int, str]
    maybe: int | None = None
    points: list[Point] = field(default_factory=list)


class Movie(TypedDict):
    title: str
    year: int


class Pair(NamedTuple):
    left: int
    right: str


class Inventory(msgspec.Struct):
    sku: str
    labels: set[str] = set()


class User(pydantic.BaseModel):
    name: str
    roles: set[str] = set()
    raw: bytes = b""
    joined: dt.datetime | None = None
    login_count: int = pydantic.Field(default=0, alias="loginCount")


@dataclass
class Team:
    name: str
    members: list[User]


UserId = NewType("UserId", int)

NOW = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)

ROUND_TRIPS: list[tuple[object, object]] = [
    (int, 0),
    (int, -(2**100)),
    (float, 1.25),
    (float, -0.0),
    (str, "grüß dich 水"),
    (bool, False),
    (None, None),
    (type(None), None),
    (int | None, None),
    (int | None, 3),
    (list[int], [3, 1, 2]),
    (list[str], []),
    (dict[str, int], {"b": 2, "a": 1}),
    (dict[int, str], {10: "x", 2: "y"}),
    (dict[Color, int], {Color.RED: 1}),
    (tuple[int, str, bool], (1, "a", True)),
    (tuple[int, ...], (1, 2, 3)),
    (set[str], {"b", "a"}),
    (frozenset[int], frozenset({5, 1})),
    (bytes, b"\x00\xff\x10"),
    (bytearray, bytearray(b"ab")),
    (dt.datetime, NOW),
    (dt.datetime, NOW.replace(tzinfo=None)),
    (dt.datetime, NOW.astimezone(dt.timezone(dt.timedelta(hours=-5)))),
    (dt.date, dt.date(2024, 2, 29)),
    (dt.time, dt.time(23, 59, 1)),
    (dt.timedelta, dt.timedelta(days=-1, microseconds=5)),
    (uuid.UUID, uuid.UUID(int=2**127)),
    (decimal.Decimal, decimal.Decimal("-0.000100")),
    (Color, Color.GREEN),
    (Flag, Flag.A | Flag.B),
    (Literal["x", "y"], "y"),
    (Annotated[int, msgspec.Meta(ge=0)], 5),
    (UserId, UserId(7)),
    (Point, Point(1, 2)),
    (Point | None, Point(3)),
    (list[Point], [Point(1), Point(2, 3)]),
    (dict[str, Point], {"p": Point(4)}),
    (Frozen, Frozen(Point(1), tags=frozenset({"a"}))),
    (Slotted, Slotted(1)),
    (
        Everything,
        Everything(
            when=NOW,
            day=dt.date(2020, 1, 1),
            at=dt.time(1, 2, 3),
            span=dt.timedelta(seconds=90),
            id=uuid.UUID(int=1),
            amount=decimal.Decimal("3.14"),
            color=Color.RED,
            blob=b"\x01",
            numbers={3, 1, 2},
            pairs={2: "b", 1: "a"},
            points=[Point(0)],
        ),
    ),
    (Movie, Movie(title="Alien", year=1979)),
    (Pair, Pair(1, "x")),
    (Inventory, Inventory("A-1", {"z", "a"})),
    (User, User(name="ada", roles={"b", "a"}, raw=b"text", joined=NOW, loginCount=2)),
    (list[User], [User(name="bob")]),
    (User | None, None),
    (Team, Team("core", [User(name="cy")])),
]


def _id(tp: object) -> str:
    return _typed.type_name(tp)


# --- the protocol ----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", [JSON, CBOR, RAW], ids=repr)
def test_builtins_implement_the_protocol(codec: PayloadCodec) -> None:
    assert isinstance(codec, PayloadCodec)
    assert codec.deterministic is True
    assert isinstance(codec.content_type, str)
    assert isinstance(codec.set_content_type_if_empty, bool)


def test_metadata() -> None:
    assert isinstance(DEFAULT_CODEC, JsonCodec)
    assert (JSON.content_type, CBOR.content_type, RAW.content_type) == (
        "application/json",
        "application/cbor",
        "application/octet-stream",
    )
    assert not JSON.set_content_type_if_empty
    assert not CBOR.set_content_type_if_empty
    assert RAW.set_content_type_if_empty
    for codec in TYPED:
        assert codec.input_required(int)
        assert codec.input_required(Point)
        assert not codec.input_required(int | None)
        assert not codec.input_required(object)
        assert not codec.input_required(Any)
        assert not codec.input_required(None)
        assert not codec.input_required(Annotated[Point | None, "doc"])
    assert not RAW.input_required(bytes)
    assert not RAW.input_required(bytes | None)
    assert [repr(c) for c in (JSON, CBOR, RAW)] == ["JsonCodec()", "CborCodec()", "BytesCodec()"]


def test_public_names() -> None:
    assert set(codecs_module.__all__) == {
        "DEFAULT_CODEC",
        "BytesCodec",
        "CborCodec",
        "CodecError",
        "JsonCodec",
        "JsonSchema",
        "PayloadCodec",
    }
    assert CodecError.__module__ == "restate_trio.codecs"
    assert issubclass(CodecError, ValueError)


class TextCodec:
    """A user-written codec, as in the PayloadCodec documentation."""

    content_type = "text/plain; charset=utf-8"
    set_content_type_if_empty = False
    deterministic = True

    def encode(self, value: object, tp: object = object) -> bytes:
        if not isinstance(value, str):
            raise CodecError(f"TextCodec encodes str, not {type(value).__name__}")
        return value.encode()

    def decode(self, data: bytes, tp: Any) -> Any:
        return data.decode()

    def json_schema(self, tp: object) -> dict[str, object] | None:
        return {"type": "string"}

    def input_required(self, tp: object) -> bool:
        return False


def test_user_codec_satisfies_the_protocol() -> None:
    codec: PayloadCodec = TextCodec()  # statically checked by mypy/pyright in strict mode
    assert isinstance(codec, PayloadCodec)
    assert codec.decode(codec.encode("hé"), str) == "hé"
    assert not isinstance(object(), PayloadCodec)


def test_doctests() -> None:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests: dict[str, doctest.DocTest] = {}
    for module in (codecs_module, _typed):
        for test in finder.find(module):
            tests[test.name] = test
    # Methods of the re-exported classes (whose __module__ is the package).
    globs = vars(codecs_module)
    for cls in (JsonCodec, CborCodec, BytesCodec, PayloadCodec, CodecError):
        name = f"restate_trio.codecs.{cls.__name__}"
        for test in finder.find(cls, name, module=False, globs=dict(globs)):
            tests.setdefault(test.name, test)
    for test in tests.values():
        runner.run(test)
    failed, tried = runner.summarize(verbose=False)
    assert tried >= 25
    assert failed == 0


def test_pydantic_is_imported_lazily() -> None:
    script = (
        "import sys, dataclasses\n"
        "from restate_trio.codecs import JsonCodec, CborCodec\n"
        "@dataclasses.dataclass\n"
        "class P:\n"
        "    x: int\n"
        "for c in (JsonCodec(), CborCodec()):\n"
        "    assert c.decode(c.encode(P(1), P), P) == P(1)\n"
        "    c.json_schema(P)\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", TYPED, ids=repr)
@pytest.mark.parametrize(("tp", "value"), ROUND_TRIPS, ids=[_id(tp) for tp, _ in ROUND_TRIPS])
def test_round_trip(codec: PayloadCodec, tp: Any, value: object) -> None:
    data = codec.encode(value, tp)
    back = codec.decode(data, tp)
    assert back == value
    assert type(back) is type(value)
    assert codec.encode(back, tp) == data


@pytest.mark.parametrize("codec", TYPED, ids=repr)
def test_dataclass_input_arrives_as_dataclass(codec: PayloadCodec) -> None:
    data = codec.encode({"x": 1, "y": 2})
    assert codec.decode(data, Point) == Point(1, 2)
    assert codec.decode(data, dict[str, int]) == {"x": 1, "y": 2}
    assert codec.decode(data, object) == {"x": 1, "y": 2}  # untyped: plain data


@pytest.mark.parametrize("codec", TYPED, ids=repr)
def test_untyped_values_encode_like_typed(codec: PayloadCodec) -> None:
    # State values are encoded without a declared type.
    for tp, value in ROUND_TRIPS:
        assert codec.encode(value) == codec.encode(value, tp)


@pytest.mark.parametrize("codec", TYPED, ids=repr)
def test_empty_payload(codec: PayloadCodec) -> None:
    assert codec.decode(b"", int | None) is None
    assert codec.decode(b"", object) is None
    assert codec.decode(b"", type(None)) is None
    with pytest.raises(CodecError, match=r"into int: empty payload"):
        codec.decode(b"", int)


# --- dataclass defaults (msgspec leaves plain defaults out of a decoded instance's __dict__) ---


@pytest.mark.parametrize("codec", TYPED, ids=repr)
def test_decoded_dataclasses_encode_like_constructed_ones(codec: PayloadCodec) -> None:
    decoded = codec.decode(codec.encode({"x": 7}), Point)
    assert vars(decoded) == {"x": 7, "y": 0}
    assert codec.encode(decoded) == codec.encode(Point(7))
    nested = codec.decode(codec.encode({"a": [{"point": {"x": 1}}]}), dict[str, list[Frozen]])
    assert codec.encode(nested) == codec.encode({"a": [Frozen(Point(1))]})
    assert vars(nested["a"][0]) == {"point": Point(1), "label": "none", "tags": frozenset()}


@pytest.mark.parametrize("codec", TYPED, ids=repr)
def test_dataclasses_decoded_elsewhere_encode_completely(codec: PayloadCodec) -> None:
    incomplete = msgspec.convert({"x": 7}, Point)
    assert "y" not in vars(incomplete)  # the msgspec behaviour this guards against
    assert codec.encode(incomplete) == codec.encode(Point(7))
    assert codec.encode(incomplete, Point) == codec.encode(Point(7))
    holder = msgspec.convert({"point": {"x": 7}}, Frozen)
    assert codec.encode(holder, Frozen) == codec.encode(Frozen(Point(7)))


@dataclass
class Node:
    name: str
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None
    weight: int = 1


@pytest.mark.parametrize("codec", TYPED, ids=repr)
def test_cyclic_values_fail_cleanly(codec: PayloadCodec) -> None:
    root = Node("root")
    root.children.append(Node("leaf", parent=root))
    with pytest.raises(CodecError):
        codec.encode(root, Node)
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(CodecError):
        codec.encode(loop)


def test_json_dataclass_fields_are_sorted_whatever_the_attribute_order() -> None:
    point = msgspec.json.decode(b'{"y": 2, "x": 1}', type=Point)
    assert list(vars(point)) == ["y", "x"]
    assert JSON.encode(point) == JSON.encode(Point(1, 2)) == b'{"x":1,"y":2}'


# --- JSON --------------------------------------------------------------------------------------


def test_json_encoding_rules() -> None:
    assert JSON.encode({"b": 1, "a": {"d": 1, "c": 2}}) == b'{"a":{"c":2,"d":1},"b":1}'
    assert JSON.encode({2: "x", 10: "y"}) == b'{"10":"y","2":"x"}'
    assert JSON.encode({"z", "a", "m"}) == b'["a","m","z"]'
    assert JSON.encode(b"\x00\xff") == b'"AP8="'
    assert JSON.encode(memoryview(b"hi")) == b'"aGk="'
    assert JSON.encode(2**64) == b"18446744073709551616"
    assert (
        JSON.encode([2**70, {"b": 1.5, "a": "x"}]) == b'[1180591620717411303424,{"a":"x","b":1.5}]'
    )
    assert JSON.encode(NOW) == b'"2024-05-06T07:08:09.123456Z"'
    assert JSON.encode(dt.timedelta(minutes=1)) == b'"PT60S"'
    assert JSON.encode(decimal.Decimal("1.50")) == b'"1.50"'
    assert JSON.encode(Pair(1, "a")) == b'[1,"a"]'
    assert JSON.encode(Inventory("x", {"b", "a"})) == b'{"labels":["a","b"],"sku":"x"}'
    assert JSON.encode(Color.RED) == b'"red"'
    assert JSON.encode("é") == '"é"'.encode()


def test_json_non_finite_floats_become_null() -> None:
    assert JSON.encode([math.nan, math.inf, -math.inf]) == b"[null,null,null]"
    assert JSON.decode(JSON.encode(math.nan), float | None) is None


def test_json_pydantic_rules() -> None:
    user = User(name="ada", roles={"z", "a", "m"}, raw=b"hi", loginCount=3)
    data = JSON.encode(user)
    assert data == b'{"joined":null,"loginCount":3,"name":"ada","raw":"hi","roles":["a","m","z"]}'
    assert JSON.decode(data, User) == user
    # Lax pydantic validation, pydantic's message.
    assert JSON.decode(b'{"name": "x", "loginCount": "5"}', User).login_count == 5
    with pytest.raises(CodecError, match=r"cannot decode JSON into User: .*name"):
        JSON.decode(b'{"roles": []}', User)
    with pytest.raises(CodecError, match=r"cannot decode JSON into User"):
        JSON.decode(b"{", User)
    with pytest.raises(CodecError, match=r"cannot encode User as JSON"):
        JSON.encode(User(name="x", raw=b"\xff"))  # pydantic writes bytes as UTF-8


def test_json_decode_is_strict() -> None:
    with pytest.raises(CodecError, match=r"into int: Expected `int`, got `str`"):
        JSON.decode(b'"5"', int)
    assert JSON.decode(b"5", float) == 5.0
    with pytest.raises(CodecError, match=r"into Point: Object missing required field `x`"):
        JSON.decode(b"{}", Point)
    with pytest.raises(CodecError, match=r"into list\[Point\]: .* at `\$\[0\]\.y`"):
        JSON.decode(b'[{"x": 1, "y": "2"}]', list[Point])
    with pytest.raises(CodecError, match=r"into int: JSON is malformed: trailing characters"):
        JSON.decode(b"1 2", int)
    with pytest.raises(CodecError, match=r"into object: maximum recursion depth"):
        JSON.decode(b"[" * 100_000, object)


# --- CBOR --------------------------------------------------------------------------------------


def test_cbor_encoding_rules() -> None:
    assert CBOR.encode({"b": 1, "aa": 2, "a": 3}).hex() == "a3616103616201626161" + "02"
    assert CBOR.encode({10: "x", 2: "y"}).hex() == "a20261790a6178"
    assert CBOR.encode(b"\x01").hex() == "4101"
    assert CBOR.encode(bytearray(b"\x01")).hex() == "4101"
    assert CBOR.encode([memoryview(b"\x01")]).hex() == "814101"
    assert CBOR.encode(1.0).hex() == "f93c00"
    assert CBOR.encode(3.4028234663852886e38).hex() == "fa7f7fffff"
    assert CBOR.encode(math.nan).hex() == "f97e00"
    assert CBOR.encode(2**64).hex() == "c249010000000000000000"
    assert CBOR.encode({3, 1, 2}).hex() == "83010203"
    assert CBOR.encode(NOW.date()).hex() == "6a323032342d30352d3036"  # text, as in JSON


def test_cbor_accepts_standard_tags_where_types_expect_them() -> None:
    epoch = bytes.fromhex("c11a514b67b0")  # tag 1: 2013-03-21T20:04:00Z
    assert CBOR.decode(epoch, dt.datetime) == dt.datetime(2013, 3, 21, 20, 4, tzinfo=dt.UTC)
    rfc3339 = cbor2.dumps(NOW)  # tag 0
    assert CBOR.decode(rfc3339, dt.datetime) == NOW
    assert CBOR.decode(cbor2.dumps(uuid.UUID(int=9)), uuid.UUID) == uuid.UUID(int=9)
    assert CBOR.decode(cbor2.dumps(decimal.Decimal("1.5")), decimal.Decimal) == decimal.Decimal(
        "1.5"
    )
    assert CBOR.decode(cbor2.dumps({1, 2}), set[int]) == {1, 2}  # tag 258
    assert CBOR.decode(bytes.fromhex("d9d9f701"), int) == 1  # self-described CBOR


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("0102", "1 trailing byte"),
        ("9f01ff", "indefinite length"),
        ("a201010102", "Duplicate map key"),
        ("81" * 300 + "00", "nesting depth"),
        ("d81c81d81d00", "tag 29 is not supported"),  # value sharing: a cyclic list
        ("d8236161", "tag 35 is not supported"),  # regular expression
        ("d8246161", "tag 36 is not supported"),  # MIME message
        ("d9ffff01", "tag 65535 is not supported"),  # unknown tag
        ("18", "premature end of stream"),
        ("61ff", "utf-8"),
        ("1c", ""),  # reserved additional information
    ],
)
def test_cbor_decoder_is_hardened(payload: str, message: str) -> None:
    with pytest.raises(CodecError, match=rf"cannot decode CBOR into object: .*{message}"):
        CBOR.decode(bytes.fromhex(payload), object)


def test_cbor_decode_is_strict() -> None:
    with pytest.raises(CodecError, match=r"into int: Expected `int`, got `str`"):
        CBOR.decode(CBOR.encode("5"), int)
    with pytest.raises(CodecError, match=r"into int: Expected `int`, got `float`"):
        CBOR.decode(CBOR.encode(1.0), int)
    with pytest.raises(CodecError, match=r"into bytes: Expected `bytes`, got `str`"):
        CBOR.decode(CBOR.encode("AAE="), bytes)
    with pytest.raises(CodecError, match=r"into Point: .* at `\$\.x`"):
        CBOR.decode(CBOR.encode({"x": "1"}), Point)
    with pytest.raises(CodecError, match=r"into User: .*name"):
        CBOR.decode(CBOR.encode({}), User)


def test_cbor_pydantic_keeps_bytes_binary() -> None:
    user = User(name="x", raw=b"\xff\x00", roles={"b", "a"})
    data = CBOR.encode(user)
    assert cbor2.loads(data)["raw"] == b"\xff\x00"
    assert cbor2.loads(data)["roles"] == ["a", "b"]
    assert CBOR.decode(data, User) == user


# --- errors ------------------------------------------------------------------------------------


class Opaque:
    pass


@pytest.mark.parametrize("codec", TYPED, ids=repr)
def test_encode_errors(codec: PayloadCodec) -> None:
    with pytest.raises(CodecError, match=r"cannot encode Opaque as (JSON|CBOR): .*Opaque"):
        codec.encode(Opaque())
    with pytest.raises(CodecError, match=r"cannot encode list as (JSON|CBOR): .*Opaque"):
        codec.encode([1, Opaque()])
    with pytest.raises(CodecError, match=r"cannot encode set as"):
        codec.encode({1, "a"})  # no deterministic order
    with pytest.raises(CodecError, match=r"cannot encode complex as"):
        codec.encode(1j)


def test_mixed_key_types() -> None:
    assert JSON.encode({1: "a", "b": 2}) == b'{"1":"a","b":2}'
    with pytest.raises(CodecError, match=r"cannot encode dict as CBOR"):
        CBOR.encode({1: "a", "b": 2})


@pytest.mark.parametrize("codec", TYPED, ids=repr)
def test_decode_errors_name_the_type(codec: PayloadCodec) -> None:
    data = codec.encode({"x": 1})
    with pytest.raises(CodecError, match=r"into Opaque: Expected `Opaque`"):
        codec.decode(data, Opaque)
    with pytest.raises(CodecError, match=r"into int \| None: Expected `int \| null`"):
        codec.decode(data, int | None)
    with pytest.raises(CodecError, match=r"type .* is not supported"):
        codec.decode(data, list[int] | set[int])  # type: ignore[arg-type]


def test_codec_error_is_what_the_sdk_catches() -> None:
    # The invocation layer turns CodecError into a terminal 400 (input) or a retry (output).
    with pytest.raises(ValueError, match="cannot decode"):
        JSON.decode(b"nope", int)


# --- raw bytes -----------------------------------------------------------------------------------


def test_bytes_codec() -> None:
    assert RAW.encode(b"\x00") == b"\x00"
    assert RAW.encode(bytearray(b"\x01")) == b"\x01"
    assert RAW.encode(memoryview(b"\x02")) == b"\x02"
    assert RAW.encode(None) == b""
    assert RAW.decode(b"", bytes) == b""
    assert RAW.decode(b"\x03", object) == b"\x03"
    assert RAW.decode(b"\x03", Any) == b"\x03"
    assert RAW.decode(b"\x03", bytes | None) == b"\x03"
    assert RAW.decode(b"", bytes | None) == b""
    assert RAW.decode(b"\x04", Annotated[bytes, "doc"]) == b"\x04"
    assert type(RAW.decode(b"\x05", bytearray)) is bytearray
    assert bytes(RAW.decode(b"\x06", memoryview)) == b"\x06"
    assert RAW.decode(b"", None) is None
    assert RAW.json_schema(bytes) is None
    with pytest.raises(CodecError, match=r"cannot encode str as raw bytes"):
        RAW.encode("x")
    with pytest.raises(CodecError, match=r"cannot decode raw bytes into str"):
        RAW.decode(b"x", str)
    with pytest.raises(CodecError, match=r"into int \| bytes"):
        RAW.decode(b"x", int | bytes)
    with pytest.raises(CodecError, match=r"1 raw byte\(s\) into None"):
        RAW.decode(b"x", None)


# --- JSON Schema -----------------------------------------------------------------------------


def _refs(schema: object) -> list[str]:
    if isinstance(schema, dict):
        found = [v for k, v in schema.items() if k == "$ref"]
        return found + [r for v in schema.values() for r in _refs(v)]
    if isinstance(schema, list):
        return [r for v in schema for r in _refs(v)]
    return []


@pytest.mark.parametrize(("tp", "_value"), ROUND_TRIPS, ids=[_id(tp) for tp, _ in ROUND_TRIPS])
def test_json_schemas_are_self_contained(tp: object, _value: object) -> None:
    schema = JSON.json_schema(tp)
    if tp is None or tp is type(None):
        assert schema == {"type": "null"}
    assert schema is not None
    json.dumps(schema)  # plain JSON data
    for ref in _refs(schema):
        assert isinstance(ref, str)
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"]  # type: ignore[operator]
    assert CBOR.json_schema(tp) == schema  # the logical type's schema


def test_json_schemas() -> None:
    assert JSON.json_schema(int) == {"type": "integer"}
    assert JSON.json_schema(object) is None  # untyped: no schema
    assert JSON.json_schema(Any) is None
    assert JSON.json_schema(dict[str, object]) == {"type": "object", "additionalProperties": {}}
    assert JSON.json_schema(Opaque) is None
    assert JSON.json_schema(list[Opaque]) is None
    point = JSON.json_schema(Point)
    assert point == {
        "$ref": "#/$defs/Point",
        "$defs": {
            "Point": {
                "title": "Point",
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}},
                "required": ["x"],
            }
        },
    }
    user = JSON.json_schema(User)
    assert user is not None
    assert user["type"] == "object"
    assert "loginCount" in user["properties"]  # type: ignore[operator]


# --- property tests ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_data = st.recursive(
    scalars,
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(json_data)
def test_json_round_trips_plain_data(value: object) -> None:
    assert JSON.decode(JSON.encode(value), object) == value


@given(json_data)
def test_cbor_round_trips_plain_data(value: object) -> None:
    assert CBOR.decode(CBOR.encode(value), object) == value


@given(st.integers(), st.text(), st.binary(), st.booleans())
def test_round_trips_primitives(number: int, text: str, blob: bytes, flag: bool) -> None:
    for codec in TYPED:
        assert codec.decode(codec.encode(number), int) == number
        assert codec.decode(codec.encode(text), str) == text
        assert codec.decode(codec.encode(blob), bytes) == blob
        assert codec.decode(codec.encode(flag), bool) is flag
    assert RAW.decode(RAW.encode(blob), bytes) == blob


@given(st.floats())
def test_cbor_floats_are_exact(number: float) -> None:
    back = CBOR.decode(CBOR.encode(number), float)
    assert back == number or (math.isnan(back) and math.isnan(number))
    assert math.copysign(1, back) == math.copysign(1, number) or math.isnan(number)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_json_floats_are_exact(number: float) -> None:
    back = JSON.decode(JSON.encode(number), float)
    assert back == number
    assert math.copysign(1, back) == math.copysign(1, number)


@given(
    st.lists(st.integers(-(2**70), 2**70)),
    st.dictionaries(st.text(), st.lists(st.text(), max_size=3)),
    st.tuples(
        st.integers(), st.text(), st.none() | st.floats(allow_nan=False, allow_infinity=False)
    ),
    st.frozensets(st.text()),
    st.sets(st.integers()),
    st.dictionaries(st.integers(), st.booleans()),
)
def test_round_trips_containers(
    numbers: list[int],
    groups: dict[str, list[str]],
    triple: tuple[int, str, float | None],
    words: frozenset[str],
    ints: set[int],
    flags: dict[int, bool],
) -> None:
    for codec in TYPED:
        assert codec.decode(codec.encode(numbers), list[int]) == numbers
        assert codec.decode(codec.encode(groups), dict[str, list[str]]) == groups
        tp = tuple[int, str, float | None]
        assert codec.decode(codec.encode(triple), tp) == triple
        assert codec.decode(codec.encode(words), frozenset[str]) == words
        assert codec.decode(codec.encode(ints), set[int]) == ints
        assert codec.decode(codec.encode(flags), dict[int, bool]) == flags


@given(st.dictionaries(st.text(), st.integers(), min_size=1), st.randoms())
def test_equal_values_give_equal_bytes(mapping: dict[str, int], rnd: Any) -> None:
    keys = list(mapping)
    rnd.shuffle(keys)
    shuffled = {key: mapping[key] for key in keys}
    for codec in TYPED:
        assert codec.encode(shuffled) == codec.encode(mapping)
        assert codec.encode(set(keys)) == codec.encode(frozenset(mapping))


@given(st.builds(Point, st.integers(), st.integers()), st.text())
def test_round_trips_dataclasses(point: Point, label: str) -> None:
    value = Frozen(point, label, frozenset({label}))
    for codec in TYPED:
        back = codec.decode(codec.encode(value, Frozen), Frozen)
        assert back == value
        assert dataclasses.asdict(back) == dataclasses.asdict(value)
