"""The codec contract: how a typed value becomes payload bytes and back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

JsonSchema = Mapping[str, object]
"""A JSON Schema document, as a plain mapping."""


class CodecError(ValueError):
    """A value could not be encoded, or bytes could not be decoded, with a codec.

    The message names the type and the reason, e.g. ``cannot decode JSON into Point: Expected
    `int`, got `str` - at `$.x```. The SDK answers undecodable handler input with a terminal
    error (400) and treats unencodable output as a retryable failure.
    """


@runtime_checkable
class PayloadCodec(Protocol):
    """Encodes typed values to payload bytes and decodes them back.

    Built-ins: :class:`~restate_trio.codecs.JsonCodec` (the default),
    :class:`~restate_trio.codecs.CborCodec` and :class:`~restate_trio.codecs.BytesCodec`.

    ``tp`` is a type annotation (``int``, ``list[str]``, a dataclass, ``Foo | None``…); a codec
    accepts the annotations it supports and raises :class:`CodecError` otherwise.

    **Determinism.** Restate compares the payloads a handler produces on replay with those in
    its journal, and a replay may run in another process. A codec whose :attr:`deterministic`
    is true **must** encode equal values to equal bytes in every process (independent of dict
    insertion order and ``PYTHONHASHSEED``); one that cannot promise it says
    ``deterministic = False``, so that its payloads are marked as unstable and Restate skips
    the byte comparison for them.

    The metadata members describe the payload in the discovery manifest: :attr:`content_type`,
    :meth:`json_schema`, :meth:`input_required` and :attr:`set_content_type_if_empty`.
    The data members may be plain attributes or properties.

    Writing a codec: implement every member; no base class is needed. A codec for plain text:

    >>> from typing import Any
    >>> from restate_trio.codecs import CodecError, JsonSchema, PayloadCodec
    >>> class TextCodec:
    ...     content_type = "text/plain; charset=utf-8"
    ...     set_content_type_if_empty = False
    ...     deterministic = True
    ...
    ...     def encode(self, value: object, tp: object = object) -> bytes:
    ...         if not isinstance(value, str):
    ...             raise CodecError(f"TextCodec encodes str, not {type(value).__name__}")
    ...         return value.encode()
    ...
    ...     def decode(self, data: bytes, tp: Any) -> Any:
    ...         if tp not in (str, object):
    ...             raise CodecError(f"TextCodec decodes into str, not {tp!r}")
    ...         try:
    ...             return data.decode()
    ...         except UnicodeDecodeError as exc:
    ...             raise CodecError(f"cannot decode text into str: {exc}") from exc
    ...
    ...     def json_schema(self, tp: object) -> JsonSchema | None:
    ...         return {"type": "string"}
    ...
    ...     def input_required(self, tp: object) -> bool:
    ...         return False  # an empty body is the empty string
    >>> codec: PayloadCodec = TextCodec()
    >>> isinstance(codec, PayloadCodec)
    True
    >>> codec.encode("grüß dich")
    b'gr\\xc3\\xbc\\xc3\\x9f dich'
    >>> codec.decode(b"hi", str)
    'hi'

    Use it for a service with ``restate.service.reflect(Greeter(), codec=TextCodec())`` or for
    one handler with ``ServiceDefinition.configure_handler(name, input_codec=...)``.
    """

    @property
    def content_type(self) -> str:
        """The MIME type of encoded payloads, e.g. ``application/json``."""
        ...

    @property
    def set_content_type_if_empty(self) -> bool:
        """Whether an empty output still carries :attr:`content_type` (e.g. raw bytes)."""
        ...

    @property
    def deterministic(self) -> bool:
        """Whether equal values always encode to equal bytes, in every process."""
        ...

    def encode(self, value: object, tp: object = object) -> bytes:
        """Encode ``value`` (declared as ``tp``); raise :class:`CodecError` if impossible."""
        ...

    def decode(self, data: bytes, tp: type[T]) -> T:
        """Decode ``data`` into an instance of ``tp``; raise :class:`CodecError` if impossible."""
        ...

    def json_schema(self, tp: object) -> JsonSchema | None:
        """A self-contained JSON Schema for ``tp`` for the discovery manifest, or ``None``.

        Self-contained: only local references (``#/$defs/…``); the Restate server cannot
        resolve external ones.
        """
        ...

    def input_required(self, tp: object) -> bool:
        """Whether a request whose input is declared as ``tp`` must carry a body.

        False when an empty payload is acceptable: ``tp`` admits ``None`` (decoded from the
        empty payload) or the codec decodes empty payloads itself (raw bytes).
        """
        ...
