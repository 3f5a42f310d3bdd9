"""The reference's examples of restate_trio.observability and restate_trio.otel
(examples/reference/observability.py, examples/reference/otel.py) against a real
restate-server: a charge whose first attempt fails, then succeeds."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator

import pytest
import trio
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from examples.reference import observability as ref_observability, otel as ref_otel
from restate_trio.observability import HANDLER_LOGGER, AttemptInfo
from restate_trio.testing import RestateServer, serve_endpoint

_DEADLINE = 30.0


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    handler = Lines()
    handler.setFormatter(ref_observability.JsonLines())
    logger = logging.getLogger(HANDLER_LOGGER)
    level = logger.level
    ref_observability.show_handler_logs(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_logger_and_hooks_see_a_failed_then_a_completed_attempt(
    restate_server: RestateServer, json_lines: Lines, caplog: pytest.LogCaptureFixture
) -> None:
    payments = ref_observability.Payments(outages=1)
    endpoint = ref_observability.make_endpoint(payments, slow_run_seconds=0.0)
    with caplog.at_level(logging.INFO, logger="payments.hooks"), trio.fail_after(_DEADLINE):
        async with serve_endpoint(endpoint, restate_server):
            response = await restate_server.ingress("/Payments/charge", 250)
    assert response.json() == "charged 250", response.text
    invocation_id = response.invocation_id
    assert invocation_id is not None
    assert payments.outages == 0

    hooks = [r.getMessage() for r in caplog.records if r.name == "payments.hooks"]
    attempts = [m for m in hooks if " Payments/charge #" in m]
    assert len(attempts) == 2, hooks
    assert re.fullmatch(
        rf"{invocation_id} Payments/charge #1: failed in \d+\.\d{{3}}s", attempts[0]
    )
    assert re.fullmatch(rf"{invocation_id} Payments/charge #\d+: completed in .*s", attempts[1])
    failures = [m for m in hooks if "will be retried" in m]
    assert len(failures) == 1, hooks
    assert "the card network is down" in failures[0]
    # The run executed in both attempts (the first one's failed, so nothing was journaled).
    runs = [m for m in hooks if m.startswith("run 'charge card' of ")]
    assert runs[0] == f"run 'charge card' of {invocation_id}, attempt 1", hooks
    assert len(runs) == 2, hooks
    assert len([m for m in hooks if re.fullmatch(r"run 'charge card' took .*s", m)]) == 2

    records = [json.loads(line) for line in json_lines.lines]
    assert records, "ctx.logger wrote nothing"
    for record in records:
        assert record["message"] == "charging 250 cents"
        assert record["restate_invocation_id"] == invocation_id
        assert (record["restate_service"], record["restate_handler"]) == ("Payments", "charge")
        assert record["restate_key"] == ""
        assert set(record) == {"message", *ref_observability.RECORD_ATTRIBUTES}


async def test_only_for_leaves_other_services_alone() -> None:
    info = AttemptInfo("inv_1", "Shipping", "ship", "", 1, {}, replaying=False)
    hook = ref_observability.only_for("Payments", ref_observability.warn_on_failure)
    assert isinstance(hook(info), contextlib.nullcontext)
    info.service = "Payments"
    assert not isinstance(hook(info), contextlib.nullcontext)


async def test_tracing_hook_spans_an_attempt_and_its_run(restate_server: RestateServer) -> None:
    exporter = InMemorySpanExporter()
    endpoint, provider = ref_otel.traced_endpoint(exporter)
    with trio.fail_after(_DEADLINE):
        async with serve_endpoint(endpoint, restate_server):
            response = await restate_server.ingress("/Shipping/parcel-7/ship", "parcel-7")
    assert response.json() == "courier booked for parcel-7", response.text
    assert provider.force_flush()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"Shipping/ship", "run book courier"}, spans
    attempt, run = spans["Shipping/ship"], spans["run book courier"]
    assert run.parent is not None
    assert run.parent.span_id == attempt.context.span_id
    common = {
        "restate.invocation.id": response.invocation_id,
        "restate.invocation.target": "Shipping/ship",
        "restate.invocation.key": "parcel-7",
        "rpc.system": "restate",
        "rpc.service": "Shipping",
        "rpc.method": "ship",
    }
    assert ref_otel.restate_attributes(run) == {**common, "restate.run.name": "book courier"}
    assert ref_otel.restate_attributes(attempt) == {
        **common,
        "restate.attempt.number": 1,
        "restate.attempt.replaying": False,
        "restate.attempt.outcome": "completed",
    }
    provider.shutdown()
