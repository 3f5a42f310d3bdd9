"""Payload codecs: how handler inputs, outputs and state values travel as bytes.

A codec turns a typed value into payload bytes and back, and describes the payload for the
discovery manifest (content type, JSON Schema, whether input is required). Any object with
the members of :class:`PayloadCodec` is a codec; the built-ins are:

- :class:`JsonCodec` (``application/json``, the default: :data:`DEFAULT_CODEC`),
- :class:`CborCodec` (``application/cbor``, canonical CBOR),
- :class:`BytesCodec` (``application/octet-stream``, raw bytes).

JSON and CBOR convert typed values with msgspec: primitives, ``None`` and ``X | None``,
lists, dicts, tuples, sets, dataclasses, TypedDicts, NamedTuples, enums, ``Literal``,
datetimes, UUIDs, Decimals, msgspec Structs and attrs classes, and (when pydantic is
installed: ``pip install restate-trio[pydantic]``) pydantic models. Failures raise
:class:`CodecError`.

>>> from dataclasses import dataclass
>>> from restate_trio.codecs import CborCodec, JsonCodec
>>> @dataclass
... class Order:
...     item: str
...     tags: frozenset[str]
>>> JsonCodec().encode(Order("tea", frozenset({"hot", "green"})))
b'{"item":"tea","tags":["green","hot"]}'
>>> codec = CborCodec()
>>> codec.decode(codec.encode(Order("tea", frozenset())), Order)
Order(item='tea', tags=frozenset())
>>> JsonCodec().json_schema(list[int])
{'type': 'array', 'items': {'type': 'integer'}}
"""

from ._base import CodecError, JsonSchema, PayloadCodec
from ._bytes import BytesCodec
from ._cbor import CborCodec
from ._json import JsonCodec

__all__ = [
    "DEFAULT_CODEC",
    "BytesCodec",
    "CborCodec",
    "CodecError",
    "JsonCodec",
    "JsonSchema",
    "PayloadCodec",
]

for _public in (BytesCodec, CborCodec, CodecError, JsonCodec, PayloadCodec):
    _public.__module__ = __name__  # tracebacks and reprs show the public import path
del _public

DEFAULT_CODEC: PayloadCodec = JsonCodec()
"""The codec used when none is configured: JSON."""
