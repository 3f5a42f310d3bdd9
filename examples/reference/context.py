"""restate_trio.context in use: each context type, future and option of the reference.

A small application: a ``Greeter`` service, a ``Counter`` Virtual Object and a ``Signup``
workflow. ``tests/e2e/test_reference_handlers.py`` serves it and calls every handler.
"""

from __future__ import annotations

from datetime import timedelta

import trio

import restate_trio as restate
from restate_trio.context import CallOptions, DurableFuture, SendOptions


# [Context]
class Greeter:
    """A stateless service: its invocations run independently of each other."""

    async def greet(self, ctx: restate.Context, name: str) -> str:
        # A side effect runs once; a retry or a replay gets the journaled result.
        greeting = await ctx.run("pick a greeting", pick_greeting, name)
        ctx.logger.info("greeting %s", name)  # silent while the handler replays
        return f"{greeting} {name}!"

    # [/Context]

    # [Request]
    async def whoami(self, ctx: restate.Context) -> str:
        request = ctx.request()
        # The caller's headers are journaled: every attempt sees the same ones.
        tenant = request.headers.get("x-tenant", "nobody")
        return f"{tenant} in {request.id}"

    # [/Request]

    # [CallOptions]
    async def whoami_as(self, ctx: restate.Context, tenant: str) -> str:
        options: CallOptions = {"headers": {"x-tenant": tenant}, "idempotency_key": tenant}
        # The same idempotency key runs the callee once: later calls get its first answer.
        return await ctx.service_call(Greeter.whoami, **options)

    # [/CallOptions]

    # [DurableFuture]
    async def greet_all(self, ctx: restate.Context, names: list[str]) -> list[str]:
        # Each call is journaled, and runs in Restate, as soon as it is made...
        futures: list[DurableFuture[str]] = [ctx.service_call(Greeter.greet, n) for n in names]
        # ...and awaiting them, now or later, in any order, only collects the results.
        return [await future for future in futures]

    # [/DurableFuture]

    # [CallFuture]
    async def greet_traced(self, ctx: restate.Context, name: str) -> str:
        call = ctx.service_call(Greeter.greet, name)
        # The callee's invocation id is known before its result (to log, store or cancel).
        callee = await call.invocation_id()
        ctx.logger.info("greeting %s in %s", name, callee)
        return f"{await call} ({callee})"

    # [/CallFuture]

    # [SendHandle]
    async def greet_later(self, ctx: restate.Context, name: str) -> str:
        handle = ctx.service_send(Greeter.greet, name, delay=timedelta(milliseconds=100))
        # A send does not wait: the id is what the sender can hand on (to attach to it).
        return await handle.invocation_id()

    # [/SendHandle]

    # [DurableRandom]
    async def draw(self, ctx: restate.Context, count: int) -> list[int]:
        # Seeded by the invocation: every retry and replay draws the same numbers.
        rng = ctx.random()
        return sorted(rng.sample(range(1, 50), count))

    # [/DurableRandom]


async def pick_greeting(name: str) -> str:
    await trio.lowlevel.checkpoint()  # an API call in a real service
    return "Hello"


# [ObjectContext]
class Counter:
    """A Virtual Object: state per key; exclusive handlers run one at a time per key."""

    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        # Read, change, write: no other exclusive handler of this key runs meanwhile.
        count = await ctx.get("count", type=int) or 0
        ctx.set("count", count + delta)
        return count + delta

    async def reset(self, ctx: restate.ObjectContext) -> None:
        ctx.clear("count")

    # [/ObjectContext]

    # [ObjectSharedContext]
    async def current(self, ctx: restate.ObjectSharedContext) -> int:
        # Shared handlers only read, so they run even while an exclusive one is running.
        return await ctx.get("count", type=int) or 0

    # [/ObjectSharedContext]

    # [SendOptions]
    async def bump_all(self, ctx: restate.ObjectContext, keys: list[str]) -> None:
        # One set of options for several sends: each counter is bumped a moment later.
        options: SendOptions = {"delay": timedelta(milliseconds=100)}
        for key in keys:
            ctx.object_send(Counter.add, key, 1, **options)

    # [/SendOptions]


# [WorkflowContext]
class Signup:
    """A workflow: ``run`` executes once per key; the shared handlers talk to it."""

    async def run(self, ctx: restate.WorkflowContext, email: str) -> str:
        ctx.set("status", "waiting for confirmation")
        # Suspends (for days, if need be) until a shared handler resolves the promise.
        code = await ctx.promise("confirmed", type=str).value()
        ctx.set("status", "confirmed")
        return f"{email} confirmed with {code}"

    # [/WorkflowContext]

    # [WorkflowSharedContext]
    async def status(self, ctx: restate.WorkflowSharedContext) -> str | None:
        # Callable while ``run`` runs, and after it has finished.
        return await ctx.get("status", type=str)

    # [/WorkflowSharedContext]

    # [DurablePromise]
    async def confirm(self, ctx: restate.WorkflowSharedContext, code: str) -> bool:
        promise = ctx.promise("confirmed", type=str)
        try:
            await promise.resolve(code)
        except restate.TerminalError:
            return False  # resolved already: a promise is resolved once
        return True

    # [/DurablePromise]


endpoint = restate.Endpoint().bind(
    restate.reflect(Greeter()), restate.reflect(Counter()), restate.reflect(Signup())
)
