"""docs/cli.md's endpoint: a service, a Virtual Object and a CBOR service, to serve with
``restate-trio dev examples/dev_shop.py:endpoint``.

(This repository's suite runs ``restate-trio dev`` on a copy of this file, and edits it to
check the reload: tests/cli/test_dev.py.)
"""

from __future__ import annotations

import restate_trio as restate
from restate_trio.codecs import CborCodec


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"Hello {name}!"


class Counter:
    """A Virtual Object: its total survives reloads (the server keeps it)."""

    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        total = (await ctx.get("total", type=int) or 0) + delta
        ctx.set("total", total)
        return total


@restate.service_codec(CborCodec())
class Pricing:
    """CBOR in and out: its ready-to-paste call sends CBOR."""

    async def quote(self, ctx: restate.Context, quantity: int) -> int:
        return 250 * quantity


endpoint = restate.Endpoint().bind(
    restate.reflect(Greeter()), restate.reflect(Counter()), restate.reflect(Pricing())
)
