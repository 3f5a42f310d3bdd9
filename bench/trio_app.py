"""The benchmark services on restate-trio.

Served by ``Endpoint.serve()`` (``bench/trio_serve.py``, side ``restate-trio``: the builtin
server) or with ``hypercorn -k trio bench.trio_app:app --config bench/hypercorn.toml`` (side
``restate-trio-hypercorn``). Same services, names and behaviour as ``bench/official_app.py`` and
``bench/ts/endpoint.cjs``; the workloads that use them are listed in ``bench/README.md``.
"""

import restate_trio as restate

# Invocations of Waiter.wait currently inside the handler (the memory point polls it).
_waiting = 0


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"Hello {name}!"


class Counter:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        value = (await ctx.get("count", type=int) or 0) + delta
        ctx.set("count", value)
        return value


async def _greeting(name: str) -> str:
    return f"Hello {name}!"


async def _one() -> int:
    return 1


class Runner:
    async def run1(self, ctx: restate.Context, name: str) -> str:
        # Async actions run inline in every SDK here (sync ones take a worker thread in both
        # Python SDKs), so the step costs the journal round trip, not a thread hop.
        return await ctx.run("step", _greeting, name)

    async def steps10(self, ctx: restate.Context, name: str) -> int:
        total = 0
        for _ in range(10):
            total += await ctx.run("step", _one)
        return total


class Proxy:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return await ctx.service_call(Greeter.greet, name)


class Waiter:
    async def wait(self, ctx: restate.Context) -> str:
        global _waiting
        _id, future = ctx.awakeable(type=str)
        _waiting += 1
        try:
            return await future
        finally:
            _waiting -= 1

    async def waiting(self, ctx: restate.Context) -> int:
        return _waiting


endpoint = restate.Endpoint()
endpoint.bind(
    restate.reflect(Greeter()),
    restate.reflect(Counter()),
    restate.reflect(Runner()),
    restate.reflect(Proxy()),
    restate.reflect(Waiter()),
)
app = endpoint.app()
