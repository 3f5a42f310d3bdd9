"""JSON codec: orjson bytes, msgspec typed conversion and JSON Schema."""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import TypeVar, cast

import msgspec
import orjson

from ._base import CodecError, JsonSchema

T = TypeVar("T")

_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS


def _default(value: object) -> object:
    # Types orjson does not know natively (msgspec Structs, attrs classes, sets, bytes, …) go
    # through msgspec's builtin conversion, ordered deterministically.
    try:
        return msgspec.to_builtins(value, order="deterministic")
    except (TypeError, msgspec.ValidationError) as exc:
        raise TypeError(str(exc)) from exc


@functools.lru_cache(maxsize=512)
def _decoder(tp: Hashable) -> msgspec.json.Decoder[object]:
    return msgspec.json.Decoder(tp)


class JsonCodec:
    """JSON payloads (``application/json``), the default codec.

    Encoding uses orjson with sorted keys, so equal values give equal bytes in every process.
    Decoding converts into the requested type with msgspec (strict: ``"5"`` is not an ``int``).
    """

    @property
    def content_type(self) -> str:
        return "application/json"

    def encode(self, value: object, tp: object = object) -> bytes:
        try:
            return orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS)
        except TypeError as exc:
            raise CodecError(f"cannot encode {type(value).__name__} as JSON: {exc}") from exc

    def decode(self, data: bytes, tp: type[T]) -> T:
        try:
            return cast("T", _decoder(cast("Hashable", tp)).decode(data))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CodecError(f"cannot decode JSON into {_type_name(tp)}: {exc}") from exc
        except TypeError as exc:  # msgspec does not support the annotation
            raise CodecError(f"type {_type_name(tp)} is not supported: {exc}") from exc

    def json_schema(self, tp: object) -> JsonSchema | None:
        try:
            return msgspec.json.schema(tp)
        except TypeError:
            return None

    def __repr__(self) -> str:
        return "JsonCodec()"


def _type_name(tp: object) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)
