"""The benchmark services on restate-trio.

Served with ``hypercorn -k trio bench.trio_app:app --config bench/hypercorn.toml``.
Same services, names and behaviour as ``bench/official_app.py``.
"""

import restate_trio as restate


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"Hello {name}!"


class Counter:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        value = (await ctx.get("count", type=int) or 0) + delta
        ctx.set("count", value)
        return value


endpoint = restate.Endpoint()
endpoint.bind(restate.reflect(Greeter()), restate.reflect(Counter()))
app = endpoint.app()
