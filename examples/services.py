"""The three service kinds from Restate's "Services" page, as plain trio-friendly classes.

Serve them with ``hypercorn -k trio examples.services:app --bind 127.0.0.1:9080`` or
``python -m examples.services``, then register ``http://127.0.0.1:9080`` with Restate.
"""

from __future__ import annotations

import trio

import restate_trio as restate


class Greeter:
    """A stateless service."""

    async def greet(self, ctx: restate.Context, name: str) -> str:
        """Greets a person by name."""
        return f"Hello {name}!"


class Counter:
    """A Virtual Object: one counter per key."""

    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        """Adds ``delta`` and returns the new value; one call at a time per key."""
        value = (await ctx.get("count", type=int) or 0) + delta
        ctx.set("count", value)
        return value

    async def current(self, ctx: restate.ObjectSharedContext) -> int:
        """Reads the value; runs concurrently with ``add``."""
        return await ctx.get("count", type=int) or 0


class Signup:
    """A Workflow: ``run`` executes once per workflow key."""

    async def run(self, ctx: restate.WorkflowContext, email: str) -> str:
        ctx.set("status", "done")
        return f"welcome {email}"

    async def status(self, ctx: restate.WorkflowSharedContext) -> str | None:
        return await ctx.get("status", type=str)


endpoint = restate.Endpoint()
endpoint.bind(restate.reflect(Greeter()), restate.reflect(Counter()), restate.reflect(Signup()))
app = endpoint.app()

if __name__ == "__main__":
    trio.run(endpoint.serve, "127.0.0.1:9080")
