"""The front page's example: a service and a Virtual Object, served on port 9080.

Run it with ``restate-trio dev examples.quickstart:endpoint`` (a local Restate, the endpoint
served and registered), or serve it with ``python -m examples.quickstart`` and register
``http://127.0.0.1:9080`` with your Restate (``restate-trio register http://127.0.0.1:9080``);
then call ``curl localhost:8080/Greeter/greet --json '"Ada"'``.
"""

import trio

import restate_trio as restate


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        # A durable call: on a retry after a crash, the journal answers it (no second add).
        count = await ctx.object_call(Visits.add, name, 1)
        return f"Hello {name}, visit number {count}!"


class Visits:
    """A Virtual Object: one state, and one call at a time, per key."""

    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        total = (await ctx.get("total", type=int) or 0) + delta
        ctx.set("total", total)
        return total


endpoint = restate.Endpoint().bind(restate.reflect(Greeter()), restate.reflect(Visits()))

if __name__ == "__main__":
    trio.run(endpoint.serve, "127.0.0.1:9080")
