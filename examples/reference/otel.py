"""The reference's examples of :mod:`restate_trio.otel`: one region per public name.

tests/e2e/test_reference_observability.py serves ``traced_endpoint(...)`` on a real
restate-server with an in-memory exporter and reads the spans.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.types import AttributeValue

import restate_trio as restate
from restate_trio.otel import SPAN_ATTRIBUTES, tracing_hook


class Shipping:
    async def ship(self, ctx: restate.ObjectContext, parcel: str) -> str:
        return await ctx.run("book courier", book_courier, parcel)


async def book_courier(parcel: str) -> str:
    return f"courier booked for {parcel}"


def traced_endpoint(exporter: SpanExporter) -> tuple[restate.Endpoint, TracerProvider]:
    # [tracing_hook]
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))  # e.g. an OTLP exporter
    # A span per attempt ("Shipping/ship") and per executed run ("run book courier").
    endpoint = restate.Endpoint(hooks=[tracing_hook(provider)]).bind(restate.reflect(Shipping()))
    # [/tracing_hook]
    return endpoint, provider


def restate_attributes(span: ReadableSpan) -> dict[str, AttributeValue]:
    # [SPAN_ATTRIBUTES]
    # The attributes restate-trio sets, of a finished span (in a test, a span processor...).
    attributes = span.attributes or {}
    ours = {name: attributes[name] for name in SPAN_ATTRIBUTES if name in attributes}
    # [/SPAN_ATTRIBUTES]
    return ours
