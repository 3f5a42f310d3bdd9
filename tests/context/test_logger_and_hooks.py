"""``ctx.logger`` and the attempt/run hooks, driven by scripted frames: records logged while
replaying are dropped, fresh ones carry the invocation's attributes, the SDK's records name the
service and handler, and hooks see every attempt (with its outcome) and every executed run."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager

import pytest
import trio

import restate_trio as restate
from restate_trio._context.hooks import HookSet
from restate_trio._context.invocation import Attempt
from restate_trio._protocol import messages as m
from restate_trio._protocol.machine import StateMachine
from restate_trio.observability import (
    HANDLER_LOGGER,
    RECORD_ATTRIBUTES,
    AttemptInfo,
    AttemptOutcome,
    Hook,
    InvocationLogger,
    RunInfo,
)
from tests.protocol.transcripts import DEBUG_ID, journal_bytes, parse, run_completion

T = m.MessageType
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Shop:
    def __init__(self) -> None:
        self.paid = 0

    async def charge(self, ctx: restate.ObjectContext, amount: int) -> str:
        ctx.logger.info("charging %s", amount)

        async def pay() -> str:
            self.paid += 1
            ctx.logger.info("paying %s", amount)
            return "ok"

        receipt = await ctx.run("pay", pay)
        ctx.logger.info("charged %s", amount, extra={"order": "o-1", "restate_key": "mine"})
        return receipt

    async def broken(self, ctx: restate.ObjectContext) -> None:
        raise ValueError("card reader on fire")

    async def refused(self, ctx: restate.ObjectContext) -> None:
        raise restate.TerminalError("card refused", code=402)

    async def flaky_run(self, ctx: restate.ObjectContext) -> None:
        async def pay() -> None:
            raise ConnectionError("bank unreachable")

        await ctx.run("pay", pay, retry=restate.RetryPolicy(max_attempts=5))

    async def same_logger(self, ctx: restate.ObjectContext) -> bool:
        return ctx.logger is ctx.logger and isinstance(ctx.logger, logging.LoggerAdapter)


async def run_attempt(
    handler: str,
    journal: Sequence[m.Message] = (),
    *,
    hooks: Sequence[Hook] = (),
    body: bytes = b"5",
    **start_kw: object,
) -> list[T]:
    """One attempt of ``Shop.<handler>`` over V6 in request/response mode (input closed after
    the journal): the kinds of the messages it wrote."""
    definition = restate.reflect(Shop(), "Shop").handlers[handler]
    attempt = Attempt(
        StateMachine(6),
        definition,
        {"traceparent": TRACEPARENT},
        codec=definition.effective_codec,
        service="Shop",
        hooks=HookSet(hooks) if hooks else None,
    )
    attempt.feed(journal_bytes(journal, body=body, key="cart-7", **start_kw))
    attempt.feed_eof()
    written: list[bytes] = []
    async with trio.open_nursery() as nursery:

        async def write() -> None:
            while (data := await attempt.next_output()) is not None:
                written.append(data)

        nursery.start_soon(write)
        await attempt.run()
    return [kind for kind, _ in parse(b"".join(written))]


def handler_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == HANDLER_LOGGER]


REPLAYED_PAY = (m.RunCommandMessage(result_completion_id=1, name="pay"), run_completion(1, b'"ok"'))


# ---------------------------------------------------------------------- ctx.logger


async def test_fresh_records_carry_the_invocation_attributes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="restate_trio"):
        kinds = await run_attempt("charge", retry_count=2)
    # V6, input closed: the run's proposal waits for its completion, so the attempt suspends.
    assert kinds == [T.RUN_COMMAND, T.PROPOSE_RUN_COMPLETION, T.SUSPENSION]
    records = handler_records(caplog)
    assert [r.getMessage() for r in records] == ["charging 5", "paying 5"]
    for record in records:
        assert {name: getattr(record, name) for name in RECORD_ATTRIBUTES} == {
            "restate_invocation_id": DEBUG_ID,
            "restate_service": "Shop",
            "restate_handler": "charge",
            "restate_key": "cart-7",
            "restate_attempt": 3,
        }
    # The record points at the user's line, not at the adapter.
    assert records[0].filename == "test_logger_and_hooks.py"
    assert records[0].funcName == "charge"


async def test_records_are_dropped_while_replaying(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="restate_trio"):
        kinds = await run_attempt("charge", REPLAYED_PAY)
    assert kinds == [T.OUTPUT_COMMAND, T.END]
    records = handler_records(caplog)
    # "charging" ran again (replaying: dropped), the run was replayed (its closure did not
    # run), "charged" runs for the first time: logged, with the caller's extra merged in.
    assert [r.getMessage() for r in records] == ["charged 5"]
    assert records[0].__dict__["order"] == "o-1"
    assert records[0].__dict__["restate_key"] == "mine"  # the call's extra wins
    assert records[0].__dict__["restate_handler"] == "charge"


async def test_the_logger_is_one_standard_adapter_per_invocation() -> None:
    assert await run_attempt("same_logger", body=b"") == [T.OUTPUT_COMMAND, T.END]
    assert issubclass(InvocationLogger, logging.LoggerAdapter)


async def test_levels_of_the_handler_logger_apply(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=HANDLER_LOGGER):
        await run_attempt("charge")
    assert handler_records(caplog) == []


# ---------------------------------------------------------------------- the SDK's records


async def test_attempt_failed_record_names_service_handler_and_invocation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="restate_trio"):
        assert await run_attempt("broken", body=b"") == [T.ERROR]
    [record] = [r for r in caplog.records if r.name == "restate_trio.invocation"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert f"invocation {DEBUG_ID} (Shop/broken) attempt failed" in message
    assert "ValueError: card reader on fire" in message
    assert record.__dict__["restate_service"] == "Shop"
    assert record.__dict__["restate_handler"] == "broken"
    assert record.__dict__["restate_invocation_id"] == DEBUG_ID


async def test_suspension_is_a_debug_record(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="restate_trio"):
        await run_attempt("charge")
    [record] = [r for r in caplog.records if r.name == "restate_trio.invocation"]
    assert record.levelno == logging.DEBUG
    assert record.getMessage().startswith(f"invocation {DEBUG_ID} (Shop/charge) suspended")
    assert record.__dict__["restate_key"] == "cart-7"


# ---------------------------------------------------------------------- hooks


class Recorder:
    """A hook that records what it is told."""

    def __init__(self) -> None:
        self.attempts: list[tuple[AttemptInfo, AttemptOutcome | None, BaseException | None]] = []
        self.runs: list[tuple[str, BaseException | None]] = []
        self.entered: list[AttemptInfo] = []

    @asynccontextmanager
    async def attempt(self, info: AttemptInfo) -> AsyncGenerator[None]:
        assert info.outcome is None
        self.entered.append(info)
        await trio.lowlevel.checkpoint()  # hooks may await
        try:
            yield
        except BaseException as exc:
            self.attempts.append((info, info.outcome, exc))
            raise
        self.attempts.append((info, info.outcome, None))

    @asynccontextmanager
    async def run(self, info: RunInfo) -> AsyncGenerator[None]:
        assert info.attempt is self.entered[-1]
        try:
            yield
        except BaseException as exc:
            self.runs.append((info.name, exc))
            raise
        self.runs.append((info.name, None))

    def hook(self) -> Hook:
        return Hook(attempt=self.attempt, run=self.run)


async def test_hooks_see_a_fresh_attempt_and_its_executed_run() -> None:
    recorder = Recorder()
    await run_attempt("charge", hooks=[recorder.hook()], retry_count=1)
    [(info, outcome, error)] = recorder.attempts
    assert (info.invocation_id, info.service, info.handler, info.key) == (
        DEBUG_ID,
        "Shop",
        "charge",
        "cart-7",
    )
    assert info.attempt == 2
    assert info.headers["traceparent"] == TRACEPARENT
    assert info.replaying is False
    assert outcome is AttemptOutcome.SUSPENDED
    assert error is None
    assert recorder.runs == [("pay", None)]


async def test_hooks_see_no_replayed_run() -> None:
    recorder = Recorder()
    await run_attempt("charge", REPLAYED_PAY, hooks=[recorder.hook()])
    [(info, outcome, error)] = recorder.attempts
    assert info.replaying is True
    assert info.attempt == 1
    assert outcome is AttemptOutcome.COMPLETED
    assert error is None
    assert recorder.runs == []


async def test_hooks_see_the_handlers_exception_and_the_failure() -> None:
    recorder = Recorder()
    assert await run_attempt("broken", hooks=[recorder.hook()], body=b"") == [T.ERROR]
    [(info, outcome, error)] = recorder.attempts
    assert outcome is AttemptOutcome.FAILED
    assert isinstance(error, ValueError)
    assert info.failure == "ValueError: card reader on fire"


async def test_a_terminal_error_completes_the_attempt() -> None:
    recorder = Recorder()
    kinds = await run_attempt("refused", hooks=[recorder.hook()], body=b"")
    assert kinds == [T.OUTPUT_COMMAND, T.END]
    [(_, outcome, error)] = recorder.attempts
    assert outcome is AttemptOutcome.COMPLETED
    assert isinstance(error, restate.TerminalError)


async def test_a_failing_run_fails_the_attempt_with_its_exception() -> None:
    recorder = Recorder()
    kinds = await run_attempt("flaky_run", hooks=[recorder.hook()], body=b"")
    assert kinds == [T.RUN_COMMAND, T.ERROR]
    [(name, run_error)] = recorder.runs
    assert name == "pay"
    assert isinstance(run_error, ConnectionError)
    [(info, outcome, error)] = recorder.attempts
    assert outcome is AttemptOutcome.FAILED
    assert error is run_error
    assert info.failure is not None
    assert "bank unreachable" in info.failure


async def test_hooks_observe_and_cannot_change_the_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hook that fails to enter is skipped, one that fails to exit is logged, one that
    suppresses the exception suppresses nothing; the others still run, in order."""
    order: list[str] = []

    @asynccontextmanager
    async def broken_enter(info: AttemptInfo) -> AsyncGenerator[None]:
        raise RuntimeError("hook bug on enter")
        yield  # pragma: no cover

    @asynccontextmanager
    async def broken_exit(info: AttemptInfo) -> AsyncGenerator[None]:
        order.append("enter broken_exit")
        try:
            yield
        finally:
            raise RuntimeError("hook bug on exit")

    @asynccontextmanager
    async def swallow(info: AttemptInfo) -> AsyncGenerator[None]:
        order.append("enter swallow")
        try:
            yield
        except ValueError:
            order.append("swallowed")  # returning normally suppresses, in a plain `with`

    hooks = [Hook(attempt=broken_enter), Hook(attempt=broken_exit), Hook(attempt=swallow)]
    with caplog.at_level(logging.ERROR, logger="restate_trio"):
        kinds = await run_attempt("broken", hooks=hooks, body=b"")
    assert kinds == [T.ERROR]  # still failed: Restate retries it
    assert order == ["enter broken_exit", "enter swallow", "swallowed"]
    messages = [r.getMessage() for r in caplog.records if r.name == "restate_trio.invocation"]
    assert any("failed to enter" in text and "Shop/broken" in text for text in messages)
    assert any("failed to exit" in text for text in messages)


async def test_an_attempt_without_hooks_stores_nothing_for_them() -> None:
    definition = restate.reflect(Shop(), "Shop").handlers["charge"]
    attempt = Attempt(StateMachine(6), definition, {}, service="Shop")
    assert not {"_hooks", "run_hooks", "hook_info", "_hook_error"} & set(vars(attempt))


async def test_a_hooked_attempt_is_freed_by_refcounting() -> None:
    """No reference cycle is left through the attempt once it ran (as without hooks)."""
    import gc
    import weakref

    definition = restate.reflect(Shop(), "Shop").handlers["same_logger"]
    attempt = Attempt(
        StateMachine(6), definition, {}, service="Shop", hooks=HookSet([Recorder().hook()])
    )
    attempt.feed(journal_bytes(()))
    attempt.feed_eof()
    attempt.on_output(lambda: None)
    await attempt.run()
    attempt.take_output()
    ref = weakref.ref(attempt)
    gc.disable()
    try:
        del attempt
        assert ref() is None
    finally:
        gc.enable()
