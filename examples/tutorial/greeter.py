"""Tutorial step 1: a stateless service."""

from __future__ import annotations

import restate_trio as restate


class Greeter:
    """A Service: any number of invocations at once, no state."""

    async def greet(self, ctx: restate.Context, name: str) -> str:
        """Greet ``name``."""
        return f"Hello {name}!"
