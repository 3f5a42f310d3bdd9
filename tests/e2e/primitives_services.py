"""Services and helpers shared by the end-to-end primitive tests.

``test_primitives.py``, ``test_cancellation.py`` and ``test_determinism.py`` run against two
restate-servers per module (protocol V6 and V7), both with an inactivity timeout of zero: the
server closes its side of every invocation stream at once, so every await that is not already
resolved suspends the invocation and the next attempt replays the journal from the start.

Every test serves a fresh endpoint bound to fresh service instances that share one
:class:`Board`: the in-process side channel through which handlers report what they did
(execution counters, awakeable ids, invocation ids, values seen in each attempt) and through
which tests wait for it -- with trio events, never sleeps.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import trio

import restate_trio as restate
from restate_trio.testing import HarnessError, IngressResponse, RestateServer, serve_endpoint

T = TypeVar("T")

#: Bound, in seconds, on every wait of a test.
DEADLINE = 20.0

#: Server options shared by the matrix: a zero inactivity timeout (suspend at every await) and
#: fast invocation retries.
_RETRY_ENV = {
    "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "20ms",
    "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "200ms",
}
SERVER_CONFIGS: Mapping[str, Mapping[str, object]] = {
    "v6": {"inactivity_timeout": timedelta(0), "env": _RETRY_ENV},
    "v7": {"inactivity_timeout": timedelta(0), "env": _RETRY_ENV, "enable_protocol_v7": True},
}


def new_key() -> str:
    return uuid.uuid4().hex


# --------------------------------------------------------------------------- side channel


class Board:
    """What handlers report to the test that serves them (all in one trio run).

    * ``counts``: how many times something ran (closures, handler attempts), by key;
    * ``post``/``wait``: a value published under a key (the first post wins; replays post the
      same value again), and an event the test waits on;
    * ``log``: values appended under a key, one per attempt or occurrence.
    """

    def __init__(self) -> None:
        self.counts: Counter[object] = Counter()
        self._lock = threading.Lock()  # sync run closures count from worker threads
        self._values: dict[object, object] = {}
        self._events: dict[object, trio.Event] = {}
        self.log: dict[object, list[object]] = {}

    def count(self, key: object) -> int:
        """Count one more ``key``; from the trio thread or from a worker thread."""
        with self._lock:
            self.counts[key] += 1
            n = self.counts[key]
        if trio.lowlevel.in_trio_run():
            self._counted(key, n)
        else:  # a sync run closure, in a worker thread started by trio.to_thread
            trio.from_thread.run_sync(self._counted, key, n)
        return n

    def _counted(self, key: object, n: int) -> None:
        self._event(("count", key, n)).set()

    async def wait_count(self, key: object, n: int) -> None:
        """Wait (bounded) until ``key`` was counted ``n`` times."""
        with trio.fail_after(DEADLINE):
            await self._event(("count", key, n)).wait()

    def append(self, key: object, value: object) -> None:
        with self._lock:
            self.log.setdefault(key, []).append(value)

    def _event(self, key: object) -> trio.Event:
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = trio.Event()
        return event

    def post(self, key: object, value: object = None) -> None:
        """Publish ``value`` under ``key`` (from the trio thread: handlers, async closures)."""
        self._values.setdefault(key, value)
        self._event(key).set()

    async def wait(self, key: object) -> object:
        """The value posted under ``key``, waiting (bounded) until it is posted."""
        with trio.fail_after(DEADLINE):
            await self._event(key).wait()
        return self._values[key]


# --------------------------------------------------------------------------- services


@dataclass
class Greeting:
    text: str
    hops: list[str]


class Steps:
    """Sequential, failing, retried and terminal ``ctx.run`` steps."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def ten(self, ctx: restate.Context, base: int) -> list[int]:
        me = ctx.request().id
        self.board.count(("attempt", me))
        out: list[int] = []
        for i in range(10):

            def step(i: int = i) -> int:
                self.board.count(("step", me, i))
                return base + i * i

            out.append(await ctx.run(f"step{i}", step))
        return out

    async def flaky(self, ctx: restate.Context, failures: int) -> str:
        me = ctx.request().id

        def attempt() -> str:
            n = self.board.count(("flaky", me))
            if n <= failures:
                raise ValueError(f"flaky failure {n}")
            return f"ok after {n}"

        policy = restate.RetryPolicy(initial_interval=timedelta(milliseconds=10), factor=1.0)
        return await ctx.run("flaky", attempt, retry=policy)

    async def exhaust(self, ctx: restate.Context) -> str:
        me = ctx.request().id

        def always_fails() -> str:
            n = self.board.count(("exhaust", me))
            raise ValueError(f"broken for good ({n})")

        policy = restate.RetryPolicy(max_attempts=3, initial_interval=timedelta(milliseconds=10))
        return await ctx.run("exhaust", always_fails, retry=policy)

    async def terminal(self, ctx: restate.Context) -> str:
        me = ctx.request().id

        def refuse() -> str:
            self.board.count(("terminal", me))
            raise restate.TerminalError("refused", code=418)

        try:
            await ctx.run("refuse", refuse)
        except restate.TerminalError as exc:
            caught = f"caught {exc.code} {exc.message}"
        else:
            caught = "not raised"
        # Suspend and replay: the failure comes back from the journal, the closure never reruns.
        await ctx.sleep(timedelta(milliseconds=1))
        again = await ctx.run("after", lambda: "after")
        return f"{caught}; {again}"

    async def fan_out(self, ctx: restate.Context, width: int) -> list[int]:
        me = ctx.request().id

        async def work(i: int) -> int:
            self.board.count(("fan", me, i))
            for _ in range(i % 3):
                await trio.lowlevel.checkpoint()
            return i * 10

        futures = [ctx.run(f"work{i}", work, i) for i in range(width)]
        return await restate.all_succeeded(*futures)

    async def later_flaky(self, ctx: restate.Context, max_attempts: int) -> list[str]:
        """Two good steps, then a step failing twice; ``max_attempts`` 2 makes it terminal."""
        me = ctx.request().id
        out = [
            await ctx.run("one", lambda: f"one {self.board.count(('one', me))}"),
            await ctx.run("two", lambda: f"two {self.board.count(('two', me))}"),
        ]

        def third() -> str:
            n = self.board.count(("third", me))
            if n <= 2:
                raise ValueError(f"third failed {n}")
            return f"third {n}"

        policy = restate.RetryPolicy(
            max_attempts=max_attempts, initial_interval=timedelta(milliseconds=10)
        )
        try:
            out.append(await ctx.run("three", third, retry=policy))
        except restate.TerminalError as exc:
            out.append(f"gave up: {exc.message}")
        return out

    async def closures(self, ctx: restate.Context) -> list[object]:
        main = threading.get_ident()

        def add(a: int, b: int) -> list[object]:
            return [a + b, threading.get_ident() != main]

        async def mul(a: int, b: int) -> list[object]:
            await trio.lowlevel.checkpoint()
            return [a * b, threading.get_ident() == main]

        async def describe(greeting: Greeting, suffix: str) -> Greeting:
            return Greeting(greeting.text + suffix, [*greeting.hops, "run"])

        summed = await ctx.run("add", add, 2, 3)
        product = await ctx.run("mul", mul, 4, 5)
        typed = await ctx.run("describe", describe, Greeting("hi", []), "!", type=Greeting)
        assert isinstance(typed, Greeting), typed
        return [summed, product, typed.text, typed.hops]


class Timers:
    def __init__(self, board: Board) -> None:
        self.board = board

    async def nap(self, ctx: restate.Context, millis: int) -> int:
        self.board.count(("attempt", ctx.request().id))
        await ctx.sleep(timedelta(milliseconds=millis))
        return millis

    async def schedule(self, ctx: restate.Context, args: list[object]) -> float:
        """Send ``Stamp.stamp`` to object ``key`` after ``millis``; returns the send time."""
        key, millis = str(args[0]), int(str(args[1]))
        sent_at = await ctx.time()
        ctx.object_send(Stamp.stamp, key, delay=timedelta(milliseconds=millis))
        return sent_at


class Stamp:
    """A virtual object recording when it was invoked."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def stamp(self, ctx: restate.ObjectContext) -> None:
        now = await ctx.run("now", time.time, type=float)
        ctx.set("stamped_at", now)
        self.board.post(("stamped", ctx.key()), now)

    async def stamped_at(self, ctx: restate.ObjectSharedContext) -> float | None:
        return await ctx.get("stamped_at", type=float)


class ChainA:
    async def start(self, ctx: restate.Context, name: str) -> Greeting:
        greeting = await ctx.service_call(ChainB.middle, name)
        greeting.hops.append("A")
        return greeting

    async def generic(self, ctx: restate.Context, name: str) -> str:
        raw = await ctx.generic_call("ChainC", "leaf", f'"{name}"'.encode(), key="generic")
        assert isinstance(raw, bytes), raw
        return raw.decode()


class ChainB:
    async def middle(self, ctx: restate.Context, name: str) -> Greeting:
        greeting = await ctx.object_call(ChainC.leaf, name.lower(), name)
        greeting.hops.append("B")
        return greeting


class ChainC:
    async def leaf(self, ctx: restate.ObjectContext, name: str) -> Greeting:
        return Greeting(f"hello {name} from {ctx.key()}", ["C"])


class Idem:
    def __init__(self, board: Board) -> None:
        self.board = board

    async def twice(self, ctx: restate.Context, key: str) -> list[str]:
        first = ctx.service_call(Idem.once, key, idempotency_key=key)
        a = await first
        second = ctx.service_call(Idem.once, key, idempotency_key=key)
        b = await second
        return [a, b, await first.invocation_id(), await second.invocation_id()]

    async def twice_failing(self, ctx: restate.Context, key: str) -> list[str]:
        out = []
        for _ in range(2):
            try:
                await ctx.service_call(Idem.fails_once, key, idempotency_key=key)
            except restate.TerminalError as exc:
                out.append(f"{exc.code} {exc.message}")
        return out

    async def fails_once(self, ctx: restate.Context, key: str) -> str:
        n = self.board.count(("fails", key))
        raise restate.TerminalError(f"failure {n}", code=499)

    async def once(self, ctx: restate.Context, key: str) -> str:
        self.board.count(("once", key))
        return f"{key} by {ctx.request().id}"


class Wake:
    """Awakeables completed from the ingress or from another handler."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def external(self, ctx: restate.Context, tag: str) -> str:
        awakeable_id, value = ctx.awakeable(type=str)
        self.board.post(("awakeable", tag), awakeable_id)
        try:
            return "resolved: " + await value
        except restate.TerminalError as exc:
            return f"rejected: {exc.code} {exc.message}"

    async def internal(self, ctx: restate.Context, reject: bool) -> str:
        awakeable_id, value = ctx.awakeable(type=str)
        if reject:
            ctx.service_send(Wake.rejecter, awakeable_id)
        else:
            ctx.service_send(Wake.resolver, awakeable_id)
        try:
            return "resolved: " + await value
        except restate.TerminalError as exc:
            return f"rejected: {exc.code} {exc.message}"

    async def own(self, ctx: restate.Context) -> str:
        awakeable_id, value = ctx.awakeable(type=str)
        ctx.resolve_awakeable(awakeable_id, "by myself")
        return await value

    async def resolver(self, ctx: restate.Context, awakeable_id: str) -> None:
        ctx.resolve_awakeable(awakeable_id, "from a handler")

    async def rejecter(self, ctx: restate.Context, awakeable_id: str) -> None:
        ctx.reject_awakeable(awakeable_id, "no way", code=451)


class Approval:
    """A workflow waiting on its ``approval`` promise."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def run(self, ctx: restate.WorkflowContext) -> str:
        promise = ctx.promise("approval", type=str)
        before = await promise.peek()
        self.board.post(("waiting", ctx.key()))
        try:
            value = await promise.value()
        except restate.TerminalError as exc:
            return f"before={before} rejected: {exc.code} {exc.message}"
        after = await promise.peek()
        return f"before={before} value={value} after={after}"

    async def approve(self, ctx: restate.WorkflowSharedContext, value: str) -> str:
        try:
            await ctx.promise("approval", type=str).resolve(value)
        except restate.TerminalError as exc:
            return f"failed: {exc.code}"
        return "resolved"

    async def deny(self, ctx: restate.WorkflowSharedContext, reason: str) -> str:
        await ctx.promise("approval", type=str).reject(reason, code=403)
        return "rejected"

    async def peek(self, ctx: restate.WorkflowSharedContext) -> str | None:
        return await ctx.promise("approval", type=str).peek()


class Race:
    def __init__(self, board: Board) -> None:
        self.board = board

    async def select(self, ctx: restate.Context, args: list[object]) -> str:
        tag, timer_ms = str(args[0]), int(str(args[1]))
        awakeable_id, value = ctx.awakeable(type=str)
        self.board.post(("awakeable", tag), awakeable_id)
        timer = ctx.sleep(timedelta(milliseconds=timer_ms))
        winner = await restate.first_completed(value, timer)
        if winner is value:
            return "awakeable: " + await value
        assert winner is timer
        return "timer"

    async def bounded(self, ctx: restate.Context, args: list[object]) -> str:
        tag, timeout_ms, catch = str(args[0]), int(str(args[1])), bool(args[2])
        awakeable_id, value = ctx.awakeable(type=str)
        self.board.post(("awakeable", tag), awakeable_id)
        try:
            return "value: " + await restate.with_timeout(value, timedelta(milliseconds=timeout_ms))
        except restate.DurableTimeoutError as exc:
            if not catch:
                raise
            return (
                f"{type(exc).__name__} {exc.code} terminal={isinstance(exc, restate.TerminalError)}"
            )

    async def run_against_timer(self, ctx: restate.Context, args: list[int]) -> str:
        """A run taking ``args[0]`` ms against a timer of ``args[1]`` ms: the journal decides."""
        run_ms, timer_ms = args

        async def work() -> str:
            await trio.sleep(run_ms / 1000)  # the side effect's own duration
            return "run"

        work_done = ctx.run("work", work)
        timer = ctx.sleep(timedelta(milliseconds=timer_ms))
        winner = await restate.first_completed(work_done, timer)  # type: ignore[arg-type]
        return "run" if winner is work_done else "timer"

    async def await_after_timeout(self, ctx: restate.Context, tag: str) -> str:
        """``with_timeout`` gives up on a future, which can still be awaited afterwards."""
        awakeable_id, value = ctx.awakeable(type=str)
        try:
            return "in time: " + await restate.with_timeout(value, timedelta(milliseconds=200))
        except restate.DurableTimeoutError:
            self.board.post(("timed out", tag), awakeable_id)
        return "later: " + await value


class Failing:
    async def boom(self, ctx: restate.Context, message: str) -> str:
        raise restate.TerminalError(message, code=422, metadata={"origin": "boom"})

    async def echo(self, ctx: restate.Context, message: str) -> str:
        return "echo " + message


def _ok(value: str) -> str:
    return value


def _fail(message: str) -> str:
    raise restate.TerminalError(message, code=400)


async def _outcome(future: restate.DurableFuture[str]) -> str:
    try:
        return "ok " + await future
    except restate.TerminalError as exc:
        return f"err {exc.code} {exc.message}"


class Combine:
    async def all_succeeded_ok(self, ctx: restate.Context) -> list[str]:
        return await restate.all_succeeded(
            ctx.run("a", _ok, "a"), ctx.service_call(Failing.echo, "b"), ctx.run("c", _ok, "c")
        )

    async def all_succeeded_fails(self, ctx: restate.Context) -> str:
        ok = ctx.run("a", _ok, "a")
        bad = ctx.service_call(Failing.boom, "call failed")
        timer = ctx.sleep(timedelta(seconds=30))  # never needed: the failure short-circuits
        try:
            await restate.all_succeeded(ok, bad, timer)  # type: ignore[arg-type]
        except restate.TerminalError as exc:
            return f"err {exc.code} {exc.message}"
        return "no error"

    async def all_completed_mixed(self, ctx: restate.Context) -> list[str]:
        futures = [
            ctx.run("a", _ok, "a"),
            ctx.run("b", _fail, "run failed"),
            ctx.service_call(Failing.boom, "call failed"),
            ctx.service_call(Failing.echo, "d"),
        ]
        done = await restate.all_completed(*futures)
        assert done == futures
        return [await _outcome(f) for f in done]

    async def first_succeeded_mixed(self, ctx: restate.Context) -> str:
        return await restate.first_succeeded(
            ctx.run("a", _fail, "first failed"),
            ctx.service_call(Failing.boom, "second failed"),
            ctx.service_call(Failing.echo, "third"),
        )

    async def first_succeeded_all_fail(self, ctx: restate.Context) -> str:
        first = ctx.run("a", _fail, "first failed")
        with contextlib.suppress(restate.TerminalError):
            await first  # so that it is journaled first: the call's failure is the last one
        try:
            await restate.first_succeeded(first, ctx.service_call(Failing.boom, "second failed"))
        except restate.TerminalError as exc:
            return f"err {exc.code} {exc.message} {sorted(exc.metadata.items())}"
        return "no error"

    async def first_completed_failure(self, ctx: restate.Context) -> str:
        bad = ctx.run("bad", _fail, "quick failure")
        timer = ctx.sleep(timedelta(seconds=30))
        winner = await restate.first_completed(bad, timer)  # type: ignore[arg-type]
        return ("bad " if winner is bad else "timer ") + await _outcome(bad)

    async def with_completed(self, ctx: restate.Context) -> list[str]:
        done = ctx.run("done", _ok, "done")
        first = await done
        timer = ctx.sleep(timedelta(seconds=30))
        winner = await restate.first_completed(timer, done)  # type: ignore[arg-type]
        bounded = await restate.with_timeout(done, timedelta(seconds=30))
        return [first, "done" if winner is done else "timer", bounded]

    async def nursery_terminal(self, ctx: restate.Context) -> str:
        async def fails() -> None:
            await trio.lowlevel.checkpoint()
            raise restate.TerminalError("from a child task", code=412)

        await ctx.sleep(timedelta(milliseconds=1))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fails)
        return "unreachable"

    async def ordered(self, ctx: restate.Context) -> list[str]:
        labelled: dict[int, str] = {}
        futures: list[restate.DurableFuture[object]] = []
        for label, future in [
            ("slow", ctx.sleep(timedelta(milliseconds=900))),
            ("fail", ctx.service_call(Failing.boom, "x")),
            ("medium", ctx.sleep(timedelta(milliseconds=450))),
        ]:
            labelled[id(future)] = label
            futures.append(future)  # type: ignore[arg-type]
        order = []
        async for done in restate.as_completed(*futures):
            order.append(labelled[id(done)])
        return order


class Signals:
    def __init__(self, board: Board) -> None:
        self.board = board

    async def wait(self, ctx: restate.Context, delay_ms: int) -> str:
        if delay_ms:
            self.board.post(("sleeping", ctx.request().id))
            await ctx.sleep(timedelta(milliseconds=delay_ms))
        try:
            value = await ctx.signal("go", type=int)
        except restate.TerminalError as exc:
            return f"rejected: {exc.code} {exc.message}"
        return f"go {value}"

    async def go(self, ctx: restate.Context, args: list[object]) -> None:
        ctx.resolve_signal(str(args[0]), "go", args[1])

    async def stop(self, ctx: restate.Context, invocation_id: str) -> None:
        ctx.reject_signal(invocation_id, "go", "stopped", code=410)


class Invocations:
    """attach_invocation, get_invocation_output and cancel_invocation."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def blocked(self, ctx: restate.Context, tag: str) -> str:
        """Waits for its ``release`` signal; records what it saw."""
        try:
            value = await ctx.signal("release", type=str)
        except restate.TerminalError as exc:
            self.board.post(("blocked ended", tag), exc.code)
            raise
        return "released " + value

    async def observe(self, ctx: restate.Context, tag: str) -> list[object]:
        handle = ctx.service_send(Invocations.blocked, tag, idempotency_key=tag)
        target = await handle.invocation_id()
        early = await ctx.get_invocation_output(target, type=str)
        ctx.resolve_signal(target, "release", tag)
        attached = await ctx.attach_invocation(target, type=str)
        late = await ctx.get_invocation_output(target, type=str)
        return [early, attached, late]

    async def attach_failed(self, ctx: restate.Context, tag: str) -> str:
        handle = ctx.service_send(Failing.boom, f"failed {tag}", idempotency_key=tag)
        target = await handle.invocation_id()
        try:
            value = await ctx.attach_invocation(target, type=str)
        except restate.TerminalError as exc:
            output = "no output"
            try:
                await ctx.get_invocation_output(target, type=str)
            except restate.TerminalError as again:
                output = f"output {again.code} {again.message}"
            return f"attach {exc.code} {exc.message}; {output}"
        return "attached: " + value

    async def cancel(self, ctx: restate.Context, target: str) -> str:
        ctx.cancel_invocation(target)
        try:
            value = await ctx.attach_invocation(target, type=str)
        except restate.TerminalError as exc:
            return f"attach failed: {exc.code} {exc.message}"
        return "attached: " + value


# --------------------------------------------------------------------------- serving


PRIMITIVE_SERVICES = (
    Steps,
    Timers,
    Stamp,
    ChainA,
    ChainB,
    ChainC,
    Idem,
    Wake,
    Approval,
    Race,
    Failing,
    Combine,
    Signals,
    Invocations,
)


def make_endpoint(board: Board, classes: tuple[type, ...]) -> restate.Endpoint:
    endpoint = restate.Endpoint()
    for cls in classes:
        try:
            instance = cls(board)
        except TypeError:
            instance = cls()
        endpoint.bind(restate.reflect(instance))
    return endpoint


@asynccontextmanager
async def serving(server: RestateServer, classes: tuple[type, ...]) -> AsyncIterator[Board]:
    """Serve fresh instances of ``classes`` (sharing a new :class:`Board`) to ``server``."""
    board = Board()
    try:
        async with serve_endpoint(make_endpoint(board, classes), server):
            yield board
    finally:
        with trio.CancelScope(shield=True):
            await kill_unfinished(server)


async def kill_unfinished(server: RestateServer) -> None:
    """Kill what a test left running (e.g. after a failure), so later tests start clean.

    Best effort: it must not hide the test's own outcome.
    """
    try:
        rows = await server.query("SELECT id FROM sys_invocation WHERE status != 'completed'")
        for row in rows:
            await server.admin_patch(f"/invocations/{row['id']}/kill")
    except HarnessError:
        pass


def ok(response: IngressResponse) -> object:
    assert response.status == 200, (response.status, response.text)
    return response.json() if response.body else None


async def send(server: RestateServer, path: str, body: object = b"") -> str:
    """Start an invocation through ``{path}/send``; returns its invocation id."""
    response = await server.ingress(path + "/send", body)
    assert response.status == 202, (response.status, response.text)
    invocation_id = response.invocation_id
    assert invocation_id is not None, response.text
    return invocation_id


async def attach(server: RestateServer, invocation_id: str) -> IngressResponse:
    """Wait for an invocation's result through the ingress."""
    return await server.ingress(f"/restate/invocation/{invocation_id}/attach", method="GET")


async def poll(check: Callable[[], Awaitable[T]], *, interval: float = 0.05) -> T:
    """Call ``check()`` until it returns something truthy (bounded by :data:`DEADLINE`)."""
    with trio.fail_after(DEADLINE):
        while True:
            value = await check()
            if value:
                return value
            await trio.sleep(interval)


async def kill(server: RestateServer, invocation_id: str) -> None:
    response = await server.admin_patch(f"/invocations/{invocation_id}/kill")
    assert response.ok, (response.status, response.text)


# --------------------------------------------------------------------------- cancellation


class Booking:
    """A saga step: reserve, wait for confirmation, compensate when cancelled."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def book(self, ctx: restate.ObjectContext, tag: str) -> str:
        me = ctx.request().id
        reservation = await ctx.run("reserve", lambda: f"reservation-{tag}")
        ctx.set("status", "reserved")
        awakeable_id, confirmation = ctx.awakeable(type=str)
        self.board.post(("awakeable", tag), awakeable_id)
        try:
            confirmed = await confirmation
        except restate.Cancelled as exc:

            def compensate() -> str:
                self.board.count(("compensate", me))
                return f"released {reservation}"

            released = await ctx.run("compensate", compensate)
            ctx.set("status", f"compensated: {released}")
            self.board.append(("cancelled", tag), exc.code)
            raise
        ctx.set("status", "confirmed")
        return confirmed

    async def status(self, ctx: restate.ObjectSharedContext) -> str | None:
        return await ctx.get("status", type=str)


class Stubborn:
    """Catches its cancellation and carries on: later awaits are not cancelled again."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def carry_on(self, ctx: restate.Context, tag: str) -> str:
        awakeable_id, value = ctx.awakeable(type=str)
        self.board.post(("first", tag), awakeable_id)
        try:
            await value
        except restate.TerminalError as exc:
            self.board.append(("caught", tag), exc.code)
        await ctx.sleep(timedelta(milliseconds=50))
        awakeable_id, value = ctx.awakeable(type=str)
        self.board.post(("second", tag), awakeable_id)
        return "carried on: " + await value


class Parent:
    def __init__(self, board: Board) -> None:
        self.board = board

    async def run(self, ctx: restate.Context, tag: str) -> str:
        child = ctx.service_call(Child.wait, tag)
        self.board.post(("child id", tag), await child.invocation_id())
        try:
            return "child said " + await child
        except restate.TerminalError as exc:
            self.board.append(("parent saw", tag), exc.code)
            await ctx.run("parent compensate", lambda: self.board.count(("parent comp", tag)))
            raise


class Child:
    def __init__(self, board: Board) -> None:
        self.board = board

    async def wait(self, ctx: restate.Context, tag: str) -> str:
        awakeable_id, value = ctx.awakeable(type=str)
        self.board.post(("child awakeable", tag), awakeable_id)
        try:
            return await value
        except restate.TerminalError as exc:
            self.board.append(("child saw", tag), exc.code)
            await ctx.run("child compensate", lambda: self.board.count(("child comp", tag)))
            raise


class Waiter:
    """Blocked in a combinator (an awakeable and a long timer) when cancelled."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def combined(self, ctx: restate.Context, tag: str) -> str:
        awakeable_id, value = ctx.awakeable(type=str)
        timer = ctx.sleep(timedelta(seconds=60))
        self.board.post(("awakeable", tag), awakeable_id)
        try:
            await restate.all_succeeded(value, timer)  # type: ignore[arg-type]
        except restate.TerminalError as exc:
            self.board.append(("combined saw", tag), exc.code)
            await ctx.run("cleanup", lambda: self.board.count(("cleanup", tag)))
            raise
        return "finished"


CANCELLATION_SERVICES = (Booking, Parent, Child, Waiter, Stubborn)


# --------------------------------------------------------------------------- determinism

#: Flipped by the journal-mismatch test between two attempts of ``Drift.mutate``.
DRIFT = {"second_version": False}


class Dice:
    def __init__(self, board: Board) -> None:
        self.board = board

    def _draw(self, ctx: restate.Context) -> list[object]:
        rng = ctx.random()
        return [rng.random(), rng.randint(0, 10**9), ctx.uuid()]

    async def roll(self, ctx: restate.Context) -> dict[str, object]:
        me = ctx.request().id
        before = self._draw(ctx)
        now = await ctx.time()
        self.board.append(("before", me), [*before, now])
        await ctx.sleep(timedelta(milliseconds=50))
        after = self._draw(ctx)
        self.board.append(("after", me), after)
        return {"before": [*before, now], "after": after}


class Drift:
    """A handler whose code changes between attempts (the test flips ``DRIFT``)."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def mutate(self, ctx: restate.ObjectContext, tag: str) -> str:
        if DRIFT["second_version"]:
            ctx.set("b", 1)
        else:
            ctx.set("a", 1)
        self.board.count(("drift attempt", tag))
        awakeable_id, value = ctx.awakeable(type=str)
        self.board.post(("awakeable", tag), awakeable_id)
        return await value


class Misuse:
    """Context methods used where they are not allowed."""

    async def from_child_task(self, ctx: restate.Context) -> list[str]:
        messages: list[str] = []

        async def child() -> None:
            try:
                ctx.sleep(timedelta(milliseconds=1))
            except RuntimeError as exc:
                messages.append(str(exc))
            try:
                ctx.random()
            except RuntimeError as exc:
                messages.append(str(exc))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
        # The handler's own task still works afterwards, across a suspension.
        await ctx.sleep(timedelta(milliseconds=1))
        messages.append(await ctx.run("still works", lambda: "still works"))
        return messages

    async def inside_run_caught(self, ctx: restate.Context) -> list[str]:
        def sync_closure() -> str:
            try:
                ctx.uuid()
            except RuntimeError as exc:
                return "sync: " + str(exc)
            return "sync: no error"

        async def async_closure() -> str:
            try:
                ctx.sleep(timedelta(milliseconds=1))
            except RuntimeError as exc:
                return "async: " + str(exc)
            return "async: no error"

        return [await ctx.run("sync", sync_closure), await ctx.run("async", async_closure)]

    async def inside_run_terminal(self, ctx: restate.Context) -> str:
        async def closure() -> str:
            try:
                return await ctx.run("nested", lambda: "nested")
            except RuntimeError as exc:
                raise restate.TerminalError(f"{type(exc).__name__}: {exc}", code=400) from exc

        try:
            return await ctx.run("outer", closure)
        except restate.TerminalError as exc:
            return f"terminal {exc.code}: {exc.message}"


DETERMINISM_SERVICES = (Dice, Drift, Misuse)
