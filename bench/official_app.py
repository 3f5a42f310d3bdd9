"""The benchmark services on the official Python SDK (``restate-sdk`` 1.2.0).

Served with ``hypercorn bench.official_app:app --config bench/hypercorn.toml``
(asyncio worker). Same services, names and behaviour as ``bench/trio_app.py``.
"""

import restate

# Invocations of Waiter.wait currently inside the handler (the memory point polls it).
_waiting = 0

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"Hello {name}!"


counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    value = (await ctx.get("count", type_hint=int) or 0) + delta
    ctx.set("count", value)
    return value


async def _greeting(name: str) -> str:
    return f"Hello {name}!"


async def _one() -> int:
    return 1


runner = restate.Service("Runner")


@runner.handler()
async def run1(ctx: restate.Context, name: str) -> str:
    # An async action runs inline; a sync one would go through loop.run_in_executor.
    return await ctx.run_typed("step", _greeting, restate.RunOptions(type_hint=str), name)


@runner.handler()
async def steps10(ctx: restate.Context, name: str) -> int:
    total = 0
    for _ in range(10):
        total += await ctx.run_typed("step", _one, restate.RunOptions(type_hint=int))
    return total


proxy = restate.Service("Proxy")


@proxy.handler(name="greet")
async def proxy_greet(ctx: restate.Context, name: str) -> str:
    return await ctx.service_call(greet, name)


waiter = restate.Service("Waiter")


@waiter.handler()
async def wait(ctx: restate.Context) -> str:
    global _waiting
    _id, future = ctx.awakeable(type_hint=str)
    _waiting += 1
    try:
        return await future
    finally:
        _waiting -= 1


@waiter.handler()
async def waiting(ctx: restate.Context) -> int:
    return _waiting


app = restate.app([greeter, counter, runner, proxy, waiter])
