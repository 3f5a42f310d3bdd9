"""Which codec a payload uses: the nearest one declared wins.

From nearest to farthest: the operation's ``codec=`` argument, the handler's codecs
(``@restate.handler`` or ``configure_handler``; a direction-specific ``input_codec`` /
``output_codec`` before the handler's ``codec``), the service's (``@restate.service_codec`` or
``reflect(codec=…)``), the endpoint's (``Endpoint(codec=…)``), and JSON. Callers and callees both
resolve with :func:`resolve_codecs`, so the two ends of a call agree.
"""

from __future__ import annotations

from typing import NamedTuple

from ..codecs import DEFAULT_CODEC, PayloadCodec

__all__ = ["Codecs", "resolve_codecs"]


class Codecs(NamedTuple):
    """The codecs that apply to one handler (or one call of it)."""

    codec: PayloadCodec  # the handler's operations: state, runs, awakeables, promises…
    input: PayloadCodec
    output: PayloadCodec


def resolve_codecs(
    *,
    operation: PayloadCodec | None = None,
    handler: PayloadCodec | None = None,
    handler_input: PayloadCodec | None = None,
    handler_output: PayloadCodec | None = None,
    service: PayloadCodec | None = None,
    endpoint: PayloadCodec | None = None,
) -> Codecs:
    """The codecs in effect given those declared at each level (``None``: not declared)."""
    default = operation or handler or service or endpoint or DEFAULT_CODEC
    return Codecs(
        codec=default,
        input=operation or handler_input or default,
        output=operation or handler_output or default,
    )
