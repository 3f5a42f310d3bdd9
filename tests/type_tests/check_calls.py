"""Static typing checks: mypy --strict and pyright read this file; pytest does not run it.

An ``ignore`` comment marks a line that MUST be a type error: both checkers are configured to
report unused ignores, so the file fails to type-check if the error disappears.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, assert_type

import trio

import restate_trio as restate


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return name

    async def ping(self, ctx: restate.Context) -> int:
        return 1


class Counter:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        return delta

    async def current(self, ctx: restate.ObjectSharedContext) -> int:
        return 0


class Signup:
    async def run(self, ctx: restate.WorkflowContext, email: str) -> bool:
        return True


@restate.service_name("Greeter")
class GreeterApi(Protocol):
    async def greet(self, ctx: restate.Context, name: str) -> str: ...


class Caller:
    async def calls(self, ctx: restate.Context) -> None:
        assert_type(ctx.service_call(Greeter.greet, "bob"), restate.CallFuture[str])
        assert_type(await ctx.service_call(Greeter.greet, "bob"), str)
        assert_type(await ctx.service_call(Greeter.ping), int)
        assert_type(await ctx.service_call(GreeterApi.greet, "bob"), str)
        assert_type(await ctx.object_call(Counter.add, "k", 1), int)
        assert_type(await ctx.object_call(Counter.current, "k"), int)
        assert_type(await ctx.service_call(Greeter.greet, "b").invocation_id(), str)
        assert_type(ctx.service_send(Greeter.greet, "b", delay=timedelta(1)), restate.SendHandle)
        assert_type(await ctx.generic_call("Greeter", "greet", b'"x"'), bytes)
        assert_type(await ctx.attach_workflow(Signup.run, "k"), bool)
        assert_type(await ctx.attach_idempotent(Greeter.greet, "idem"), str)

        ctx.service_call(Greeter.greet, 3)  # type: ignore[arg-type]
        # call options are the CallOptions keywords; sends add a delay
        options: restate.CallOptions = {"headers": {"h": "v"}, "idempotency_key": "k"}
        assert_type(ctx.service_call(Greeter.greet, "b", **options), restate.CallFuture[str])
        ctx.object_call(Counter.add, "k", 1, idempotency_key=None, scope="s", limit_key="l")
        ctx.object_send(Counter.add, "k", 1, delay=timedelta(seconds=1), headers={"h": "v"})
        ctx.service_call(Greeter.greet, "b", delay=timedelta(1))  # type: ignore[call-overload]
        ctx.generic_send("Greeter", "greet", b"", key="k", delay=timedelta(1))
        ctx.object_call(Counter.add, "k", "one")  # type: ignore[arg-type]

    async def primitives(self, ctx: restate.Context) -> None:
        async def fetch(url: str) -> bytes:
            return url.encode()

        def compute(x: int) -> float:
            return x / 2

        assert_type(await ctx.run("fetch", fetch, "u"), bytes)
        assert_type(await ctx.run("compute", compute, 3), float)
        # the closure's arguments are checked against its signature
        ctx.run("compute", compute)  # type: ignore[call-arg, arg-type]
        ctx.run("compute", compute, 3, 4)  # type: ignore[call-arg, arg-type]
        ctx.run("fetch", fetch, 3)  # type: ignore[arg-type]
        assert_type(await ctx.sleep(timedelta(seconds=1)), None)
        awakeable_id, fut = ctx.awakeable(type=int)
        assert_type(awakeable_id, str)
        assert_type(await fut, int)
        a = ctx.run("a", compute, 1)
        b = ctx.run("b", compute, 2)
        assert_type(await restate.all_succeeded(a, b), list[float])
        assert_type(await restate.first_succeeded(a, b), float)
        assert_type(await restate.first_completed(a, b), restate.DurableFuture[float])
        assert_type(await restate.with_timeout(a, timedelta(seconds=1)), float)
        assert_type(ctx.random().random(), float)
        assert_type(ctx.uuid(), str)

    async def state(self, ctx: restate.ObjectContext) -> None:
        assert_type(await ctx.get("n", type=int), int | None)
        assert_type(await ctx.state_keys(), list[str])
        ctx.set("n", 1)

    async def shared(self, ctx: restate.ObjectSharedContext) -> None:
        ctx.set("n", 1)  # type: ignore[attr-defined]

    async def workflow(self, ctx: restate.WorkflowSharedContext) -> None:
        promise = ctx.promise("p", type=str)
        assert_type(await promise.value(), str)
        assert_type(await promise.peek(), str | None)


async def _child(ctx: restate.Context, name: str, times: int) -> str:
    return name * times


class Concurrent:
    async def fan(self, ctx: restate.Context) -> None:
        async with restate.open_nursery(ctx) as nursery:
            assert_type(nursery, restate.DurableNursery)
            result = nursery.start_soon_result(_child, ctx, "a", 2)
            assert_type(result, restate.TaskResult[str])
            nursery.start_soon(_child, ctx, "b", 1)
            nursery.start_soon(_child, ctx, "b")  # type: ignore[arg-type]
            nursery.start_soon(_child, ctx, 1, 1)  # type: ignore[arg-type]
            assert_type(nursery.cancel_scope, trio.CancelScope)
            assert_type(result.value, str)  # (read it after the block; here: its type)
        with restate.move_on_after(ctx, timedelta(seconds=1)) as scope:
            assert_type(scope, restate.DurableCancelScope)
        assert_type(scope.cancelled_caught, bool)
        with restate.fail_at(ctx, datetime(2030, 1, 1, tzinfo=UTC), shield=True):
            pass
        restate.move_on_after(ctx, 5)  # type: ignore[arg-type]
