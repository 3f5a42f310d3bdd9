"""OpenTelemetry tracing: a span per invocation attempt and per executed ``ctx.run``.

Needs the ``otel`` extra (``pip install 'restate-trio[otel]'``, the OpenTelemetry API); bring
the OpenTelemetry SDK and an exporter of your choice::

    import restate_trio as restate
    from restate_trio.otel import tracing_hook

    endpoint = restate.Endpoint(hooks=[tracing_hook()])  # the global tracer provider

What is traced:

* every attempt gets a span (kind SERVER) named ``"Service/handler"``, a child of the span
  Restate opened for that attempt (the W3C ``traceparent`` of the attempt's request), so it
  sits in the invocation's trace next to Restate's own spans; it is the current span while
  the handler runs, so spans the handler's code opens nest under it;
* every ``ctx.run`` closure that executes gets a span (kind INTERNAL) named ``"run <name>"``
  under its attempt's span, current while the closure runs (an HTTP client instrumented with
  OpenTelemetry traces its requests under it). A run that is replayed from the journal does
  not execute and gets no span, so retried and resumed invocations do not trace their earlier
  work again.

Attributes (``SPAN_ATTRIBUTES`` lists them): ``restate.invocation.id``,
``restate.invocation.target`` (``Service/handler``), ``restate.invocation.key`` (keyed
services), ``rpc.system`` (``"restate"``), ``rpc.service``, ``rpc.method``, on attempts
``restate.attempt.number``, ``restate.attempt.replaying`` and ``restate.attempt.outcome``
(``completed``, ``failed`` or ``suspended``), on runs ``restate.run.name``. A failed attempt,
an attempt whose handler raised a terminal error, and a failed run have the ERROR status and
the exception recorded.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

try:
    from opentelemetry import context as otel_context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "restate_trio.otel needs OpenTelemetry: pip install 'restate-trio[otel]'"
    ) from None

from ._version import __version__
from .observability import AttemptInfo, AttemptOutcome, Hook, RunInfo

__all__ = ["SPAN_ATTRIBUTES", "tracing_hook"]

#: The attribute names the spans carry.
SPAN_ATTRIBUTES = (
    "restate.invocation.id",
    "restate.invocation.target",
    "restate.invocation.key",
    "rpc.system",
    "rpc.service",
    "rpc.method",
    "restate.attempt.number",
    "restate.attempt.replaying",
    "restate.attempt.outcome",
    "restate.run.name",
)

# Restate sends W3C trace context; read it with the W3C propagator, whatever the process's
# global propagator is (it may be configured for another format, for outgoing requests).
_PROPAGATOR = TraceContextTextMapPropagator()


def _invocation_attributes(info: AttemptInfo) -> dict[str, str | bool | int]:
    attributes: dict[str, str | bool | int] = {
        "restate.invocation.id": info.invocation_id,
        "restate.invocation.target": f"{info.service}/{info.handler}",
        "rpc.system": "restate",
        "rpc.service": info.service,
        "rpc.method": info.handler,
    }
    if info.key:
        attributes["restate.invocation.key"] = info.key
    return attributes


def tracing_hook(tracer_provider: trace.TracerProvider | None = None) -> Hook:
    """A :class:`~restate_trio.observability.Hook` that traces attempts and executed runs.

    :param tracer_provider: where the spans go; by default the global tracer provider
        (``opentelemetry.trace.set_tracer_provider``), looked up when the hook is made.
    """
    tracer = trace.get_tracer("restate_trio", __version__, tracer_provider)

    @asynccontextmanager
    async def attempt(info: AttemptInfo) -> AsyncGenerator[None]:
        parent = _PROPAGATOR.extract(carrier=info.headers)
        attributes = _invocation_attributes(info)
        attributes["restate.attempt.number"] = info.attempt
        attributes["restate.attempt.replaying"] = info.replaying
        span = tracer.start_span(
            f"{info.service}/{info.handler}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc  # the handler's exception: the attempt goes on as it would without us
            raise
        finally:
            otel_context.detach(token)
            outcome = info.outcome
            if outcome is not None:
                span.set_attribute("restate.attempt.outcome", outcome.value)
            if outcome is AttemptOutcome.FAILED:
                span.set_status(trace.Status(trace.StatusCode.ERROR, info.failure))
            _end(span, error)

    @asynccontextmanager
    async def run(info: RunInfo) -> AsyncGenerator[None]:
        attributes = _invocation_attributes(info.attempt)
        attributes["restate.run.name"] = info.name
        span = tracer.start_span(
            f"run {info.name}", kind=trace.SpanKind.INTERNAL, attributes=attributes
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            otel_context.detach(token)
            _end(span, error)

    return Hook(attempt=attempt, run=run)


def _end(span: trace.Span, error: BaseException | None) -> None:
    """End ``span``, with the ERROR status and the exception if the code it wraps raised one.
    (A cancellation, of a run that lost a race or of an attempt that ended, is no error.)"""
    if isinstance(error, Exception):
        span.record_exception(error)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end()
