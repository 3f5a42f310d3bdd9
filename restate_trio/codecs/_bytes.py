"""Raw bytes codec: the payload is the value."""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar, cast

from . import _typed
from ._base import CodecError, JsonSchema

T = TypeVar("T")

_TARGETS: dict[object, type] = {
    bytes: bytes,
    object: bytes,
    Any: bytes,
    bytearray: bytearray,
    memoryview: memoryview,
}


class BytesCodec:
    """Raw payloads (``application/octet-stream``): bytes in, bytes out.

    >>> codec = BytesCodec()
    >>> codec.encode(bytearray(b"\\x00\\xff"))
    b'\\x00\\xff'
    >>> codec.decode(b"", bytes)
    b''
    >>> codec.input_required(bytes), codec.set_content_type_if_empty
    (False, True)

    Encodes ``bytes``, ``bytearray`` and ``memoryview`` as they are, and ``None`` as the empty
    payload. Decodes into ``bytes`` (also for ``object``/``Any``), ``bytearray`` or
    ``memoryview``; ``X | None`` decodes like ``X`` (the empty payload is ``b""``), and the
    annotation ``None`` accepts only the empty payload. Other types raise :class:`CodecError`.

    The empty payload is valid input (:meth:`input_required` is always False) and empty
    output still carries the content type. There is no JSON Schema.
    """

    set_content_type_if_empty: bool = True
    deterministic: bool = True

    @property
    def content_type(self) -> str:
        return "application/octet-stream"

    def encode(self, value: object, tp: object = object) -> bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, bytearray):
            return bytes(value)
        if isinstance(value, memoryview):
            return cast("memoryview[int]", value).tobytes()
        if value is None:
            return b""
        raise CodecError(
            f"cannot encode {type(value).__qualname__} as raw bytes: "
            "expected bytes, bytearray or memoryview"
        )

    def decode(self, data: bytes, tp: type[T]) -> T:
        target = _target(tp)
        if target is None:
            raise CodecError(
                f"cannot decode raw bytes into {_typed.type_name(tp)}: "
                "expected bytes, bytearray or memoryview"
            )
        if target is type(None):
            if data:
                raise CodecError(f"cannot decode {len(data)} raw byte(s) into None")
            return cast("T", None)
        if target is bytes:
            return cast("T", data if type(data) is bytes else bytes(data))
        return cast("T", target(data))

    def json_schema(self, tp: object) -> JsonSchema | None:
        return None

    def input_required(self, tp: object) -> bool:
        return False

    def __repr__(self) -> str:
        return "BytesCodec()"


def _target(tp: object) -> type | None:
    """The class to build for ``tp``, ``NoneType`` for ``None``, None if unsupported."""
    if tp is None or tp is type(None):
        return type(None)
    try:
        found = _TARGETS.get(tp)
    except TypeError:  # unhashable annotation
        found = None
    if found is not None:
        return found
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _target(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        targets = {_target(arg) for arg in typing.get_args(tp)} - {type(None)}
        return targets.pop() if len(targets) == 1 else None
    return None
