"""Services and helpers for the end-to-end tests of durable structured concurrency
(``test_durable_concurrency.py``): handlers that open durable nurseries and durable cancel
scopes (``restate.open_nursery(ctx)``, ``restate.move_on_after(ctx, ...)``).

The handlers report what they did through the :class:`~primitives_services.Board` shared with
the test (counts of closure executions, values seen, ids to resolve), as the other end-to-end
modules do.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import timedelta

import trio
from primitives_services import Board

import restate_trio as restate
from restate_trio.testing import RestateServer

# Server options: fast invocation retries (several tests look at retried attempts).
_RETRY_ENV = {
    "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "20ms",
    "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "200ms",
}

#: The matrix: protocol V6 and V7, each with the server's default inactivity timeout (an
#: attempt keeps its stream while it waits) and with a zero one (every await that is not
#: already resolved suspends the invocation; the next attempt replays the whole journal).
#:
#: With a zero inactivity timeout the server closes its side of the stream at once, so it
#: cannot tell an attempt that a timer fired while one of its ``ctx.run`` closures still runs
#: (an attempt does not suspend while a closure runs: it may finish); the server aborts such
#: an attempt after the abort timeout (default: one minute), and the next attempt replays the
#: timer's completion. A short abort timeout keeps the durable-timeout tests fast there.
SERVER_CONFIGS: Mapping[str, Mapping[str, object]] = {
    "v6": {"env": _RETRY_ENV},
    "v7": {"env": _RETRY_ENV, "enable_protocol_v7": True},
    "v6-suspending": {
        "inactivity_timeout": timedelta(0),
        "abort_timeout": timedelta(seconds=1),
        "env": _RETRY_ENV,
    },
    "v7-suspending": {
        "inactivity_timeout": timedelta(0),
        "abort_timeout": timedelta(seconds=1),
        "env": _RETRY_ENV,
        "enable_protocol_v7": True,
    },
}

#: A sleep no test waits for: it can only end early, by cancellation.
LONG = timedelta(seconds=60)


# --------------------------------------------------------------------------- journals


async def journal(server: RestateServer, invocation_id: str) -> list[Mapping[str, object]]:
    """The ``sys_journal`` rows of an invocation, in journal order, with ``entry_json``
    decoded (into the ``entry`` key)."""
    rows = await server.query(
        "SELECT index, entry_type, name, raw, entry_json FROM sys_journal "
        f"WHERE id = '{invocation_id}' ORDER BY index"
    )
    decoded: list[Mapping[str, object]] = []
    for row in rows:
        text = row.get("entry_json")
        entry = json.loads(text) if isinstance(text, str) else None
        decoded.append({**row, "entry": entry})
    return decoded


def entry_body(row: Mapping[str, object]) -> tuple[str, Mapping[str, object]]:
    """``("Command" | "Notification", the entry's fields)`` of a journal row.

    A command's fields are under its type (``{"Command": {"Run": {...}}}``); a completion
    notification's under ``{"Notification": {"Completion": {"Run": {...}}}}``.
    """
    entry = row["entry"]
    assert isinstance(entry, dict), row
    ((kind, inner),) = entry.items()
    assert isinstance(inner, dict), row
    ((_, fields),) = inner.items()
    assert isinstance(fields, dict), row
    if kind == "Notification" and len(fields) == 1:  # Completion -> {Run: {...}}
        ((_, nested),) = fields.items()
        if isinstance(nested, dict):
            fields = nested
    return str(kind), fields


def commands(rows: list[Mapping[str, object]]) -> list[Mapping[str, object]]:
    return [row for row in rows if str(row["entry_type"]).startswith("Command: ")]


def notifications(rows: list[Mapping[str, object]]) -> list[Mapping[str, object]]:
    return [row for row in rows if str(row["entry_type"]).startswith("Notification: ")]


def completion_id(row: Mapping[str, object]) -> int | None:
    _, fields = entry_body(row)
    value = fields.get("completion_id")
    return value if isinstance(value, int) else None


def completed_ids(rows: list[Mapping[str, object]]) -> set[int]:
    """The completion ids the journal has a completion notification for."""
    return {cid for row in notifications(rows) if (cid := completion_id(row)) is not None}


# --------------------------------------------------------------------------- services


class Callee:
    """The small service the nurseries' children call."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def square(self, ctx: restate.Context, x: int) -> int:
        return x * x

    async def block(self, ctx: restate.Context, tag: str) -> str:
        """Waits for an awakeable nobody resolves; records the cancellation it sees."""
        self.board.post(("callee id", tag), ctx.request().id)
        awakeable_id, value = ctx.awakeable(type=str)
        self.board.post(("callee awakeable", tag), awakeable_id)
        try:
            return await value
        except restate.Cancelled as exc:
            self.board.append(("callee saw", tag), exc.code)
            raise


class FanOut:
    """Case 1: ``width`` children, each a run, a short sleep and a call."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def run(self, ctx: restate.Context, width: int) -> list[int]:
        me = ctx.request().id

        async def child(i: int) -> int:
            def step() -> int:
                self.board.count(("fan step", me, i))
                return i + 1

            base = await ctx.run(f"step {i}", step)
            await ctx.sleep(timedelta(milliseconds=10))
            return await ctx.service_call(Callee.square, base)

        async with restate.open_nursery(ctx) as nursery:
            results = [nursery.start_soon_result(child, i) for i in range(width)]
        return [result.value for result in results]


class Nested:
    """Case 2: children that open their own durable nurseries; results flow up."""

    async def _summary(self, ctx: restate.Context) -> str:
        return await ctx.run("summary", lambda: "summary")

    async def run(self, ctx: restate.Context, groups: int) -> list[object]:
        async def leaf(group: int, item: int) -> str:
            value = await ctx.run(f"leaf {group}.{item}", lambda: f"{group}.{item}")
            await ctx.sleep(timedelta(milliseconds=5))
            return value

        async def branch(group: int) -> list[str]:
            async with restate.open_nursery(ctx) as inner:
                leaves = [inner.start_soon_result(leaf, group, item) for item in range(group + 1)]
            # The inner results are complete here: the parent goes on with them, durably.
            joined = await ctx.run(f"join {group}", lambda: "+".join(x.value for x in leaves))
            return [joined, *(x.value for x in leaves)]

        async with restate.open_nursery(ctx) as outer:
            branches = [outer.start_soon_result(branch, group) for group in range(groups)]
            summary = outer.start_soon_result(self._summary, ctx)
        return [summary.value, *(b.value for b in branches)]


class Failures:
    """Cases 3 to 5: children failing terminally, or not."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def _sleeper(self, ctx: restate.Context, tag: str, i: int) -> None:
        try:
            await ctx.sleep(LONG)
        except trio.Cancelled:
            self.board.append(("sleep cancelled", tag), i)
            raise
        self.board.append(("slept", tag), i)

    async def one_terminal(self, ctx: restate.Context, tag: str) -> None:
        async def failer() -> None:
            await ctx.run("before failing", lambda: None)
            raise restate.TerminalError(f"child failed {tag}", code=422)

        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(self._sleeper, ctx, tag, 0)
            nursery.start_soon(failer)
            nursery.start_soon(self._sleeper, ctx, tag, 1)

    async def two_terminal(self, ctx: restate.Context, tag: str) -> None:
        """The second-started child raises first; the first one raises while it is cancelled
        (a cleanup that fails), so the group holds two TerminalErrors."""

        async def cleanup_fails() -> None:
            try:
                await ctx.sleep(LONG)
            except trio.Cancelled:
                raise restate.TerminalError("cleanup failed", code=503) from None

        async def fails_first() -> None:
            await ctx.run("before failing", lambda: None)
            raise restate.TerminalError("failed first", code=422)

        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(cleanup_fails)
            nursery.start_soon(fails_first)

    async def not_terminal(self, ctx: restate.Context, tag: str) -> None:
        async def breaks() -> None:
            n = await ctx.run("attempt", lambda: self.board.count(("attempt", tag)))
            assert n >= 1
            raise ValueError(f"transient failure {tag}")

        self.board.count(("handler attempt", tag))
        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(self._sleeper, ctx, tag, 0)
            nursery.start_soon(breaks)


class Timeouts:
    """Case 6: a durable timeout firing while the children are inside ``ctx.run``."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def _children(self, ctx: restate.Context, tag: str) -> None:
        async def stuck(i: int) -> str:
            self.board.count(("closure started", tag, i))
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                self.board.count(("closure cancelled", tag, i))
                raise
            finally:
                self.board.post(("closure ended", tag, i))
            self.board.count(("closure finished", tag, i))  # pragma: no cover
            return "never"

        async def child(i: int) -> None:
            await ctx.run(f"stuck {i}", stuck, i)

        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(child, 0)
            nursery.start_soon(child, 1)

    async def move_on(self, ctx: restate.Context, args: list[object]) -> list[object]:
        tag, millis = str(args[0]), int(str(args[1]))
        with restate.move_on_after(ctx, timedelta(milliseconds=millis)) as scope:
            await self._children(ctx, tag)
        after = await ctx.run("after", lambda: "after")
        return [scope.cancelled_caught, scope.timed_out, after]

    async def fail(self, ctx: restate.Context, args: list[object]) -> str:
        tag, millis = str(args[0]), int(str(args[1]))
        with restate.fail_after(ctx, timedelta(milliseconds=millis)):
            await self._children(ctx, tag)
        return "not timed out"

    async def over_awakeables(self, ctx: restate.Context, millis: int) -> list[object]:
        """The timer fires while every task waits on an awakeable nobody resolves: the
        handler itself, then two children of a nursery."""
        with restate.move_on_after(ctx, timedelta(milliseconds=millis)) as alone:
            await ctx.awakeable(type=str)[1]
        with restate.move_on_after(ctx, timedelta(milliseconds=millis)) as children:
            async with restate.open_nursery(ctx) as nursery:
                for _ in range(2):
                    nursery.start_soon(lambda: ctx.awakeable(type=str)[1])
        return [alone.timed_out, children.timed_out, children.cancelled_caught]


class Cancellation:
    """Case 7: children waiting on a call, an awakeable and a timer when Restate cancels."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def wait_all(self, ctx: restate.Context, tag: str) -> str:
        async def compensate(kind: str, exc: restate.Cancelled) -> None:
            self.board.append(("saw", tag, kind), exc.code)
            # Shielded, as cleanup is in trio: the first sibling to re-raise Cancelled cancels
            # the nursery, and so the compensations of the others that are still running.
            with trio.CancelScope(shield=True):
                await ctx.run(
                    f"compensate {kind}", lambda: self.board.count(("compensate", tag, kind))
                )

        async def call() -> None:
            future = ctx.service_call(Callee.block, tag)
            try:
                await future
            except restate.Cancelled as exc:
                await compensate("call", exc)
                raise

        async def awakeable() -> None:
            awakeable_id, value = ctx.awakeable(type=str)
            self.board.post(("awakeable", tag), awakeable_id)
            try:
                await value
            except restate.Cancelled as exc:
                await compensate("awakeable", exc)
                raise

        async def timer() -> None:
            try:
                await ctx.sleep(LONG)
            except restate.Cancelled as exc:
                await compensate("timer", exc)
                raise

        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(call)
            nursery.start_soon(awakeable)
            nursery.start_soon(timer)
        return "not cancelled"


#: The shape of the determinism test's children: per child, a list of steps.
SHAPE_CHILDREN = 4
SHAPE_STEPS = ("run", "set", "sleep", "run", "get", "run", "sleep", "clear", "run")


class Shape:
    """Case 8: a virtual object whose children interleave runs, sleeps and state ops.

    The run closures take a random number of trio checkpoints (drawn from trio's own
    scheduler RNG when the test seeds it), so their completion order varies; the timers have
    equal durations, so their order is up to the server's clock.
    """

    def __init__(self, board: Board) -> None:
        self.board = board

    async def run(self, ctx: restate.ObjectContext, seed: int) -> list[str]:
        jitter = random.Random(seed)

        async def closure(label: str, checkpoints: int) -> str:
            for _ in range(checkpoints):
                await trio.lowlevel.checkpoint()
            return label

        async def child(i: int) -> str:
            seen: list[str] = []
            for step, kind in enumerate(SHAPE_STEPS):
                name = f"c{i}.{step}"
                if kind == "run":
                    seen.append(await ctx.run(name, closure, name, jitter.randrange(6)))
                elif kind == "set":
                    ctx.set(name, i)
                elif kind == "get":
                    value = await ctx.get(f"c{i}.1", type=int)
                    seen.append(f"{name}={value}")
                elif kind == "clear":
                    ctx.clear(f"c{i}.1")
                else:
                    await ctx.sleep(timedelta(milliseconds=1), name=name)
            return ",".join(seen)

        self.board.count(("shape attempt", ctx.request().id))
        async with restate.open_nursery(ctx) as nursery:
            results = [nursery.start_soon_result(child, i) for i in range(SHAPE_CHILDREN)]
        return [r.value for r in results]


class Guard:
    """Case 9: a trio deadline around a durable await, in a handler with a nursery."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def trio_deadline(self, ctx: restate.Context, tag: str) -> str:
        self.board.count(("guard attempt", tag))

        async def child() -> None:
            await ctx.run("child", lambda: None)

        async with restate.open_nursery(ctx) as nursery:
            nursery.start_soon(child)
        with trio.move_on_after(30):
            await ctx.sleep(timedelta(milliseconds=1))
        return "no error"


CONCURRENCY_SERVICES = (
    Callee,
    FanOut,
    Nested,
    Failures,
    Timeouts,
    Cancellation,
    Shape,
    Guard,
)
