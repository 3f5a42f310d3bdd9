"""CBOR codec: canonical cbor2 bytes, msgspec typed conversion, the logical type's JSON Schema."""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from typing import Any, Final, NoReturn, TypeVar, cast

import cbor2
import msgspec

from . import _typed
from ._base import CodecError, JsonSchema

T = TypeVar("T")

# Kept as CBOR byte strings; everything else is plain data, as for JSON.
_BUILTIN_TYPES: Final = (bytes, bytearray, memoryview)

_MAX_DEPTH: Final = 256
"""Deepest container nesting accepted when decoding."""

# Tags cbor2 would turn into objects no annotation asks for (or into cyclic structures: 28/29
# value sharing). Decoding still accepts datetimes (0, 1), bignums (2, 3), decimals (4, 5),
# string references (25, 256), UUIDs (37), dates (100, 1004), sets (258), self-describe (55799).
_REJECTED_TAGS: Final = (28, 29, 30, 35, 36, 52, 54, 260, 261, 43000)


def _encode_memoryview(encoder: cbor2.CBOREncoder, value: memoryview) -> None:
    encoder.encode_bytes(value.tobytes())  # cbor2 would write an array of ints


_ENCODERS: Final[Mapping[type, Any]] = {memoryview: _encode_memoryview}


class _Encoders(threading.local):
    """One reusable canonical encoder per thread (building one per call costs more than the
    encoding of a small payload)."""

    def __init__(self) -> None:
        self.encoder = cbor2.CBOREncoder(io.BytesIO(), canonical=True, encoders=_ENCODERS)


_encoders: Final = _Encoders()


def _reject_tag(tag: cbor2.CBORTag, immutable: bool) -> NoReturn:
    raise ValueError(f"CBOR tag {tag.tag} is not supported")


def _make_rejecter(number: int) -> Any:
    def reject(value: object, immutable: bool) -> NoReturn:
        raise ValueError(f"CBOR tag {number} is not supported")

    return reject


_SEMANTIC_DECODERS: Final[Mapping[int, Any]] = {tag: _make_rejecter(tag) for tag in _REJECTED_TAGS}


def _enc_hook(value: object) -> object:
    if _typed.is_pydantic_model(value):
        return _typed.pydantic_dump(value, mode="python")
    raise TypeError(f"Encoding objects of type {type(value).__qualname__} is unsupported")


class CborCodec:
    """CBOR payloads (``application/cbor``, RFC 8949), canonical.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Blob:
    ...     name: str
    ...     data: bytes
    >>> codec = CborCodec()
    >>> codec.encode(Blob("a", b"\\x00")).hex()
    'a264646174614100646e616d656161'
    >>> codec.decode(bytes.fromhex("a264646174614100646e616d656161"), Blob)
    Blob(name='a', data=b'\\x00')
    >>> codec.encode(1.0).hex()  # the shortest float form that is exact: half precision
    'f93c00'

    **Encoding** converts the value to plain data with msgspec (the same rules as
    :class:`JsonCodec`: dataclasses, TypedDicts, Structs and models become maps; sets sorted
    arrays; enums their value; datetimes, dates, times, durations, UUIDs and Decimals the
    same RFC 3339 / ISO 8601 text as in JSON) and writes it with cbor2 in canonical form:

    - map keys sorted (length first, then bytes), shortest integer and length heads, no
      indefinite lengths;
    - floats in the shortest of half, single or double precision that holds the value exactly
      (``1.0`` is ``f93c00``, ``0.1`` stays a double), ``NaN`` as ``f97e00``;
    - ``bytes``, ``bytearray`` and ``memoryview`` as byte strings; integers of any size
      (bignum tags beyond 64 bits); integer map keys stay integers.

    Equal values give equal bytes in every process.

    **Decoding** is hardened for untrusted input: at most 256 levels of nesting, no
    indefinite-length items, no duplicate map keys, no trailing bytes, and no tags that build
    objects no type asks for (value sharing, regular expressions, MIME messages, IP addresses,
    rationals). The result is converted into the requested type with msgspec, strictly; CBOR
    datetime (0/1), UUID (37), decimal (4) and date (100/1004) tags are accepted where those
    types are expected. An empty payload decodes to ``None`` when the type admits ``None``.

    **pydantic models** are dumped with ``model_dump(mode="python", by_alias=True)`` before
    the conversion above and decoded with ``TypeAdapter(tp).validate_python``.

    :meth:`json_schema` is the schema of the logical type, the same as :class:`JsonCodec`'s
    (it describes the value as the Restate UI would show it as JSON; ``bytes`` appear there as
    base64 strings).
    """

    set_content_type_if_empty: bool = False
    deterministic: bool = True

    @property
    def content_type(self) -> str:
        return "application/cbor"

    def encode(self, value: object, tp: object = object) -> bytes:
        _typed.complete_defaults(value, tp)
        try:
            data = _typed.to_builtins(value, builtin_types=_BUILTIN_TYPES, enc_hook=_enc_hook)
            return _encoders.encoder.encode_to_bytes(data)
        except (TypeError, ValueError, RecursionError, cbor2.CBOREncodeError) as exc:
            raise CodecError(f"cannot encode {type(value).__qualname__} as CBOR: {exc}") from exc

    def decode(self, data: bytes, tp: type[T]) -> T:
        name = _typed.type_name(tp)
        if not data:
            if _typed.accepts_none(tp):
                return cast("T", None)
            raise CodecError(f"cannot decode CBOR into {name}: empty payload")
        try:
            item = _load(data)
        except (cbor2.CBORDecodeError, ValueError, RecursionError) as exc:
            raise CodecError(f"cannot decode CBOR into {name}: {_reason(exc)}") from exc
        if _typed.involves_pydantic(tp):
            return cast("T", _validate_pydantic(item, tp))
        try:
            value = _typed.convert(item, tp, builtin_types=(bytes, bytearray))
        except (msgspec.ValidationError, RecursionError) as exc:
            raise CodecError(f"cannot decode CBOR into {name}: {exc}") from exc
        except TypeError as exc:  # msgspec does not support the annotation
            raise CodecError(f"type {name} is not supported: {exc}") from exc
        _typed.complete_defaults(value, tp)
        return cast("T", value)

    def json_schema(self, tp: object) -> JsonSchema | None:
        return _typed.json_schema(tp)

    def input_required(self, tp: object) -> bool:
        """Whether input of type ``tp`` needs a body: False when ``tp`` admits ``None``."""
        return not _typed.accepts_none(tp)

    def __repr__(self) -> str:
        return "CborCodec()"


def _load(data: bytes) -> object:
    stream = io.BytesIO(data)
    decoder = cbor2.CBORDecoder(
        stream,
        max_depth=_MAX_DEPTH,
        allow_indefinite=False,
        allow_duplicate_keys=False,
        semantic_decoders=_SEMANTIC_DECODERS,
        tag_hook=_reject_tag,
    )
    item: object = decoder.decode()
    if stream.tell() < len(data):
        raise ValueError(f"{len(data) - stream.tell()} trailing byte(s) after the CBOR item")
    return item


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__
    return f"{exc}: {cause}" if cause is not None else str(exc)


def _validate_pydantic(item: object, tp: object) -> object:
    name = _typed.type_name(tp)
    try:
        adapter: Any = _typed.pydantic_adapter(tp)
    except Exception as exc:
        raise CodecError(f"type {name} is not supported: {exc}") from exc
    try:
        return cast("object", adapter.validate_python(item))
    except ValueError as exc:  # pydantic's ValidationError
        raise CodecError(
            f"cannot decode CBOR into {name}: {_typed.pydantic_error_message(exc)}"
        ) from exc
