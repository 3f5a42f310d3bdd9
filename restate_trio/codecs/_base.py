"""The codec contract: how a typed value becomes payload bytes and back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

T = TypeVar("T")

# A JSON Schema document, as a plain mapping.
JsonSchema = Mapping[str, object]


class CodecError(ValueError):
    """A value could not be encoded, or bytes could not be decoded, with a codec."""


class PayloadCodec(Protocol):
    """Encodes typed values to payload bytes and decodes them back.

    Codecs **must** encode deterministically: equal values give equal bytes in every process,
    because Restate compares re-encoded payloads with the journal on replay.

    ``tp`` is a type annotation (``int``, ``list[str]``, a dataclass, ``Foo | None``…); codecs
    accept any annotation they support and raise :class:`CodecError` otherwise.
    """

    @property
    def content_type(self) -> str:
        """The MIME type of encoded payloads, e.g. ``application/json``."""
        ...

    def encode(self, value: object, tp: object = object) -> bytes:
        """Encode ``value`` (declared as ``tp``); raise :class:`CodecError` if impossible."""
        ...

    def decode(self, data: bytes, tp: type[T]) -> T:
        """Decode ``data`` into an instance of ``tp``; raise :class:`CodecError` if impossible."""
        ...

    def json_schema(self, tp: object) -> JsonSchema | None:
        """A self-contained JSON Schema for ``tp`` for the discovery manifest, or ``None``."""
        ...
