"""Races between durable futures are decided by the order completions arrive in, never by trio.

Three awakeables (signals 17, 18, 19; awakeables journal no command) are completed in every
order, all in one batch or one by one, before or after the handler awaits them; each
combinator's outcome must follow from the order alone (``expected`` below is that model).
"""

from __future__ import annotations

import gc
import itertools
import json
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta

import pytest
import trio
from trio.testing import MockClock

import restate_trio as restate
from restate_trio._protocol import messages as m
from tests.context.driver import Driver, drive
from tests.protocol.transcripts import failure, run_completion, signal, sleep_completion

A, B, C = 17, 18, 19  # the signal indexes of the first three awakeables


@dataclass(frozen=True)
class Ok:
    value: str


@dataclass(frozen=True)
class Fail:
    code: int
    message: str


Outcome = Ok | Fail

MIXED: dict[int, Outcome] = {A: Ok("a"), B: Fail(401, "b failed"), C: Ok("c")}
ALL_FAIL: dict[int, Outcome] = {A: Fail(410, "a failed"), B: Fail(411, "b"), C: Fail(412, "c")}


def notification(idx: int, outcome: Outcome) -> m.SignalNotificationMessage:
    if isinstance(outcome, Ok):
        return signal(idx, json.dumps(outcome.value).encode())
    return signal(idx, error=failure(outcome.code, outcome.message, {"from": str(idx)}))


class Races:
    @staticmethod
    def _three(ctx: restate.Context) -> list[restate.DurableFuture[str]]:
        return [ctx.awakeable(type=str)[1] for _ in range(3)]

    async def first_completed(self, ctx: restate.Context) -> str:
        winner = await restate.first_completed(*self._three(ctx))
        return await winner

    async def first_succeeded(self, ctx: restate.Context) -> str:
        return await restate.first_succeeded(*self._three(ctx))

    async def all_succeeded(self, ctx: restate.Context) -> list[str]:
        return await restate.all_succeeded(*self._three(ctx))

    async def as_completed(self, ctx: restate.Context) -> list[str]:
        seen = []
        async for done in restate.as_completed(*self._three(ctx)):
            try:
                seen.append(await done)
            except restate.TerminalError as exc:
                seen.append(f"failed {exc.code}")
        return seen


def expected(combinator: str, order: tuple[int, ...], outcomes: dict[int, Outcome]) -> m.Message:
    """The handler's output, from the completion order alone."""

    def value(v: object) -> m.OutputCommandMessage:
        return m.OutputCommandMessage(
            value=m.Value(content=json.dumps(v, separators=(",", ":")).encode())
        )

    def failed(idx: int) -> m.OutputCommandMessage:
        f = outcomes[idx]
        assert isinstance(f, Fail)
        return m.OutputCommandMessage(failure=failure(f.code, f.message, {"from": str(idx)}))

    ok = {i: o.value for i, o in outcomes.items() if isinstance(o, Ok)}
    oks = [i for i in order if i in ok]
    fails = [i for i in order if isinstance(outcomes[i], Fail)]
    if combinator == "first_completed":
        first = outcomes[order[0]]
        return value(first.value) if isinstance(first, Ok) else failed(order[0])
    if combinator == "first_succeeded":
        # The first success; when all failed, the last failure as it was (code, metadata).
        return value(ok[oks[0]]) if oks else failed(fails[-1])
    if combinator == "all_succeeded":
        # The first failure; else every value, in argument order.
        return failed(fails[0]) if fails else value([ok[i] for i in (A, B, C)])
    assert combinator == "as_completed"
    return value(
        [o.value if isinstance(o, Ok) else f"failed {o.code}" for o in (outcomes[i] for i in order)]
    )


async def feed_outcomes(
    d: Driver, order: tuple[int, ...], outcomes: dict[int, Outcome], *, timing: str
) -> list[m.Message]:
    batch = [notification(i, outcomes[i]) for i in order]
    if timing == "with-start":  # already there when the handler awaits
        d.start(journal=batch)
    else:
        d.start()
        assert await d.output() == []  # the handler waits
        if timing == "one-batch":
            d.feed(*batch)
        else:  # one at a time, the handler looking after each
            for msg in batch:
                d.feed(msg)
                await trio.testing.wait_all_tasks_blocked()
    return await d.finish()


ORDERS = list(itertools.permutations((A, B, C)))


@pytest.mark.parametrize("timing", ["with-start", "one-batch", "one-by-one"])
@pytest.mark.parametrize("order", ORDERS, ids=lambda o: "-".join("abc"[i - A] for i in o))
@pytest.mark.parametrize(
    "combinator", ["first_completed", "first_succeeded", "all_succeeded", "as_completed"]
)
async def test_the_completion_order_decides(
    autojump_clock: MockClock, combinator: str, order: tuple[int, ...], timing: str
) -> None:
    async with drive(Races(), combinator) as d:
        out = await feed_outcomes(d, order, MIXED, timing=timing)
    assert out == [expected(combinator, order, MIXED), m.EndMessage()]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: "-".join("abc"[i - A] for i in o))
async def test_first_succeeded_when_all_fail_raises_the_last_failure_as_it_was(
    autojump_clock: MockClock, order: tuple[int, ...]
) -> None:
    async with drive(Races(), "first_succeeded") as d:
        out = await feed_outcomes(d, order, ALL_FAIL, timing="one-batch")
    assert out == [expected("first_succeeded", order, ALL_FAIL), m.EndMessage()]
    last = ALL_FAIL[order[-1]]
    assert isinstance(last, Fail)
    assert out[0] == m.OutputCommandMessage(
        failure=failure(last.code, last.message, {"from": str(order[-1])})
    )


async def test_the_journal_order_wins_over_the_order_closures_finish_in(
    autojump_clock: MockClock,
) -> None:
    """Closure "fast" finishes (and proposes) first, but the runtime journals "slow" first: on
    this attempt and on every replay, "slow" won."""

    class Runs:
        async def race(self, ctx: restate.Context) -> str:
            async def work(name: str, seconds: int) -> str:
                await trio.sleep(seconds)
                return name

            slow = ctx.run("slow", work, "slow", 2)
            fast = ctx.run("fast", work, "fast", 1)
            return await (await restate.first_completed(slow, fast))

    async with drive(Runs(), "race", version=6) as d:
        d.start()
        await trio.sleep(3)
        assert await d.output() == [
            m.RunCommandMessage(result_completion_id=1, name="slow"),
            m.RunCommandMessage(result_completion_id=2, name="fast"),
            m.ProposeRunCompletionMessage(result_completion_id=2, value=b'"fast"'),
            m.ProposeRunCompletionMessage(result_completion_id=1, value=b'"slow"'),
        ]
        d.feed(run_completion(1, b'"slow"'), run_completion(2, b'"fast"'))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b'"slow"')),
            m.EndMessage(),
        ]


@pytest.mark.parametrize(("timer_first", "result"), [(True, "timeout"), (False, "value")])
async def test_with_timeout_is_a_race_against_a_journaled_timer(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch, timer_first: bool, result: str
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1000.0)

    class Deadline:
        async def wait(self, ctx: restate.Context) -> str:
            _, answer = ctx.awakeable(type=str)
            return await restate.with_timeout(answer, timedelta(seconds=30))

    timer = sleep_completion(1)
    answer = signal(A, b'"yes"')
    async with drive(Deadline(), "wait", version=7) as d:
        d.start()
        assert await d.output() == [
            m.SleepCommandMessage(wake_up_time=1_030_000, result_completion_id=1, name="timeout")
        ]
        d.feed(*((timer, answer) if timer_first else (answer, timer)))
        out = await d.finish()
    if result == "timeout":
        timed_out = failure(408, "timed out after 30 s")
        assert out == [m.OutputCommandMessage(failure=timed_out), m.EndMessage()]
    else:
        assert out == [m.OutputCommandMessage(value=m.Value(content=b'"yes"')), m.EndMessage()]


class Early:
    async def first_of_three(self, ctx: restate.Context) -> str:
        async for done in restate.as_completed(
            ctx.sleep(timedelta(seconds=1), name="a"), ctx.run("b", _value_b)
        ):
            await done
            break  # nothing to clean up: the loop may stop at any time
        return "stopped"


async def _value_b() -> str:
    return "b"


async def test_leaving_as_completed_early_leaves_nothing_behind(autojump_clock: MockClock) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an abandoned async generator warns when collected
        async with drive(Early(), "first_of_three", version=7) as d:
            d.start()
            [_sleep, _run, _proposal] = await d.frames()
            d.feed(m.ProposeRunCompletionAckMessage(completion_id=2))
            d.feed_eof()
            out = await d.finish()
        gc.collect()
    assert out[-2:] == [m.OutputCommandMessage(value=m.Value(content=b'"stopped"')), m.EndMessage()]
