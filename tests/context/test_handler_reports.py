"""What the attempt reports about user code: durable futures that only act when awaited and were
not (a RuntimeWarning), and journal mismatches (an ERROR log naming where the code diverged)."""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

import pytest
import trio

import restate_trio as restate
from restate_trio._context.invocation import Attempt
from restate_trio._protocol import messages as m
from restate_trio._protocol.machine import StateMachine
from tests.protocol.transcripts import DEBUG_ID, journal_bytes, parse


class Forgetful:
    async def forgets_run(self, ctx: restate.Context) -> None:
        ctx.run("charge", lambda: 1)

    async def forgets_sleep(self, ctx: restate.Context) -> None:
        ctx.sleep(timedelta(seconds=1))

    async def awaits_both(self, ctx: restate.Context) -> None:
        await restate.all_completed(ctx.run("charge", lambda: 1), ctx.sleep(timedelta(0)))

    async def changed(self, ctx: restate.Context) -> None:
        await ctx.sleep(timedelta(seconds=1))  # the journal recorded a run here: diverges


async def _run(handler: str, journal: tuple[m.Message, ...] = ()) -> list[m.MessageType]:
    definition = restate.reflect(Forgetful()).handlers[handler]
    attempt = Attempt(StateMachine(6), definition, {}, service="Forgetful")
    attempt.feed(journal_bytes(journal))
    attempt.feed_eof()  # request/response: whatever cannot complete now suspends
    written: list[bytes] = []
    async with trio.open_nursery() as nursery:

        async def write() -> None:
            while (data := await attempt.next_output()) is not None:
                written.append(data)

        nursery.start_soon(write)
        await attempt.run()
    return [kind for kind, _ in parse(b"".join(written))]


@pytest.mark.parametrize(
    ("handler", "operation"),
    [("forgets_run", "ctx.run('charge')"), ("forgets_sleep", "ctx.sleep()")],
)
async def test_never_awaited_warns_naming_operation_and_handler(
    handler: str, operation: str
) -> None:
    with pytest.warns(RuntimeWarning, match="never awaited") as caught:
        kinds = await _run(handler)
    message = str(caught[0].message)
    assert operation in message
    assert repr(handler) in message
    # The warning points at the user's handler, not at the SDK.
    assert caught[0].filename == __file__
    assert kinds[-1] is m.MessageType.END  # the handler's outcome is unchanged


async def test_awaited_through_a_combinator_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kinds = await _run("awaits_both")
    # The run closure ran (proposal), the timer suspended the attempt: nothing to report.
    assert m.MessageType.PROPOSE_RUN_COMPLETION in kinds
    assert kinds[-1] is m.MessageType.SUSPENSION


async def test_journal_mismatch_is_logged_with_the_diverging_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorded = m.RunCommandMessage(result_completion_id=1, name="charge")
    with caplog.at_level(logging.ERROR, logger="restate_trio"):
        kinds = await _run("changed", (recorded,))
    assert kinds == [m.MessageType.ERROR]
    [record] = [r for r in caplog.records if "journal mismatch" in r.getMessage()]
    assert record.levelno == logging.ERROR
    text = record.getMessage()
    assert "Forgetful/changed" in text
    assert DEBUG_ID in text
    line = Forgetful.changed.__code__.co_firstlineno + 1  # the ctx.sleep line
    assert f"{__file__}:{line}" in text
    # The structured mismatch rides along for log processors.
    mismatch = record.__dict__["restate_mismatch"]
    assert (mismatch.expected.type_name, mismatch.expected.name) == ("RUN_COMMAND", "charge")
    assert mismatch.actual.type_name == "SLEEP_COMMAND"
