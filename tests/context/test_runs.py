"""``ctx.run`` closures driven by scripted frames: proposals, retries across attempts, and when
closures execute."""

from __future__ import annotations

import functools
import math
import threading
from datetime import timedelta

import pytest
import trio
from trio.testing import MockClock

import restate_trio as restate
from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import REQUESTED_ACK
from tests.context.driver import drive
from tests.protocol.transcripts import failure, run_completion

T = m.MessageType

RETRIES = restate.RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=1), factor=2.0)


def without_stacktrace(msg: m.Message) -> m.ErrorMessage:
    assert isinstance(msg, m.ErrorMessage)
    copy = m.ErrorMessage()
    copy.CopyFrom(msg)
    copy.ClearField("stacktrace")
    return copy


class Steps:
    def __init__(self, policy: restate.RetryPolicy | None = None) -> None:
        self.policy = policy
        self.calls = 0

    async def one(self, ctx: restate.Context) -> int:
        async def step() -> int:
            self.calls += 1
            return 7

        return await ctx.run("step", step)

    async def flaky(self, ctx: restate.Context) -> str:
        async def charge() -> str:
            self.calls += 1
            raise ValueError("boom")

        return await ctx.run("charge", charge, retry=self.policy)

    async def refused(self, ctx: restate.Context) -> str:
        async def charge() -> str:
            self.calls += 1
            raise restate.TerminalError("card refused", code=402, metadata={"card": "x"})

        return await ctx.run("charge", charge, retry=self.policy)

    async def two(self, ctx: restate.Context) -> list[int]:
        async def slow(seconds: int) -> int:
            self.calls += 1
            await trio.sleep(seconds)
            return seconds

        return await restate.all_succeeded(ctx.run("a", slow, 3), ctx.run("b", slow, 1))

    async def lazy(self, ctx: restate.Context) -> int:
        async def step() -> int:
            self.calls += 1
            return 1

        future = ctx.run("step", step)  # journaled now, executed when first awaited
        await ctx.sleep(timedelta(seconds=1))
        return await future


class Placement:
    """Where closures run: the handler's own task when it awaits one with no deadline."""

    def __init__(self) -> None:
        self.calls = 0
        self.same_task: list[bool] = []

    async def direct(self, ctx: restate.Context) -> int:
        handler = trio.lowlevel.current_task()

        async def step() -> int:
            self.calls += 1
            self.same_task.append(trio.lowlevel.current_task() is handler)
            return 7

        return await ctx.run("step", step)

    async def deadline(self, ctx: restate.Context) -> str:
        async def slow() -> int:
            self.calls += 1
            await trio.sleep(5)
            return 5

        future = ctx.run("slow", slow)
        with trio.move_on_after(1):
            await future
            return "not timed out"
        # The timeout interrupted the wait, not the closure: it goes on and proposes.
        return f"timed out, then {await future}"

    async def interrupted(self, ctx: restate.Context) -> int:
        async def slow() -> int:
            self.calls += 1
            await trio.sleep(5)
            return 5

        async def cancel_later(scope: trio.CancelScope) -> None:
            await trio.sleep(1)
            scope.cancel()

        future = ctx.run("slow", slow)
        async with trio.open_nursery() as nursery:
            with trio.CancelScope() as scope:
                nursery.start_soon(cancel_later, scope)
                await future
        return await future  # the interrupted closure runs again


# --------------------------------------------------------------------------- proposals


async def test_v6_proposes_the_result_and_waits_for_the_journaled_completion(
    autojump_clock: MockClock,
) -> None:
    steps = Steps()
    async with drive(steps, "one", version=6) as d:
        d.start()
        assert await d.frames() == [
            (T.RUN_COMMAND, 0, m.RunCommandMessage(result_completion_id=1, name="step")),
            (
                T.PROPOSE_RUN_COMPLETION,
                0,
                m.ProposeRunCompletionMessage(result_completion_id=1, value=b"7"),
            ),
        ]
        assert not d.ended.is_set()  # the value is not used before the runtime journaled it
        d.feed(run_completion(1, b"7"))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b"7")),
            m.EndMessage(),
        ]
    assert steps.calls == 1


async def test_v7_proposes_with_an_ack_request_and_resolves_on_the_ack(
    autojump_clock: MockClock,
) -> None:
    steps = Steps()
    async with drive(steps, "one", version=7) as d:
        d.start()
        assert await d.frames() == [
            (T.RUN_COMMAND, 0, m.RunCommandMessage(result_completion_id=1, name="step")),
            (
                T.PROPOSE_RUN_COMPLETION,
                REQUESTED_ACK,
                m.ProposeRunCompletionMessage(result_completion_id=1, value=b"7"),
            ),
        ]
        d.feed(m.ProposeRunCompletionAckMessage(completion_id=1))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b"7")),
            m.EndMessage(),
        ]
    assert steps.calls == 1


async def test_a_proposed_run_suspends_on_its_completion_when_input_closed(
    autojump_clock: MockClock,
) -> None:
    async with drive(Steps(), "one", version=6) as d:
        d.start(eof=True)
        assert await d.finish() == [
            m.RunCommandMessage(result_completion_id=1, name="step"),
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b"7"),
            m.SuspensionMessage(waiting_completions=[1], waiting_signals=[1]),
        ]


async def test_a_closure_starts_when_its_future_is_first_awaited(
    autojump_clock: MockClock,
) -> None:
    steps = Steps()
    async with drive(steps, "lazy") as d:
        d.start()
        [run, sleep] = await d.output()
        assert run == m.RunCommandMessage(result_completion_id=1, name="step")
        assert isinstance(sleep, m.SleepCommandMessage)
        assert steps.calls == 0  # not awaited yet: the handler waits for the timer
        d.feed(m.SleepCompletionNotificationMessage(completion_id=2, void=m.Void()))
        assert await d.output() == [
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b"1")
        ]
        assert steps.calls == 1
        d.feed(run_completion(1, b"1"))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b"1")),
            m.EndMessage(),
        ]


async def test_closures_awaited_together_run_concurrently(autojump_clock: MockClock) -> None:
    steps = Steps()
    async with drive(steps, "two") as d:
        d.start()
        assert await d.output() == [
            m.RunCommandMessage(result_completion_id=1, name="a"),
            m.RunCommandMessage(result_completion_id=2, name="b"),
        ]
        began = trio.current_time()
        await trio.sleep(5)
        # b (1 s) proposed before a (3 s): proposals follow the closures, not the journal.
        assert await d.output() == [
            m.ProposeRunCompletionMessage(result_completion_id=2, value=b"1"),
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b"3"),
        ]
        d.feed(run_completion(2, b"1"), run_completion(1, b"3"))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b"[3,1]")),
            m.EndMessage(),
        ]
        assert trio.current_time() - began == pytest.approx(5)
    assert steps.calls == 2


async def test_a_sync_closure_runs_in_a_worker_thread(autojump_clock: MockClock) -> None:
    ran_in: list[threading.Thread] = []

    def blocking() -> str:
        ran_in.append(threading.current_thread())
        return "done"

    class Sync:
        async def go(self, ctx: restate.Context) -> str:
            return await ctx.run("blocking", blocking)

    async with drive(Sync(), "go") as d:
        # While the thread works every task is blocked: the autojump clock would jump to the
        # driver's deadline. Virtual time stands still instead (a hang is pytest-timeout's).
        autojump_clock.autojump_threshold = math.inf
        d.start(eof=True)
        assert await d.finish() == [
            m.RunCommandMessage(result_completion_id=1, name="blocking"),
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b'"done"'),
            m.SuspensionMessage(waiting_completions=[1], waiting_signals=[1]),
        ]
    assert ran_in
    assert ran_in[0] is not threading.main_thread()


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize("journaled", [False, True], ids=["new", "journaled"])
@pytest.mark.parametrize(("retry_count", "delay_ms"), [(0, 1000), (1, 2000)])
async def test_a_failing_closure_fails_the_attempt_with_the_policys_delay(
    autojump_clock: MockClock, retry_count: int, delay_ms: int, journaled: bool
) -> None:
    """Attempts 1 and 2 of 3: the attempt ends with an ErrorMessage naming the run, and Restate
    retries after the delay. ``journaled``: the previous attempt journaled the run command."""
    steps = Steps(RETRIES)
    journal = [m.RunCommandMessage(result_completion_id=1, name="charge")] if journaled else []
    async with drive(steps, "flaky") as d:
        d.start(journal, retry_count=retry_count, duration_ms=1500, eof=True)
        out = await d.finish()
    expected_error = m.ErrorMessage(
        code=500,
        message="ctx.run 'charge' failed: ValueError: boom",
        related_command_index=1,
        related_command_type=T.RUN_COMMAND,
        related_command_name="charge",
        next_retry_delay=delay_ms,
    )
    run = m.RunCommandMessage(result_completion_id=1, name="charge")
    assert out[:-1] == ([] if journaled else [run])
    assert without_stacktrace(out[-1]) == expected_error
    assert isinstance(out[-1], m.ErrorMessage)
    assert "ValueError: boom" in out[-1].stacktrace
    assert steps.calls == 1


@pytest.mark.parametrize("version", [6, 7])
@pytest.mark.parametrize("journaled", [False, True], ids=["new", "journaled"])
async def test_on_the_last_attempt_the_failure_is_proposed_as_terminal(
    autojump_clock: MockClock, journaled: bool, version: int
) -> None:
    steps = Steps(RETRIES)
    run = m.RunCommandMessage(result_completion_id=1, name="charge")
    terminal = failure(500, "ValueError: boom")
    async with drive(steps, "flaky", version=version) as d:
        d.start([run] if journaled else [], retry_count=2)
        assert await d.output() == [
            *([] if journaled else [run]),
            m.ProposeRunCompletionMessage(result_completion_id=1, failure=terminal),
        ]
        if version >= 7:
            d.feed(m.ProposeRunCompletionAckMessage(completion_id=1))
        else:
            d.feed(run_completion(1, error=terminal))
        # The handler does not catch it: the run's failure is the invocation's.
        assert await d.finish() == [
            m.OutputCommandMessage(failure=terminal),
            m.EndMessage(),
        ]
    assert steps.calls == 1


async def test_max_duration_makes_the_failure_terminal_once_elapsed(
    autojump_clock: MockClock,
) -> None:
    steps = Steps(restate.RetryPolicy(max_duration=timedelta(seconds=10)))
    async with drive(steps, "flaky") as d:
        d.start(retry_count=4, duration_ms=10_000, eof=True)
        assert await d.finish() == [
            m.RunCommandMessage(result_completion_id=1, name="charge"),
            m.ProposeRunCompletionMessage(
                result_completion_id=1, failure=failure(500, "ValueError: boom")
            ),
            m.SuspensionMessage(waiting_completions=[1], waiting_signals=[1]),
        ]


async def test_without_limits_a_failing_closure_retries_with_the_servers_delay(
    autojump_clock: MockClock,
) -> None:
    async with drive(Steps(), "flaky") as d:
        d.start(retry_count=1000, eof=True)
        [run, error] = await d.finish()
    assert run == m.RunCommandMessage(result_completion_id=1, name="charge")
    assert isinstance(error, m.ErrorMessage)
    assert error.code == 500
    assert not error.HasField("next_retry_delay")  # the invocation's retry policy decides


async def test_a_terminal_error_in_a_closure_is_proposed_at_once(
    autojump_clock: MockClock,
) -> None:
    steps = Steps(RETRIES)
    refused = failure(402, "card refused", {"card": "x"})
    async with drive(steps, "refused", version=7) as d:
        d.start(retry_count=0)
        assert await d.output() == [
            m.RunCommandMessage(result_completion_id=1, name="charge"),
            m.ProposeRunCompletionMessage(result_completion_id=1, failure=refused),
        ]
        d.feed(m.ProposeRunCompletionAckMessage(completion_id=1))
        assert await d.finish() == [m.OutputCommandMessage(failure=refused), m.EndMessage()]
    assert steps.calls == 1


async def test_only_the_first_new_run_inherits_the_retry_count(
    autojump_clock: MockClock,
) -> None:
    """StartMessage's retry count is about the command the previous attempts failed at; a
    second failing run in the same attempt starts its own count from zero (attempt 1 of 3)."""

    class TwoFlaky:
        async def go(self, ctx: restate.Context) -> None:
            async def ok() -> int:
                return 1

            async def boom() -> int:
                raise ValueError("boom")

            await ctx.run("ok", ok, retry=RETRIES)
            await ctx.run("boom", boom, retry=RETRIES)

    async with drive(TwoFlaky(), "go") as d:
        d.start(retry_count=2)
        assert await d.output() == [
            m.RunCommandMessage(result_completion_id=1, name="ok"),
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b"1"),
        ]
        d.feed(run_completion(1, b"1"))
        run, error = await d.finish()
    assert run == m.RunCommandMessage(result_completion_id=2, name="boom")
    assert isinstance(error, m.ErrorMessage)
    assert error.next_retry_delay == 1000  # attempt 1, not 3: not terminal
    assert error.related_command_index == 2


async def test_a_losing_closure_is_cancelled_when_the_handler_is_done(
    autojump_clock: MockClock,
) -> None:
    log: list[str] = []

    class Race:
        async def go(self, ctx: restate.Context) -> str:
            async def work(name: str, seconds: int) -> str:
                try:
                    await trio.sleep(seconds)
                finally:
                    log.append(f"{name} ended")
                return name

            winner = await restate.first_completed(
                ctx.run("slow", work, "slow", 100), ctx.run("fast", work, "fast", 1)
            )
            return await winner

    async with drive(Race(), "go", version=7) as d:
        d.start()
        await trio.sleep(2)
        assert await d.output() == [
            m.RunCommandMessage(result_completion_id=1, name="slow"),
            m.RunCommandMessage(result_completion_id=2, name="fast"),
            m.ProposeRunCompletionMessage(result_completion_id=2, value=b'"fast"'),
        ]
        d.feed(m.ProposeRunCompletionAckMessage(completion_id=2))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b'"fast"')),
            m.EndMessage(),
        ]
        assert log == ["fast ended", "slow ended"]
        assert trio.current_time() < 100  # cancelled, not awaited


def test_return_types_of_closures_sharing_code_are_resolved_each() -> None:
    """Closures defined in a handler share one code object; the memoised return type must
    still follow each function's own annotation."""
    from restate_trio._context.context_impl import _closure_info

    def make(tp: object) -> object:
        async def closure() -> None:
            return None

        closure.__annotations__ = {"return": tp}
        return closure

    first, second, third = make(int), make(list[str]), make(None)
    assert first.__code__ is second.__code__ is third.__code__
    for _ in range(2):  # the second round comes from the memo
        assert _closure_info(first) == (int, True)
        assert _closure_info(second) == (list[str], True)
        assert _closure_info(third) == (object, True)

    async def unannotated():
        return 1

    def sync(x: int) -> str:
        return str(x)

    assert _closure_info(unannotated) == (object, True)
    for _ in range(2):
        assert _closure_info(sync) == (str, False)
        assert _closure_info(functools.partial(unannotated)) == (object, True)
        assert _closure_info(functools.partial(sync, 1)) == (str, False)


# --------------------------------------------------------------------------- placement


async def test_an_awaited_closure_runs_in_the_handlers_own_task(
    autojump_clock: MockClock,
) -> None:
    placement = Placement()
    async with drive(placement, "direct", version=7) as d:
        d.start()
        assert await d.output() == [
            m.RunCommandMessage(result_completion_id=1, name="step"),
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b"7"),
        ]
        d.feed(m.ProposeRunCompletionAckMessage(completion_id=1))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b"7")),
            m.EndMessage(),
        ]
    assert placement.same_task == [True]


async def test_a_timeout_around_the_await_does_not_cancel_the_closure(
    autojump_clock: MockClock,
) -> None:
    placement = Placement()
    async with drive(placement, "deadline", version=7) as d:
        d.start()
        assert await d.output() == [m.RunCommandMessage(result_completion_id=1, name="slow")]
        await trio.sleep(4.5)  # virtual time: the handler's timeout (1 s) has passed
        assert await d.output() == []
        await trio.sleep(1)
        assert await d.output() == [
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b"5"),
        ]
        d.feed(m.ProposeRunCompletionAckMessage(completion_id=1))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b'"timed out, then 5"')),
            m.EndMessage(),
        ]
    assert placement.calls == 1


async def test_a_closure_interrupted_in_the_handler_runs_again_when_awaited_again(
    autojump_clock: MockClock,
) -> None:
    placement = Placement()
    async with drive(placement, "interrupted", version=7) as d:
        d.start()
        assert await d.output() == [m.RunCommandMessage(result_completion_id=1, name="slow")]
        await trio.sleep(5.5)  # the first run would have been done at 5 s: it was cancelled
        assert await d.output() == []
        await trio.sleep(1)  # started again at 1 s, done at 6 s
        assert await d.output() == [
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b"5"),
        ]
        d.feed(m.ProposeRunCompletionAckMessage(completion_id=1))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b"5")),
            m.EndMessage(),
        ]
    assert placement.calls == 2
