"""The callee's codecs on the wire: a typed call's argument and answer, as its handler declares.

A handler reference resolves to the same :class:`~restate_trio._service.targets.Target` that
``ctx.service_call`` uses, so a call from a trio program and one from a handler send the same
bytes with the same content type, and decode the answer into the same declared type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from .._service.targets import Target, target_of, with_codec
from ..codecs import PayloadCodec

__all__ = ["content_type_header", "decode_as", "encode_argument", "resolve"]


def resolve(handler: Callable[..., object], codec: PayloadCodec | None) -> Target:
    """The target of a handler reference, with the call's own ``codec`` over the declared."""
    return with_codec(target_of(handler), codec)


def encode_argument(target: Target, arg: object) -> tuple[bytes | None, dict[str, str]]:
    """The request body and its content type; a handler without input gets no body."""
    if not target.has_input:
        return None, {}
    return target.input_codec.encode(arg, target.input_type), content_type_header(
        target.input_codec
    )


def content_type_header(codec: PayloadCodec) -> dict[str, str]:
    return {"content-type": codec.content_type}


def decode_as(codec: PayloadCodec, data: bytes, tp: object) -> object:
    """Decode an answer; ``None`` for a handler declared to return ``None`` (it sends no
    body). Annotations are not always classes (``list[int]``, ``X | None``)."""
    if tp is None:
        return None
    return codec.decode(data, cast("type[object]", tp))


def output_decoder(target: Target) -> Callable[[bytes], object]:
    """The decoder of ``target``'s answers, into its declared output type."""
    return lambda data: decode_as(target.output_codec, data, target.output_type)
