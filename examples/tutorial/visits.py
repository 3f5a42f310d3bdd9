"""Tutorial step 2: a Virtual Object, with state per key."""

from __future__ import annotations

import restate_trio as restate


class Visits:
    """One object per visitor name: its state is that visitor's, and its exclusive handlers
    run one at a time, so two visits never read the same count."""

    async def visit(self, ctx: restate.ObjectContext) -> str:
        """Count a visit of the visitor ``ctx.key()``, and greet them."""
        count = (await ctx.get("count", type=int) or 0) + 1
        ctx.set("count", count)
        return f"Hello {ctx.key()}, visit number {count}!"

    async def count(self, ctx: restate.ObjectSharedContext) -> int:
        """How many visits so far (a shared handler: runs alongside ``visit``)."""
        return await ctx.get("count", type=int) or 0
