"""Durable nurseries and cancel scopes, fed frames and asserted frames.

The property under test is the scheduler's (restate_trio/_context/scheduler.py): the journal
an invocation writes depends only on the program, the order its tasks were started in and the
order completions arrive in; never on trio's scheduling, which these tests randomise with
trio's own seeded mode (``_ALLOW_DETERMINISTIC_SCHEDULING`` plus ``_r.seed``: each seed is
another interleaving of the runnable tasks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import trio
import trio._core._run as trio_run
from trio.testing import MockClock

import restate_trio as restate
from restate_trio._protocol import messages as m
from tests.context.driver import Driver, drive
from tests.protocol.transcripts import (
    cancel_signal,
    failure,
    run_completion,
    signal,
    sleep_completion,
)

# --------------------------------------------------------------------------- services


async def sleeper(ctx: restate.Context, tag: str, steps: int) -> str:
    for i in range(steps):
        await ctx.sleep(timedelta(seconds=1), name=f"{tag}{i}")
    return tag


async def awaiting(ctx: restate.Context, tag: str) -> str:
    _, future = ctx.awakeable(type=str)
    return f"{tag}={await future}"


async def watched(ctx: restate.Context, tag: str, cancelled: list[str]) -> None:
    """One sleep; notes ``tag`` in ``cancelled`` when it is cancelled."""
    try:
        await sleeper(ctx, tag, 1)
    except trio.Cancelled:
        cancelled.append(tag)
        raise


async def failing_after_sleep(ctx: restate.Context, code: int) -> None:
    await ctx.sleep(timedelta(seconds=1), name=f"fail{code}")
    raise restate.TerminalError(f"failed {code}", code=code)


class Fan:
    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.release_fast = trio.Event()

    async def three(self, ctx: restate.Context) -> list[str]:
        async with restate.open_nursery(ctx) as nursery:
            results = [nursery.start_soon_result(sleeper, ctx, tag, 3) for tag in "abc"]
        return [r.value for r in results]

    async def nested(self, ctx: restate.Context) -> list[str]:
        async def inner(tag: str) -> str:
            async with restate.open_nursery(ctx) as nursery:
                left = nursery.start_soon_result(sleeper, ctx, tag + "L", 1)
                right = nursery.start_soon_result(sleeper, ctx, tag + "R", 1)
            return left.value + right.value

        async with restate.open_nursery(ctx) as nursery:
            x = nursery.start_soon_result(inner, "x")
            y = nursery.start_soon_result(inner, "y")
        return [x.value, y.value]

    async def awakeables(self, ctx: restate.Context) -> list[str]:
        async with restate.open_nursery(ctx) as nursery:
            results = [nursery.start_soon_result(awaiting, ctx, tag) for tag in "ab"]
        return [r.value for r in results]

    async def one_fails(self, ctx: restate.Context) -> str:
        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(watched, ctx, "a", self.cancelled)
            nursery.start_soon(failing_after_sleep, ctx, 401)
            nursery.start_soon(watched, ctx, "c", self.cancelled)
        return "unreachable"

    async def two_fail(self, ctx: restate.Context) -> str:
        async def fail_now(code: int) -> None:
            raise restate.TerminalError(f"failed {code}", code=code)

        async def fail_when_cancelled(code: int) -> None:
            try:
                await sleeper(ctx, "b", 1)
            except trio.Cancelled:
                raise restate.TerminalError(f"failed {code}", code=code) from None

        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(fail_when_cancelled, 403)
            nursery.start_soon(fail_now, 402)
        return "unreachable"

    async def retryable(self, ctx: restate.Context) -> str:
        async def boom() -> None:
            raise ValueError("not terminal")

        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(boom)
            nursery.start_soon(sleeper, ctx, "a", 1)
        return "unreachable"

    async def timeout(self, ctx: restate.Context) -> str:
        with restate.move_on_after(ctx, timedelta(seconds=5)) as scope:
            await sleeper(ctx, "slow", 1)
        return "moved on" if scope.cancelled_caught else "in time"

    async def fail_after(self, ctx: restate.Context) -> str:
        with restate.fail_after(ctx, timedelta(seconds=5)):
            await sleeper(ctx, "slow", 1)
        return "in time"

    async def timeout_over_children(self, ctx: restate.Context) -> list[str]:
        with restate.move_on_after(ctx, timedelta(seconds=5)) as scope:
            async with restate.open_nursery(ctx) as nursery:
                nursery.start_soon(watched, ctx, "a", self.cancelled)
                nursery.start_soon(watched, ctx, "b", self.cancelled)
        # Shielded compensation and ordinary durable work go on after the timeout.
        await sleeper(ctx, "after", 1)
        return ["timed out" if scope.cancelled_caught else "done", *self.cancelled]

    async def cancelled(self, ctx: restate.Context) -> list[str]:
        seen: list[str] = []

        async def compensating(tag: str) -> None:
            try:
                await sleeper(ctx, tag, 1)
            except restate.Cancelled:
                seen.append(tag)
                await ctx.sleep(timedelta(seconds=1), name=f"undo-{tag}")
                raise

        try:
            async with restate.open_nursery(ctx) as nursery:
                nursery.start_soon(compensating, "a")
                nursery.start_soon(compensating, "b")
        except BaseExceptionGroup as group:
            if group.split(restate.Cancelled)[1] is not None:
                raise
        return seen

    async def trio_deadline(self, ctx: restate.Context) -> str:
        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(sleeper, ctx, "a", 1)
            with trio.move_on_after(10):
                await ctx.sleep(timedelta(seconds=1), name="under a trio deadline")
        return "unreachable"

    async def plain_nursery(self, ctx: restate.Context) -> str:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper, ctx, "a", 1)
        return "unreachable"

    async def race(self, ctx: restate.Context) -> str:
        async def slow() -> str:
            self.cancelled.append("slow started")
            try:
                await trio.sleep_forever()  # only the race's end stops it
            except trio.Cancelled:
                self.cancelled.append("slow cancelled")
                raise

        async def fast() -> str:
            await self.release_fast.wait()  # the test decides when it is done
            return "fast"

        a = ctx.run("slow", slow)
        b = ctx.run("fast", fast)
        winner = await restate.first_completed(a, b)
        return await winner


class Shapes:
    """Less common shapes: a parent cancelling its nursery, a child starting siblings,
    compensation in a shielded scope after a timeout, a wide fan-out."""

    def __init__(self) -> None:
        self.log: list[str] = []

    async def parent_cancels(self, ctx: restate.Context) -> list[str]:
        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(watched, ctx, "a", self.log)
            nursery.start_soon(watched, ctx, "b", self.log)
            await ctx.sleep(timedelta(seconds=1), name="parent")
            nursery.cancel_scope.cancel()
        return self.log

    async def child_starts_siblings(self, ctx: restate.Context) -> list[str]:
        results: list[restate.TaskResult[str]] = []

        async def starter(nursery: restate.DurableNursery) -> str:
            await ctx.sleep(timedelta(seconds=1), name="starter")
            results.append(nursery.start_soon_result(sleeper, ctx, "late", 1))
            return "starter"

        async with restate.open_nursery(ctx) as nursery:
            first = nursery.start_soon_result(starter, nursery)
            second = nursery.start_soon_result(sleeper, ctx, "early", 1)
        return [first.value, second.value, *(r.value for r in results)]

    async def compensate_after_timeout(self, ctx: restate.Context) -> str:
        with restate.move_on_after(ctx, timedelta(seconds=5)) as scope:
            try:
                await sleeper(ctx, "work", 1)
            finally:
                with restate.move_on_after(ctx, timedelta(seconds=9), shield=True):
                    await ctx.sleep(timedelta(seconds=1), name="undo")
        return f"timed out={scope.timed_out}"

    async def shielded_waits(self, ctx: restate.Context) -> None:
        async def shielded(tag: str) -> None:
            with trio.CancelScope(shield=True):
                await sleeper(ctx, tag, 1)

        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(shielded, "a")
            nursery.start_soon(shielded, "b")

    async def closure_under_timeout(self, ctx: restate.Context) -> str:
        async def work() -> str:
            self.log.append("closure started")
            await trio.sleep_forever()

        with restate.move_on_after(ctx, timedelta(seconds=5)):
            return await ctx.run("work", work)
        return "timed out"

    async def closure_with_timeout(self, ctx: restate.Context) -> str:
        async def work() -> str:
            self.log.append("closure started")
            await trio.sleep_forever()

        try:
            return await restate.with_timeout(ctx.run("work", work), timedelta(seconds=5))
        except restate.DurableTimeoutError:
            return "timed out"

    async def wide(self, ctx: restate.Context) -> int:
        async with restate.open_nursery(ctx) as nursery:
            results = [nursery.start_soon_result(sleeper, ctx, f"t{i}", 1) for i in range(100)]
        return len({r.value for r in results})


def sleeps(messages: list[m.Message]) -> list[tuple[str, int]]:
    """``(name, completion id)`` of the sleep commands among ``messages``."""
    return [
        (msg.name, msg.result_completion_id)
        for msg in messages
        if isinstance(msg, m.SleepCommandMessage)
    ]


@pytest.fixture
def seeded() -> Iterator[Callable[[int], None]]:
    """Seed trio's scheduler: each seed is one interleaving of runnable tasks."""
    old = trio_run._ALLOW_DETERMINISTIC_SCHEDULING
    trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    try:
        yield trio_run._r.seed
    finally:
        trio_run._ALLOW_DETERMINISTIC_SCHEDULING = old  # type: ignore[misc]


# --------------------------------------------------------------------------- helpers


async def complete_sleeps(
    d: Driver, pick: Callable[[list[tuple[str, int]]], tuple[str, int]]
) -> list[m.Message]:
    """Play the runtime: whenever the attempt is quiet, complete one of the pending timers
    (``pick`` chooses, from what the attempt wrote only), until the attempt ends. Returns
    everything written, with the completions fed interleaved where they were fed."""
    transcript: list[m.Message] = []
    pending: list[tuple[str, int]] = []
    while True:
        out = await d.output()
        transcript.extend(out)
        pending.extend(sleeps(out))
        if any(isinstance(msg, m.EndMessage | m.ErrorMessage | m.SuspensionMessage) for msg in out):
            return transcript
        assert pending, f"the attempt waits for nothing: {transcript}"
        chosen = pick(pending)
        pending.remove(chosen)
        completion = sleep_completion(chosen[1])
        transcript.append(completion)
        d.feed(completion)


def last(pending: list[tuple[str, int]]) -> tuple[str, int]:
    return pending[-1]


def first(pending: list[tuple[str, int]]) -> tuple[str, int]:
    return pending[0]


def timeless(transcript: list[m.Message]) -> list[m.Message]:
    """The transcript without the timers' wake-up times (wall-clock time, not trio's)."""
    copies = []
    for msg in transcript:
        if isinstance(msg, m.SleepCommandMessage):
            msg = m.SleepCommandMessage(
                name=msg.name, result_completion_id=msg.result_completion_id
            )
        copies.append(msg)
    return copies


def output_value(transcript: list[m.Message]) -> object:
    outputs = [msg for msg in transcript if isinstance(msg, m.OutputCommandMessage)]
    assert len(outputs) == 1, transcript
    return json.loads(outputs[0].value.content)


# --------------------------------------------------------------------------- journal order


async def test_children_take_turns_in_spawn_order(autojump_clock: MockClock) -> None:
    async with drive(Fan(), "three", version=7) as d:
        d.start()
        # Each child journals its first timer in its first turn, in the order it was started.
        assert sleeps(await d.output()) == [("a0", 1), ("b0", 2), ("c0", 3)]
        # Completions wake the child they belong to, whatever order they come in.
        d.feed(sleep_completion(3), sleep_completion(1))
        assert sleeps(await d.output()) == [("c1", 4), ("a1", 5)]
        d.feed(sleep_completion(2))
        assert sleeps(await d.output()) == [("b1", 6)]
        d.feed(*(sleep_completion(cid) for cid in (4, 5, 6)))
        assert sleeps(await d.output()) == [("c2", 7), ("a2", 8), ("b2", 9)]
        d.feed(*(sleep_completion(cid) for cid in (9, 8, 7)))
        d.feed_eof()
        transcript = await d.finish()
    assert output_value(transcript) == ["a", "b", "c"]


@pytest.mark.parametrize("pick", [first, last], ids=["oldest-first", "newest-first"])
async def test_the_journal_does_not_depend_on_trio_scheduling(
    autojump_clock: MockClock,
    seeded: Callable[[int], None],
    pick: Callable[[list[tuple[str, int]]], tuple[str, int]],
) -> None:
    transcripts: set[str] = set()
    transcript: list[m.Message] = []
    trio_orders: set[tuple[int, ...]] = set()
    for seed in range(50):
        seeded(seed)
        # Evidence that the seeds change trio's choices: plain tasks run in varying order.
        order: list[int] = []

        async def note(i: int, order: list[int] = order) -> None:
            await trio.lowlevel.checkpoint()
            order.append(i)

        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(note, i)
        trio_orders.add(tuple(order))
        async with drive(Fan(), "nested", version=7) as d:
            d.start()
            transcript = await complete_sleeps(d, pick)
            d.feed_eof()
            transcript += await d.finish()
        transcripts.add(repr(timeless(transcript)))
    assert len(trio_orders) > 1, "the seeds did not vary trio's scheduling"
    assert len(transcripts) == 1, "the journal depended on trio's scheduling"
    assert output_value(transcript) == ["xLxR", "yLyR"]


async def test_a_recorded_journal_replays_under_every_interleaving(
    autojump_clock: MockClock, seeded: Callable[[int], None]
) -> None:
    # Record one live run, completions interleaved where the runtime journaled them.
    seeded(0)
    async with drive(Fan(), "nested", version=7) as d:
        d.start()
        recorded = await complete_sleeps(d, last)
        d.feed_eof()
        recorded += await d.finish()
    journal = [
        msg for msg in recorded if not isinstance(msg, m.OutputCommandMessage | m.EndMessage)
    ]
    expected_output = [msg for msg in recorded if isinstance(msg, m.OutputCommandMessage)]
    for seed in range(1, 40):
        seeded(seed)
        async with drive(Fan(), "nested", version=7) as d:
            d.start(journal, eof=True)
            replayed = await d.finish()
        # Nothing new is journaled, nothing mismatches: only the output and the end.
        assert replayed == [*expected_output, m.EndMessage()], (seed, replayed)


async def test_nested_nurseries_return_their_results(autojump_clock: MockClock) -> None:
    async with drive(Fan(), "nested", version=6) as d:
        d.start()
        transcript = await complete_sleeps(d, first)
        d.feed_eof()
        transcript += await d.finish()
    assert output_value(transcript) == ["xLxR", "yLyR"]
    # x's children were started (and ran their first turn) before y's.
    assert [name for name, _ in sleeps(transcript)] == ["xL0", "xR0", "yL0", "yR0"]


async def test_awakeables_in_children_complete_in_any_order(autojump_clock: MockClock) -> None:
    async with drive(Fan(), "awakeables", version=7) as d:
        d.start()
        assert await d.output() == []
        d.feed(signal(18, b'"B"'))
        assert await d.output() == []
        d.feed(signal(17, b'"A"'))
        d.feed_eof()
        transcript = await d.finish()
    assert output_value(transcript) == ["a=A", "b=B"]


# --------------------------------------------------------------------------- suspension


@pytest.mark.parametrize("version", [6, 7])
async def test_all_children_blocked_suspend_on_all_their_futures(
    autojump_clock: MockClock, version: int
) -> None:
    async with drive(Fan(), "three", version=version) as d:
        d.start(eof=True)
        out = await d.finish()
    assert sleeps(out) == [("a0", 1), ("b0", 2), ("c0", 3)]
    suspension = out[-1]
    assert isinstance(suspension, m.SuspensionMessage)
    if version == 6:
        assert list(suspension.waiting_completions) == [1, 2, 3]
        assert list(suspension.waiting_signals) == [1]  # and the cancel signal
    else:
        # FIRST_COMPLETED over the three children's trees (each one leaf, so flattened by the
        # machine's pruning into one node), then the cancel signal the machine adds.
        tree = suspension.awaiting_on
        assert list(tree.waiting_signals) == [1], tree
        assert len(tree.nested_futures) == 1, tree
        inner = tree.nested_futures[0]
        assert list(inner.waiting_completions) == [1, 2, 3], tree
        assert inner.combinator_type == tree.combinator_type, tree


# --------------------------------------------------------------------------- errors


async def test_a_failing_child_cancels_its_siblings_and_fails_the_invocation(
    autojump_clock: MockClock,
) -> None:
    fan = Fan()
    async with drive(fan, "one_fails", version=7) as d:
        d.start()
        assert sleeps(await d.output()) == [("a0", 1), ("fail401", 2), ("c0", 3)]
        d.feed(sleep_completion(2))
        d.feed_eof()
        out = await d.finish()
    assert out == [
        m.OutputCommandMessage(failure=failure(401, "failed 401")),
        m.EndMessage(),
    ]
    assert fan.cancelled == ["a", "c"]  # at their current durable await, in spawn order


async def test_two_terminal_failures_report_the_first_and_list_the_other(
    autojump_clock: MockClock,
) -> None:
    async with drive(Fan(), "two_fail", version=7) as d:
        d.start(eof=True)
        out = await d.finish()
    # 402 is raised first; it cancels the sleeping sibling, whose cleanup raises 403.
    others = json.dumps([{"code": 403, "message": "failed 403"}])
    assert out[1:] == [
        m.OutputCommandMessage(
            failure=failure(402, "failed 402", {"restate_trio.other_errors": others})
        ),
        m.EndMessage(),
    ]


async def test_a_non_terminal_child_error_fails_the_attempt(autojump_clock: MockClock) -> None:
    async with drive(Fan(), "retryable", version=7) as d:
        d.start(eof=True)
        out = await d.finish()
    error = out[-1]
    assert isinstance(error, m.ErrorMessage), out
    assert error.code == 500
    assert "not terminal" in error.message


# --------------------------------------------------------------------------- durable scopes


async def test_a_durable_timeout_cancels_its_block(autojump_clock: MockClock) -> None:
    async with drive(Fan(), "timeout", version=7) as d:
        d.start()
        out = await d.output()
        assert [(type(msg), getattr(msg, "name", "")) for msg in out] == [
            (m.SleepCommandMessage, "timeout"),
            (m.SleepCommandMessage, "slow0"),
        ]
        d.feed(sleep_completion(1))  # the scope's timer fires first
        d.feed_eof()
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b'"moved on"')),
            m.EndMessage(),
        ]


async def test_a_durable_timeout_that_does_not_fire_changes_nothing(
    autojump_clock: MockClock,
) -> None:
    async with drive(Fan(), "timeout", version=7) as d:
        d.start()
        assert len(await d.output()) == 2
        d.feed(sleep_completion(2))  # the block's own timer first
        d.feed_eof()
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b'"in time"')),
            m.EndMessage(),
        ]


async def test_fail_after_raises_408(autojump_clock: MockClock) -> None:
    async with drive(Fan(), "fail_after", version=7) as d:
        d.start()
        assert len(await d.output()) == 2
        d.feed(sleep_completion(1))
        d.feed_eof()
        assert await d.finish() == [
            m.OutputCommandMessage(failure=failure(408, "timed out after 5 s")),
            m.EndMessage(),
        ]


async def test_a_durable_timeout_over_a_nursery_cancels_every_child(
    autojump_clock: MockClock,
) -> None:
    fan = Fan()
    async with drive(fan, "timeout_over_children", version=7) as d:
        d.start()
        assert sleeps(await d.output()) == [("timeout", 1), ("a0", 2), ("b0", 3)]
        d.feed(sleep_completion(1))
        assert sleeps(await d.output()) == [("after0", 4)]
        d.feed(sleep_completion(4))
        d.feed_eof()
        out = await d.finish()
    assert output_value(out) == ["timed out", "a", "b"]


async def test_restate_cancellation_reaches_every_waiting_child(
    autojump_clock: MockClock,
) -> None:
    async with drive(Fan(), "cancelled", version=7) as d:
        d.start()
        assert sleeps(await d.output()) == [("a0", 1), ("b0", 2)]
        d.feed(cancel_signal())
        # Both compensate, journaling normally (not sticky), in spawn order.
        assert sleeps(await d.output()) == [("undo-a", 3), ("undo-b", 4)]
        d.feed(sleep_completion(4), sleep_completion(3))
        d.feed_eof()
        out = await d.finish()
    assert output_value(out) == ["a", "b"]


# --------------------------------------------------------------------------- misuse


async def test_a_trio_deadline_around_a_durable_await_is_refused(
    autojump_clock: MockClock,
) -> None:
    async with drive(Fan(), "trio_deadline", version=7) as d:
        d.start(eof=True)
        out = await d.finish()
    error = out[-1]
    assert isinstance(error, m.ErrorMessage), out
    assert "restate_trio.move_on_after(ctx" in error.message


async def test_a_plain_nursery_child_cannot_use_the_context(autojump_clock: MockClock) -> None:
    async with drive(Fan(), "plain_nursery", version=7) as d:
        d.start(eof=True)
        out = await d.finish()
    error = out[-1]
    assert isinstance(error, m.ErrorMessage), out
    assert "restate_trio.open_nursery(ctx)" in error.message


# --------------------------------------------------------------------------- races


async def test_a_race_cancels_its_losing_closure(autojump_clock: MockClock) -> None:
    fan = Fan()
    async with drive(fan, "race", version=7) as d:
        d.start()
        assert [type(msg) for msg in await d.output()] == [m.RunCommandMessage] * 2
        fan.release_fast.set()
        assert await d.output() == [
            m.ProposeRunCompletionMessage(result_completion_id=2, value=b'"fast"')
        ]
        d.feed(run_completion(2, b'"fast"'))
        d.feed_eof()
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b'"fast"')),
            m.EndMessage(),
        ]
    # The loser was stopped when the race was decided, and proposed nothing.
    assert fan.cancelled == ["slow started", "slow cancelled"]


# --------------------------------------------------------------------------- more shapes


async def test_the_parent_cancelling_its_nursery_cancels_the_children_in_order(
    autojump_clock: MockClock,
) -> None:
    shapes = Shapes()
    async with drive(shapes, "parent_cancels", version=7) as d:
        d.start()
        assert sleeps(await d.output()) == [("parent", 1), ("a0", 2), ("b0", 3)]
        d.feed(sleep_completion(1))
        d.feed_eof()
        out = await d.finish()
    assert output_value(out) == ["a", "b"]


async def test_a_child_may_start_siblings_in_its_turn(autojump_clock: MockClock) -> None:
    async with drive(Shapes(), "child_starts_siblings", version=7) as d:
        d.start()
        assert sleeps(await d.output()) == [("starter", 1), ("early0", 2)]
        d.feed(sleep_completion(1))
        assert sleeps(await d.output()) == [("late0", 3)]
        d.feed(sleep_completion(3), sleep_completion(2))
        d.feed_eof()
        out = await d.finish()
    assert output_value(out) == ["starter", "early", "late"]


async def test_shielded_compensation_journals_after_a_timeout(autojump_clock: MockClock) -> None:
    async with drive(Shapes(), "compensate_after_timeout", version=7) as d:
        d.start()
        assert sleeps(await d.output()) == [("timeout", 1), ("work0", 2)]
        d.feed(sleep_completion(1))
        assert sleeps(await d.output()) == [("timeout", 3), ("undo", 4)]
        d.feed(sleep_completion(4))
        d.feed_eof()
        out = await d.finish()
    assert output_value(out) == "timed out=True"


@pytest.mark.parametrize("version", [6, 7])
async def test_a_hundred_children_finish_in_any_order(
    autojump_clock: MockClock, version: int
) -> None:
    async with drive(Shapes(), "wide", version=version) as d:
        d.start()
        first_turns = sleeps(await d.output())
        assert [name for name, _ in first_turns] == [f"t{i}0" for i in range(100)]
        d.feed(*(sleep_completion(cid) for _, cid in reversed(first_turns)))
        d.feed_eof()
        out = await d.finish()
    assert output_value(out) == 100


async def test_a_hundred_blocked_children_suspend_on_one_tree(autojump_clock: MockClock) -> None:
    async with drive(Shapes(), "wide", version=7) as d:
        d.start(eof=True)
        out = await d.finish()
    suspension = out[-1]
    assert isinstance(suspension, m.SuspensionMessage)
    [inner] = suspension.awaiting_on.nested_futures
    assert list(inner.waiting_completions) == list(range(1, 101))


async def test_tasks_parked_in_shielded_scopes_unwind_when_the_attempt_suspends(
    autojump_clock: MockClock,
) -> None:
    # trio's cancellation of the attempt does not reach into a shield: the scheduler lets
    # them go itself (else the attempt would wait for them forever).
    async with drive(Shapes(), "shielded_waits", version=7) as d:
        d.start(eof=True)
        out = await d.finish()
    assert sleeps(out) == [("a0", 1), ("b0", 2)]
    assert isinstance(out[-1], m.SuspensionMessage)


@pytest.mark.parametrize(
    ("handler", "journal"),
    [
        (
            "closure_under_timeout",
            [
                m.SleepCommandMessage(wake_up_time=1, result_completion_id=1, name="timeout"),
                m.RunCommandMessage(result_completion_id=2, name="work"),
                sleep_completion(1),
            ],
        ),
        (
            "closure_with_timeout",
            [
                m.RunCommandMessage(result_completion_id=1, name="work"),
                m.SleepCommandMessage(wake_up_time=1, result_completion_id=2, name="timeout"),
                sleep_completion(2),
            ],
        ),
    ],
)
async def test_a_replayed_race_the_timer_won_does_not_start_its_closure_again(
    autojump_clock: MockClock, handler: str, journal: list[m.Message]
) -> None:
    shapes = Shapes()
    async with drive(shapes, handler, version=7) as d:
        d.start(journal, eof=True)
        out = await d.finish()
    assert out == [m.OutputCommandMessage(value=m.Value(content=b'"timed out"')), m.EndMessage()]
    assert shapes.log == []
