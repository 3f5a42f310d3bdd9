"""The benchmark services on the official Python SDK (``restate-sdk`` 1.2.0).

Served with ``hypercorn bench.official_app:app --config bench/hypercorn.toml``
(asyncio worker). Same services, names and behaviour as ``bench/trio_app.py``.
"""

import restate

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


app = restate.app([greeter, counter])
