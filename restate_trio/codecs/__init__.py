"""Payload codecs: how handler inputs, outputs and state values travel as bytes.

The default is :class:`JsonCodec`. Example::

    from restate_trio.codecs import JsonCodec

    codec = JsonCodec()
    assert codec.decode(codec.encode({"b": 1, "a": 2}), dict[str, int]) == {"a": 2, "b": 1}
"""

from ._base import CodecError as CodecError, JsonSchema as JsonSchema, PayloadCodec as PayloadCodec
from ._json import JsonCodec as JsonCodec

__all__ = ["CodecError", "JsonCodec", "JsonSchema", "PayloadCodec"]

DEFAULT_CODEC: PayloadCodec = JsonCodec()
