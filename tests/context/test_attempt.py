"""An attempt driven by scripted frames: outcomes, suspension, replay, journal mismatch.

No server and no HTTP: ``driver.drive`` plays the transport (see its docstring).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import trio
from trio.testing import MockClock

import restate_trio as restate
from restate_trio._context.invocation import _YIELD_EVERY  # pyright: ignore[reportPrivateUsage]
from restate_trio._protocol import messages as m
from tests.context.driver import drive
from tests.protocol.transcripts import failure, input_command, sleep_completion, start

T = m.MessageType
FC = m.CombinatorType.FIRST_COMPLETED
ASOFF = m.CombinatorType.ALL_SUCCEEDED_OR_FIRST_FAILED
NOW_S = 1_700_000_000.0  # the wall clock ctx.sleep reads, frozen
NOW_MS = int(NOW_S * 1000)


@pytest.fixture
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durable timers are journaled as wall-clock deadlines: freeze the wall clock."""
    monkeypatch.setattr(time, "time", lambda: NOW_S)


def without_stacktrace(msg: m.Message) -> m.Message:
    assert isinstance(msg, m.ErrorMessage)
    copy = m.ErrorMessage()
    copy.CopyFrom(msg)
    copy.ClearField("stacktrace")
    return copy


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"hello {name}"

    async def refuse(self, ctx: restate.Context, name: str) -> str:
        raise restate.TerminalError(f"no {name}", code=403, metadata={"why": "policy"})

    async def crash(self, ctx: restate.Context, name: str) -> str:
        raise ValueError(f"bad {name}")

    async def nap(self, ctx: restate.Context) -> None:
        await ctx.sleep(timedelta(seconds=5))

    async def naps(self, ctx: restate.Context) -> None:
        await restate.all_succeeded(
            ctx.sleep(timedelta(seconds=1)), ctx.sleep(timedelta(seconds=2))
        )


# --------------------------------------------------------------------------- outcomes


@pytest.mark.parametrize("version", [5, 6, 7])
async def test_a_returned_value_is_the_output_then_end(
    autojump_clock: MockClock, version: int
) -> None:
    async with drive(Greeter(), "greet", version=version) as d:
        d.start(body=b'"bob"', eof=True)
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b'"hello bob"')),
            m.EndMessage(),
        ]


@pytest.mark.parametrize(("version", "metadata"), [(5, {}), (6, {"why": "policy"})])
async def test_a_terminal_error_is_the_failed_output_then_end(
    autojump_clock: MockClock, version: int, metadata: dict[str, str]
) -> None:
    async with drive(Greeter(), "refuse", version=version) as d:
        d.start(body=b'"bob"', eof=True)
        assert await d.finish() == [
            m.OutputCommandMessage(failure=failure(403, "no bob", metadata)),
            m.EndMessage(),
        ]


async def test_a_plain_exception_fails_the_attempt_retryably(autojump_clock: MockClock) -> None:
    async with drive(Greeter(), "crash") as d:
        d.start(body=b'"bob"', eof=True)
        [error] = await d.finish()
    assert without_stacktrace(error) == m.ErrorMessage(code=500, message="ValueError: bad bob")
    assert isinstance(error, m.ErrorMessage)
    assert "ValueError: bad bob" in error.stacktrace
    assert "in crash" in error.stacktrace  # the user's frame is in it
    assert await d.attempt.next_output() is None  # the attempt is over


async def test_undecodable_input_is_a_terminal_400(autojump_clock: MockClock) -> None:
    async with drive(Greeter(), "greet") as d:
        d.start(body=b"[1, 2]", eof=True)
        [out, end] = await d.finish()
    assert end == m.EndMessage()
    assert isinstance(out, m.OutputCommandMessage)
    assert out.failure.code == 400
    assert out.failure.message.startswith("request could not be decoded into handler input type")


# --------------------------------------------------------------------------- suspension


@pytest.mark.usefixtures("frozen_time")
async def test_an_await_not_in_the_journal_suspends_v7_as_a_future_tree(
    autojump_clock: MockClock,
) -> None:
    async with drive(Greeter(), "nap", version=7) as d:
        d.start(eof=True)
        assert await d.finish() == [
            m.SleepCommandMessage(wake_up_time=NOW_MS + 5000, result_completion_id=1),
            # Cancellation (signal 1) must be able to wake the invocation too.
            m.SuspensionMessage(
                awaiting_on=m.Future(
                    combinator_type=FC, waiting_completions=[1], waiting_signals=[1]
                )
            ),
        ]


@pytest.mark.parametrize("version", [5, 6])
@pytest.mark.usefixtures("frozen_time")
async def test_an_await_not_in_the_journal_suspends_v5_v6_as_lists(
    autojump_clock: MockClock, version: int
) -> None:
    async with drive(Greeter(), "nap", version=version) as d:
        d.start(eof=True)
        assert await d.finish() == [
            m.SleepCommandMessage(wake_up_time=NOW_MS + 5000, result_completion_id=1),
            m.SuspensionMessage(waiting_completions=[1], waiting_signals=[1]),
        ]


@pytest.mark.usefixtures("frozen_time")
async def test_a_combinator_suspends_on_its_tree_v7(autojump_clock: MockClock) -> None:
    async with drive(Greeter(), "naps", version=7) as d:
        d.start(eof=True)
        assert await d.finish() == [
            m.SleepCommandMessage(wake_up_time=NOW_MS + 1000, result_completion_id=1),
            m.SleepCommandMessage(wake_up_time=NOW_MS + 2000, result_completion_id=2),
            m.SuspensionMessage(
                awaiting_on=m.Future(
                    combinator_type=FC,
                    nested_futures=[m.Future(combinator_type=ASOFF, waiting_completions=[1, 2])],
                    waiting_signals=[1],
                )
            ),
        ]


@pytest.mark.usefixtures("frozen_time")
async def test_a_combinator_suspends_on_what_is_still_missing(autojump_clock: MockClock) -> None:
    async with drive(Greeter(), "naps", version=6) as d:
        d.start()
        assert await d.output() == [
            m.SleepCommandMessage(wake_up_time=NOW_MS + 1000, result_completion_id=1),
            m.SleepCommandMessage(wake_up_time=NOW_MS + 2000, result_completion_id=2),
        ]
        d.feed(sleep_completion(2))
        assert await d.output() == []  # still waiting for timer 1, input open
        d.feed_eof()
        assert await d.finish() == [
            m.SuspensionMessage(waiting_completions=[1], waiting_signals=[1])
        ]


@pytest.mark.usefixtures("frozen_time")
async def test_while_input_is_open_an_await_waits_and_then_resolves(
    autojump_clock: MockClock,
) -> None:
    async with drive(Greeter(), "nap") as d:
        d.start()
        assert await d.output() == [
            m.SleepCommandMessage(wake_up_time=NOW_MS + 5000, result_completion_id=1)
        ]
        assert not d.ended.is_set()
        d.feed(sleep_completion(1))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b"")),
            m.EndMessage(),
        ]


@pytest.mark.usefixtures("frozen_time")
async def test_graceful_shutdown_suspends_an_idle_await_with_input_open(
    autojump_clock: MockClock,
) -> None:
    async with drive(Greeter(), "nap") as d:
        d.start()
        assert len(await d.output()) == 1  # the SleepCommand
        d.attempt.suspend_when_idle()
        assert await d.finish() == [
            m.SuspensionMessage(waiting_completions=[1], waiting_signals=[1])
        ]


# --------------------------------------------------------------------------- replay


class Account:
    def __init__(self) -> None:
        self.executed: list[str] = []

    async def deposit(self, ctx: restate.ObjectContext, amount: int) -> int:
        async def fee() -> int:
            self.executed.append("fee")
            return 1

        async def rate() -> int:
            self.executed.append("rate")
            return 3

        charged = await ctx.run("fee", fee)
        balance = (await ctx.get("balance", type=int) or 0) + amount - charged
        ctx.set("balance", balance)
        await ctx.sleep(timedelta(seconds=1))
        return balance * await ctx.run("rate", rate)


ACCOUNT_JOURNAL: list[m.Message] = [
    m.RunCommandMessage(result_completion_id=1, name="fee"),
    m.RunCompletionNotificationMessage(completion_id=1, value=m.Value(content=b"1")),
    m.GetEagerStateCommandMessage(key=b"balance", value=m.Value(content=b"10")),
    m.SetStateCommandMessage(key=b"balance", value=m.Value(content=b"14")),
    m.SleepCommandMessage(wake_up_time=123, result_completion_id=3),
    m.SleepCompletionNotificationMessage(completion_id=3, void=m.Void()),
]


async def test_replay_writes_nothing_for_recorded_commands_and_runs_no_recorded_closure(
    autojump_clock: MockClock,
) -> None:
    account = Account()
    async with drive(account, "deposit") as d:
        d.start(ACCOUNT_JOURNAL, body=b"5", key="acc", eof=True)
        assert await d.finish() == [
            # Processing starts after the journal: the second run is new and executes.
            m.RunCommandMessage(result_completion_id=4, name="rate"),
            m.ProposeRunCompletionMessage(result_completion_id=4, value=b"3"),
            m.SuspensionMessage(waiting_completions=[4], waiting_signals=[1]),
        ]
    assert account.executed == ["rate"]


async def test_a_fully_replayed_journal_then_completes(autojump_clock: MockClock) -> None:
    account = Account()
    journal = [
        *ACCOUNT_JOURNAL,
        m.RunCommandMessage(result_completion_id=4, name="rate"),
        m.RunCompletionNotificationMessage(completion_id=4, value=m.Value(content=b"3")),
    ]
    async with drive(account, "deposit") as d:
        d.start(journal, body=b"5", key="acc", eof=True)
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b"42")),
            m.EndMessage(),
        ]
    assert account.executed == []


async def test_a_journaled_run_without_its_completion_executes_again(
    autojump_clock: MockClock,
) -> None:
    account = Account()
    journal = ACCOUNT_JOURNAL[:1]  # the run command, but its result was never journaled
    async with drive(account, "deposit", version=7) as d:
        d.start(journal, body=b"5", key="acc", partial_state=False)
        [(kind, flags, proposal)] = await d.frames()
        assert (kind, proposal) == (
            T.PROPOSE_RUN_COMPLETION,
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b"1"),
        )
        assert flags != 0  # V7 asks for an ack
        d.feed(m.ProposeRunCompletionAckMessage(completion_id=1))
        d.feed_eof()
        [get, set_, sleep, suspension] = await d.finish()
    assert account.executed == ["fee"]
    assert get == m.GetEagerStateCommandMessage(key=b"balance", void=m.Void())
    assert set_ == m.SetStateCommandMessage(key=b"balance", value=m.Value(content=b"4"))
    assert isinstance(sleep, m.SleepCommandMessage)
    assert sleep.result_completion_id == 3
    assert isinstance(suspension, m.SuspensionMessage)


# --------------------------------------------------------------------------- journal mismatch


class Renamed:
    def __init__(self) -> None:
        self.seen: list[object] = []

    async def update(self, ctx: restate.ObjectContext) -> None:
        try:
            ctx.set("renamed", 1)  # the journal recorded "balance"
            self.seen.append("continued after the mismatch")
        except Exception as exc:
            self.seen.append(exc)


async def test_a_differing_replayed_command_is_a_570_journal_mismatch(
    autojump_clock: MockClock,
) -> None:
    handler = Renamed()
    journal = [m.SetStateCommandMessage(key=b"balance", value=m.Value(content=b"1"))]
    async with drive(handler, "update") as d:
        d.start(journal, key="k", eof=True)
        [error] = await d.finish()
    assert isinstance(error, m.ErrorMessage)
    assert error.code == 570
    assert error.message.startswith(
        'journal mismatch at command 1: the handler issued SET_STATE_COMMAND {key: "renamed"'
    )
    assert 'but the journal recorded SET_STATE_COMMAND {key: "balance"' in error.message
    assert error.related_command_index == 1
    assert error.related_command_type == T.SET_STATE_COMMAND
    # The handler unwound at the command: nothing user-visible, nothing after it ran.
    assert handler.seen == []


async def test_a_missing_replayed_command_at_the_end_is_a_570(autojump_clock: MockClock) -> None:
    # The journal recorded a command the handler no longer issues before returning.
    journal = [m.SetStateCommandMessage(key=b"balance", value=m.Value(content=b"1"))]
    async with drive(Greeter(), "greet") as d:
        d.start(journal, body=b'"bob"', eof=True)
        [error] = await d.finish()
    assert isinstance(error, m.ErrorMessage)
    assert error.code == 570
    assert error.related_command_type == T.OUTPUT_COMMAND


# --------------------------------------------------------------------------- user nurseries


class Nursery:
    async def fan_out(self, ctx: restate.Context, fail_with: str) -> None:
        async def child() -> None:
            if fail_with == "terminal":
                raise restate.TerminalError("child refused", code=422)
            raise KeyError("child broke")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)


async def test_a_terminal_error_from_a_user_nursery_is_terminal(autojump_clock: MockClock) -> None:
    async with drive(Nursery(), "fan_out") as d:
        d.start(body=b'"terminal"', eof=True)
        assert await d.finish() == [
            m.OutputCommandMessage(failure=failure(422, "child refused")),
            m.EndMessage(),
        ]


async def test_a_plain_error_from_a_user_nursery_is_retryable(autojump_clock: MockClock) -> None:
    async with drive(Nursery(), "fan_out") as d:
        d.start(body=b'"plain"', eof=True)
        [error] = await d.finish()
    assert isinstance(error, m.ErrorMessage)
    assert error.code == 500
    assert "KeyError: 'child broke'" in error.stacktrace


# --------------------------------------------------------------------------- protocol errors


async def test_input_closing_before_the_journal_arrived_is_a_571(
    autojump_clock: MockClock,
) -> None:
    async with drive(Greeter(), "greet") as d:
        d.feed(start(known_entries=3), input_command(b'"bob"'))  # one journal entry missing
        assert await d.output() == []
        d.feed_eof()
        [error] = await d.finish()
    assert isinstance(error, m.ErrorMessage)
    assert error.code == 571
    assert error.message == "input closed while still waiting to receive all journal to replay"


# --------------------------------------------------------------------------- completed awaits


class Reader:
    """Awaits of results that are already there (eager state): cancellation points always,
    schedule points now and then (see ``Attempt.checkpoint``)."""

    async def yields(self, ctx: restate.ObjectContext) -> int:
        reads = 0
        with trio.CancelScope() as scope:

            async def cancel_when_scheduled() -> None:
                scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel_when_scheduled)
                for _ in range(1000):
                    await ctx.get("n", type=int)
                    reads += 1
        return reads

    async def cancellable(self, ctx: restate.ObjectContext) -> str:
        with trio.CancelScope() as scope:
            scope.cancel()
            await ctx.get("n", type=int)
            return "not cancelled"
        return "cancelled"


async def test_a_loop_over_completed_awaits_lets_other_tasks_run(
    autojump_clock: MockClock,
) -> None:
    async with drive(Reader(), "yields") as d:
        d.start(body=b"", key="k", state={"n": b"1"}, partial_state=False, eof=True)
        [get, *_, output, end] = await d.finish()
    assert get == m.GetEagerStateCommandMessage(key=b"n", value=m.Value(content=b"1"))
    reads = int(output.value.content)  # type: ignore[attr-defined]
    # The sibling task ran (and cancelled the loop) at one of the first two schedule points
    # (trio may run the handler first in the batch where both are runnable).
    assert _YIELD_EVERY - 1 <= reads < 2 * _YIELD_EVERY
    assert end == m.EndMessage()


async def test_awaiting_a_completed_result_in_a_cancelled_scope_raises_cancelled(
    autojump_clock: MockClock,
) -> None:
    async with drive(Reader(), "cancellable") as d:
        d.start(body=b"", key="k", state={"n": b"1"}, partial_state=False, eof=True)
        [_get, output, _end] = await d.finish()
    assert output == m.OutputCommandMessage(value=m.Value(content=b'"cancelled"'))
