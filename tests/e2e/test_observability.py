"""Replay-aware logging, attempt hooks and OpenTelemetry spans against a real restate-server.

The endpoint runs in request/response mode: Restate closes each attempt's request body after
the journal, so every await of something not in it (a run's acknowledged result, a timer)
suspends the attempt, and Restate resumes the invocation in a new attempt that replays the
journal. One call of ``Checkout.pay`` therefore takes several attempts, most of them replays,
which is what the logger and the tracing hook must see through.

Restate sends an attempt's ``traceparent`` only when its own tracing is on: the module's server
exports its spans to a port nothing listens on (they are dropped; the test reads the SDK's
spans from an in-memory exporter, and the trace context Restate sent from the attempts'
headers).
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
import trio
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import restate_trio as restate
from restate_trio.observability import HANDLER_LOGGER, AttemptInfo, AttemptOutcome, Hook
from restate_trio.otel import tracing_hook
from restate_trio.testing import RestateServer, serve_endpoint

_DEADLINE = 30.0


class Checkout:
    def __init__(self) -> None:
        self.charges = 0
        self.emails = 0

    async def pay(self, ctx: restate.ObjectContext, amount: int) -> str:
        ctx.logger.info("paying %s", amount)

        async def charge() -> str:
            self.charges += 1
            ctx.logger.info("charging the card")
            return "r-1"

        receipt = await ctx.run("charge", charge)
        ctx.logger.info("charged: %s", receipt)
        await ctx.sleep(timedelta(milliseconds=50))

        async def email() -> None:
            self.emails += 1

        await ctx.run("email", email)
        ctx.logger.info("done")
        return receipt

    async def fail_once(self, ctx: restate.ObjectContext) -> str:
        if ctx.request().attempt_headers.get("x-fail") is None and self.charges == 0:
            self.charges += 1
            raise ValueError("first attempt fails")
        return "ok"


class AttemptLog:
    """A user-defined attempt hook: records every attempt and how it ended."""

    def __init__(self) -> None:
        self.attempts: list[AttemptInfo] = []
        self.errors: list[BaseException | None] = []

    @asynccontextmanager
    async def __call__(self, info: AttemptInfo) -> AsyncGenerator[None]:
        try:
            yield
        except BaseException as exc:
            self.errors.append(exc)
            raise
        else:
            self.errors.append(None)
        finally:
            self.attempts.append(info)


@pytest.fixture(scope="module")
def restate_server_options() -> dict[str, object]:
    with socket.socket() as probe:  # a free port, closed again: exports to it fail quietly
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {"env": {"RESTATE_TRACING_ENDPOINT": f"otlp+http://127.0.0.1:{port}/v1/traces"}}


def _trace_ids(traceparent: str) -> tuple[int, int]:
    _, trace_id, span_id, _ = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


async def _call_pay(
    server: RestateServer, endpoint: restate.Endpoint, headers: dict[str, str] | None = None
) -> str:
    key = uuid.uuid4().hex
    with trio.fail_after(_DEADLINE):
        async with serve_endpoint(endpoint, server):
            response = await server.ingress(f"/Checkout/{key}/pay", 5, headers=headers)
    assert response.status == 200, response.body
    assert response.json() == "r-1"
    return key


async def test_replayed_code_does_not_log_again(
    restate_server: RestateServer, caplog: pytest.LogCaptureFixture
) -> None:
    checkout = Checkout()
    attempts = AttemptLog()
    endpoint = restate.Endpoint(protocol_mode="request_response", hooks=[Hook(attempt=attempts)])
    endpoint.bind(restate.reflect(checkout))
    with caplog.at_level(logging.INFO, logger="restate_trio"):
        key = await _call_pay(restate_server, endpoint)

    # The invocation took several attempts, and the later ones replayed the earlier ones' work.
    assert len(attempts.attempts) >= 3
    assert attempts.attempts[0].replaying is False
    assert all(info.replaying for info in attempts.attempts[1:])
    assert [info.outcome for info in attempts.attempts][-1] is AttemptOutcome.COMPLETED
    assert AttemptOutcome.SUSPENDED in [info.outcome for info in attempts.attempts[:-1]]
    assert attempts.errors == [None] * len(attempts.attempts)
    invocation_ids = {info.invocation_id for info in attempts.attempts}
    assert len(invocation_ids) == 1
    assert checkout.charges == 1
    assert checkout.emails == 1

    # Yet each line was logged once, in program order, with the invocation's attributes.
    records = [r for r in caplog.records if r.name == HANDLER_LOGGER]
    assert [r.getMessage() for r in records] == [
        "paying 5",
        "charging the card",
        "charged: r-1",
        "done",
    ]
    for record in records:
        assert record.__dict__["restate_invocation_id"] in invocation_ids
        assert record.__dict__["restate_service"] == "Checkout"
        assert record.__dict__["restate_handler"] == "pay"
        assert record.__dict__["restate_key"] == key


async def test_the_sdk_names_service_and_handler_of_a_failed_attempt(
    restate_server: RestateServer, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = AttemptLog()
    endpoint = restate.Endpoint(hooks=[Hook(attempt=attempts)])
    endpoint.bind(restate.reflect(Checkout()))
    key = uuid.uuid4().hex
    with caplog.at_level(logging.WARNING, logger="restate_trio"), trio.fail_after(_DEADLINE):
        async with serve_endpoint(endpoint, restate_server):
            response = await restate_server.ingress(f"/Checkout/{key}/fail_once", b"")
    assert response.status == 200, response.body
    [failed, completed] = attempts.attempts
    assert failed.outcome is AttemptOutcome.FAILED
    assert isinstance(attempts.errors[0], ValueError)
    assert failed.failure == "ValueError: first attempt fails"
    assert completed.outcome is AttemptOutcome.COMPLETED
    assert completed.attempt == 2  # one retry since the journal last grew
    [record] = [r for r in caplog.records if r.name == "restate_trio.invocation"]
    assert f"invocation {failed.invocation_id} (Checkout/fail_once) attempt failed" in (
        record.getMessage()
    )
    assert record.__dict__["restate_attempt"] == 1


async def test_spans_per_attempt_and_per_executed_run(
    restate_server: RestateServer, exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    attempts = AttemptLog()
    endpoint = restate.Endpoint(
        protocol_mode="request_response", hooks=[Hook(attempt=attempts), tracing_hook(provider)]
    )
    endpoint.bind(restate.reflect(Checkout()))
    # The caller's trace: Restate continues it, and the attempt spans join it.
    caller_trace = uuid.uuid4().int >> 64 << 64 | 1
    traceparent = f"00-{caller_trace:032x}-{0x1234:016x}-01"
    key = await _call_pay(restate_server, endpoint, headers={"traceparent": traceparent})

    spans = exporter.get_finished_spans()
    attempt_spans = [s for s in spans if s.name == "Checkout/pay"]
    run_spans = [s for s in spans if s.name.startswith("run ")]
    assert len(spans) == len(attempt_spans) + len(run_spans)

    # One span per attempt, each a child of the span Restate opened for that attempt.
    assert len(attempt_spans) == len(attempts.attempts) >= 3
    for span, info in zip(attempt_spans, attempts.attempts, strict=True):
        trace_id, parent_id = _trace_ids(info.headers["traceparent"])
        assert trace_id == caller_trace
        assert span.context is not None
        assert span.context.trace_id == trace_id
        assert span.parent is not None
        assert span.parent.span_id == parent_id
        assert span.parent.is_remote
        assert span.kind is SpanKind.SERVER
        assert _attributes(span) == {
            "restate.invocation.id": info.invocation_id,
            "restate.invocation.target": "Checkout/pay",
            "restate.invocation.key": key,
            "rpc.system": "restate",
            "rpc.service": "Checkout",
            "rpc.method": "pay",
            "restate.attempt.number": info.attempt,
            "restate.attempt.replaying": info.replaying,
            "restate.attempt.outcome": info.outcome.value if info.outcome else None,
        }
        assert span.status.status_code is StatusCode.UNSET

    # One span per executed run, none for the replays of a run: each run executed once,
    # under the span of the attempt it executed in.
    assert sorted(s.name for s in run_spans) == ["run charge", "run email"]
    by_id = {s.context.span_id: s for s in attempt_spans if s.context is not None}
    for span in run_spans:
        assert span.parent is not None
        parent = by_id[span.parent.span_id]
        assert span.kind is SpanKind.INTERNAL
        assert _attributes(span)["restate.run.name"] == span.name.removeprefix("run ")
        assert (
            _attributes(span)["restate.invocation.id"]
            == _attributes(parent)["restate.invocation.id"]
        )
        assert _attributes(parent)["restate.attempt.replaying"] is (span.name == "run email")


async def test_a_failed_attempt_span_has_the_error(
    restate_server: RestateServer, exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    endpoint = restate.Endpoint(hooks=[tracing_hook(provider)])
    endpoint.bind(restate.reflect(Checkout()))
    key = uuid.uuid4().hex
    with trio.fail_after(_DEADLINE):
        async with serve_endpoint(endpoint, restate_server):
            response = await restate_server.ingress(f"/Checkout/{key}/fail_once", b"")
    assert response.status == 200, response.body
    failed, completed = exporter.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ValueError: first attempt fails"
    assert [event.name for event in failed.events] == ["exception"]
    assert _attributes(failed)["restate.attempt.outcome"] == "failed"
    assert completed.status.status_code is StatusCode.UNSET
    assert _attributes(completed)["restate.attempt.outcome"] == "completed"
    assert failed.context is not None
    assert completed.context is not None
    assert failed.context.trace_id == completed.context.trace_id  # one invocation, one trace


def _attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})
