"""The attempt's boundaries, driven by scripted frames: a closed attempt (the runtime went
away) and the owner checks (durable operations only from the handler's own task)."""

from __future__ import annotations

import gc
import json
import math
import threading
import time
import weakref
from datetime import timedelta

import pytest
import trio
import trio.testing
from trio.testing import MockClock

import restate_trio as restate
from restate_trio._protocol import messages as m
from tests.context.driver import drive
from tests.protocol.transcripts import sleep_completion

OTHER_TASK = "a restate_trio context was used from a task other than its handler's task"
IN_CLOSURE = "restate_trio context operations cannot be used inside a ctx.run closure"


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 100.0)


# --------------------------------------------------------------------------- a closed attempt


class Slow:
    def __init__(self) -> None:
        self.handler_log: list[object] = []
        self.closure_log: list[str] = []

    async def work(self, ctx: restate.Context) -> str:
        async def slow() -> str:
            self.closure_log.append("started")
            try:
                await trio.sleep(100)
            finally:
                self.closure_log.append("unwound")
            self.closure_log.append("finished")
            return "done"

        try:
            return await ctx.run("slow", slow)
        except Exception as exc:  # nothing user-visible reaches here
            self.handler_log.append(exc)
            raise
        except BaseException as exc:
            self.handler_log.append(type(exc))
            raise
        finally:
            # A command on the closed attempt: it unwinds the handler again, raising nothing
            # that `except Exception` would see.
            try:
                ctx.sleep(timedelta(seconds=1))
                self.handler_log.append("the command returned")
            except Exception as exc:
                self.handler_log.append(exc)


async def test_abort_unwinds_the_handler_cancels_closures_and_writes_nothing(
    autojump_clock: MockClock,
) -> None:
    slow = Slow()
    async with drive(slow, "work", version=7) as d:
        d.start()
        assert await d.output() == [m.RunCommandMessage(result_completion_id=1, name="slow")]
        assert slow.closure_log == ["started"]
        d.attempt.abort()  # the transport lost the connection
        assert await d.finish() == []  # not even the ErrorMessage: nobody would read it
        assert await d.attempt.next_output() is None
    assert slow.closure_log == ["started", "unwound"]
    assert slow.handler_log == [trio.Cancelled]
    assert d.machine.closed


async def test_abort_leaves_a_blocked_worker_thread_behind(autojump_clock: MockClock) -> None:
    """A sync closure cannot be interrupted: the attempt ends anyway, its result is dropped."""
    started, release, returned = threading.Event(), threading.Event(), threading.Event()

    def blocking() -> str:
        started.set()
        release.wait(10)
        returned.set()
        return "late"

    class Blocking:
        async def go(self, ctx: restate.Context) -> str:
            return await ctx.run("blocking", blocking)

    async with drive(Blocking(), "go") as d:
        autojump_clock.autojump_threshold = math.inf  # a worker thread: see the driver
        d.start()
        await trio.to_thread.run_sync(started.wait)
        d.attempt.abort()
        assert await d.finish() == [m.RunCommandMessage(result_completion_id=1, name="blocking")]
    assert not returned.is_set()  # the attempt ended while the thread was still blocked
    release.set()
    assert await trio.to_thread.run_sync(returned.wait, 10)
    await trio.testing.wait_all_tasks_blocked()
    assert d.machine.take_output() == b""  # its result was dropped, not proposed


async def test_abort_before_the_journal_arrived_ends_the_attempt(
    autojump_clock: MockClock,
) -> None:
    slow = Slow()
    async with drive(slow, "work") as d:
        d.attempt.abort()
        assert await d.finish() == []
    assert slow.handler_log == []  # the handler never started


async def test_a_suspended_handler_cannot_issue_commands(autojump_clock: MockClock) -> None:
    log: list[object] = []

    class Stubborn:
        async def go(self, ctx: restate.Context) -> None:
            try:
                await ctx.sleep(timedelta(seconds=1))
            finally:
                try:
                    ctx.sleep(timedelta(seconds=2))
                    log.append("the command returned")
                except Exception as exc:
                    log.append(exc)

    async with drive(Stubborn(), "go") as d:
        d.start(eof=True)
        assert await d.finish() == [
            m.SleepCommandMessage(wake_up_time=101_000, result_completion_id=1),
            m.SuspensionMessage(waiting_completions=[1], waiting_signals=[1]),
        ]
    assert log == []


# --------------------------------------------------------------------------- owner checks


def operations(ctx: restate.Context, timer: restate.DurableFuture[None]) -> dict[str, object]:
    """Every kind of context use, each as a callable (awaitables are awaited)."""
    return {
        "command": lambda: ctx.sleep(timedelta(seconds=5)),
        "await": lambda: timer,
        "random": ctx.random,
        "uuid": ctx.uuid,
        "send": lambda: ctx.generic_send("S", "h", b""),
        "run": lambda: ctx.run("nested", time.time),
        "awakeable": ctx.awakeable,
    }


async def use(op: object) -> object:
    assert callable(op)
    result = op()
    if hasattr(result, "__await__"):
        result = await result
    return result


class Owner:
    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    async def from_child_task(self, ctx: restate.Context) -> str:
        timer = ctx.sleep(timedelta(seconds=1))

        async def child(name: str, op: object) -> None:
            try:
                await use(op)
            except RuntimeError as exc:
                self.errors[name] = str(exc)

        async with trio.open_nursery() as nursery:
            for name, op in operations(ctx, timer).items():
                nursery.start_soon(child, name, op)
        await timer  # the handler's own task may
        return "ok"


async def test_a_context_used_from_a_child_task_raises_runtime_error(
    autojump_clock: MockClock,
) -> None:
    owner = Owner()
    async with drive(owner, "from_child_task") as d:
        d.start()
        # Only the handler's own command was journaled.
        assert await d.output() == [
            m.SleepCommandMessage(wake_up_time=101_000, result_completion_id=1)
        ]
        d.feed(sleep_completion(1))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b'"ok"')),
            m.EndMessage(),
        ]
    assert set(owner.errors) == {"command", "await", "random", "uuid", "send", "run", "awakeable"}
    for name, message in owner.errors.items():
        assert message.startswith(OTHER_TASK), name


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_a_context_used_inside_a_run_closure_raises_runtime_error(
    autojump_clock: MockClock, kind: str
) -> None:
    errors: dict[str, str] = {}

    class InRun:
        async def go(self, ctx: restate.Context) -> int:
            timer = ctx.sleep(timedelta(seconds=1))

            def try_all() -> int:
                for name, op in operations(ctx, timer).items():
                    if name == "await":
                        continue  # needs an event loop; the async variant covers it
                    assert callable(op)
                    try:
                        op()
                    except RuntimeError as exc:
                        errors[name] = str(exc)
                return len(errors)

            async def try_all_async() -> int:
                for name, op in operations(ctx, timer).items():
                    try:
                        await use(op)
                    except RuntimeError as exc:
                        errors[name] = str(exc)
                return len(errors)

            if kind == "sync":
                return await ctx.run("sneaky", try_all)
            return await ctx.run("sneaky", try_all_async)

    expected = {"command", "random", "uuid", "send", "run", "awakeable"}
    if kind == "async":
        expected.add("await")
    async with drive(InRun(), "go") as d:
        autojump_clock.autojump_threshold = math.inf  # the sync variant uses a worker thread
        d.start(eof=True)
        assert await d.finish() == [
            m.SleepCommandMessage(wake_up_time=101_000, result_completion_id=1),
            m.RunCommandMessage(result_completion_id=2, name="sneaky"),
            m.ProposeRunCompletionMessage(
                result_completion_id=2, value=json.dumps(len(expected)).encode()
            ),
            m.SuspensionMessage(waiting_completions=[2], waiting_signals=[1]),
        ]
    assert set(errors) == expected
    for name, message in errors.items():
        assert message.startswith(IN_CLOSURE), name


async def test_an_ended_attempt_is_freed_by_refcounting_alone(autojump_clock: MockClock) -> None:
    # No reference cycle through the attempt (its runs, task, nursery): otherwise every
    # invocation's objects wait for the cyclic garbage collector, whose pauses show as latency.
    class OneRun:
        async def one(self, ctx: restate.Context) -> int:
            async def step() -> int:
                return 7

            return await ctx.run("step", step)

    gc.collect()
    gc.disable()
    try:
        async with drive(OneRun(), "one", version=7) as d:
            d.start()
            await d.output()
            d.feed(m.ProposeRunCompletionAckMessage(completion_id=1))
            await d.finish()
        attempt = weakref.ref(d.attempt)
        machine = weakref.ref(d.machine)
        del d
        await trio.testing.wait_all_tasks_blocked()
        assert attempt() is None
        assert machine() is None
    finally:
        gc.enable()
