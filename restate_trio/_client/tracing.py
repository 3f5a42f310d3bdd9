"""Propagate the caller's trace context to Restate, when OpenTelemetry is installed.

Restate passes the W3C ``traceparent`` of an ingress request on to the invocation, so a span
open around ``await client.service_call(...)`` becomes the parent of the handler's spans.
OpenTelemetry is optional: without it, requests go out unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

__all__ = ["inject_trace_context"]


def _load_injector() -> Callable[[MutableMapping[str, str]], None] | None:
    try:
        from opentelemetry.propagate import inject
    except ImportError:
        return None

    def injector(headers: MutableMapping[str, str]) -> None:
        inject(headers)

    return injector


_INJECT = _load_injector()


def inject_trace_context(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context (``traceparent``, ``tracestate``, ...) to ``headers``
    through the globally configured propagator; nothing without OpenTelemetry."""
    if _INJECT is not None:
        _INJECT(headers)
