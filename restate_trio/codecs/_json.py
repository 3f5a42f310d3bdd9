"""JSON codec: orjson bytes, msgspec typed conversion and JSON Schema."""

from __future__ import annotations

from typing import Any, Final, TypeVar, cast

import msgspec
import orjson

from . import _typed
from ._base import CodecError, JsonSchema

T = TypeVar("T")

# Sorted keys: equal dicts give equal bytes whatever their insertion order. Dataclasses go
# through msgspec (`default`) rather than orjson's native support, which follows the
# instance's __dict__ order (msgspec builds decoded instances in input order) and is not
# sorted. Non-str keys (int, enum, UUID… as in ``dict[int, str]``) become strings, as msgspec
# reads them back. Aware UTC datetimes end in "Z", the same spelling msgspec produces.
_OPTIONS: Final = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_UTC_Z
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_WIDE_INT: Final = "64-bit range"  # "Integer exceeds…", "Dict integer key must be within…"


def _enc_hook(value: object) -> object:
    if _typed.is_pydantic_model(value):
        return _typed.pydantic_dump(value, mode="json")
    raise TypeError(f"Encoding objects of type {type(value).__qualname__} is unsupported")


def _default(value: object) -> object:
    # What orjson does not encode natively (sets, bytes, Decimal, timedelta, NamedTuples,
    # msgspec Structs, attrs classes, pydantic models) or should not (dataclasses, see
    # `_OPTIONS`) goes through the typed seam, with everything nested in it.
    return _typed.to_builtins(value, str_keys=True, enc_hook=_enc_hook)


class JsonCodec:
    """JSON payloads (``application/json``), the default codec.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Point:
    ...     x: int
    ...     y: int
    >>> codec = JsonCodec()
    >>> codec.encode({"b": {3, 1, 2}, "a": Point(1, 2)})
    b'{"a":{"x":1,"y":2},"b":[1,2,3]}'
    >>> codec.decode(b'[{"x": 1, "y": 2}]', list[Point])
    [Point(x=1, y=2)]
    >>> codec.decode(b'{"x": "1", "y": 2}', Point)
    Traceback (most recent call last):
    ...
    restate_trio.codecs.CodecError: cannot decode JSON into Point: Expected `int`, got `str` - ...

    **Encoding** uses orjson with sorted keys, so equal values give equal bytes in every process:

    - the keys of every object are sorted: dicts (non-string keys such as ``int`` become
      strings), dataclasses, TypedDicts, msgspec Structs and pydantic models alike;
      NamedTuples and tuples are arrays;
    - sets and frozensets become sorted arrays (their items must be mutually comparable);
    - ``bytes``/``bytearray``/``memoryview`` become standard base64 strings (with padding,
      as msgspec reads them back); datetimes, dates and times RFC 3339 strings (UTC as
      ``Z``); ``timedelta`` an ISO 8601 duration; ``UUID`` and ``Decimal`` strings; enums
      their value;
    - integers beyond 64 bits are written exactly (orjson stops at 64 bits, so such a payload
      is written by msgspec, which spells exponents without ``+``: ``1e20``, not ``1e+20``);
    - ``NaN`` and infinities become ``null`` (JSON has no spelling for them): they do not
      survive a round trip.

    **Decoding** converts into the requested type with msgspec, strictly (``"5"`` is not an
    ``int``; an ``int`` is a ``float``). An empty payload decodes to ``None`` when the type
    admits ``None`` and is an error otherwise.

    **pydantic models** (when pydantic is installed) are encoded with pydantic's JSON rules
    (``model_dump(mode="json", by_alias=True)``; set fields sorted; ``bytes`` as UTF-8 text
    unless the model's config says base64) and decoded with ``TypeAdapter(tp).validate_json``
    (pydantic's lax validation), also when nested in lists, dicts or dataclasses.

    :meth:`json_schema` comes from msgspec (pydantic's for types involving a model) and only
    uses local ``#/$defs/…`` references.
    """

    set_content_type_if_empty: bool = False
    deterministic: bool = True

    @property
    def content_type(self) -> str:
        return "application/json"

    def encode(self, value: object, tp: object = object) -> bytes:
        _typed.complete_defaults(value, tp)
        try:
            return orjson.dumps(value, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError as exc:
            if _WIDE_INT not in str(exc):
                raise CodecError(_encode_failure(value, exc)) from exc
        # orjson stops at 64-bit integers (values and dict keys); msgspec writes any integer.
        # Keys become strings first, so they sort as in orjson's output.
        try:
            data = _typed.to_builtins(value, str_keys=True, enc_hook=_enc_hook)
            return msgspec.json.encode(data, order="deterministic")
        except (TypeError, ValueError, RecursionError) as exc:
            raise CodecError(_encode_failure(value, exc)) from exc

    def decode(self, data: bytes, tp: type[T]) -> T:
        if not data:
            if _typed.accepts_none(tp):
                return cast("T", None)
            raise CodecError(f"cannot decode JSON into {_typed.type_name(tp)}: empty payload")
        if _typed.involves_pydantic(tp):
            return cast("T", _decode_pydantic(data, tp))
        try:
            decoder = _typed.json_decoder(tp)
        except TypeError as exc:  # msgspec does not support the annotation
            raise CodecError(f"type {_typed.type_name(tp)} is not supported: {exc}") from exc
        try:
            value: object = decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            raise CodecError(f"cannot decode JSON into {_typed.type_name(tp)}: {exc}") from exc
        _typed.complete_defaults(value, tp)
        return cast("T", value)

    def json_schema(self, tp: object) -> JsonSchema | None:
        return _typed.json_schema(tp)

    def input_required(self, tp: object) -> bool:
        """Whether input of type ``tp`` needs a body: False when ``tp`` admits ``None``.

        >>> JsonCodec().input_required(int), JsonCodec().input_required(int | None)
        (True, False)
        """
        return not _typed.accepts_none(tp)

    def __repr__(self) -> str:
        return "JsonCodec()"


def _decode_pydantic(data: bytes, tp: object) -> object:
    try:
        adapter: Any = _typed.pydantic_adapter(tp)
    except Exception as exc:
        raise CodecError(f"type {_typed.type_name(tp)} is not supported: {exc}") from exc
    try:
        return cast("object", adapter.validate_json(data))
    except ValueError as exc:  # pydantic's ValidationError
        raise CodecError(
            f"cannot decode JSON into {_typed.type_name(tp)}: {_typed.pydantic_error_message(exc)}"
        ) from exc


def _encode_failure(value: object, exc: BaseException) -> str:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return f"cannot encode {type(value).__qualname__} as JSON: {cause}"
