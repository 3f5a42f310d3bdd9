"""Fan-out / fan-in: start several durable calls at once, combine their results.

Each ``ctx.service_call`` is journaled the moment it is made, so the calls run in parallel in
Restate; the combinators wait for them deterministically (a replay picks the same winners).

Run with ``python -m examples.fanout`` and call
``curl localhost:8080/Quotes/best --json '"widget"'``.
"""

from __future__ import annotations

import contextlib
import zlib
from datetime import timedelta

import trio

import restate_trio as restate


class Supplier:
    """Three suppliers in one service, for the example's sake."""

    async def quote(self, ctx: restate.Context, item: str) -> int:
        # A side effect (e.g. an HTTP request) runs once and its result is journaled.
        return await ctx.run("ask supplier", lookup_price, item)

    async def slow_quote(self, ctx: restate.Context, item: str) -> int:
        await ctx.sleep(timedelta(seconds=5))
        return 1


class Quotes:
    async def best(self, ctx: restate.Context, item: str) -> int:
        """The cheapest of three quotes, plus a slow quote if it arrives within a second."""
        calls = [ctx.service_call(Supplier.quote, item) for _ in range(3)]
        prices = await restate.all_succeeded(*calls)
        slow = ctx.service_call(Supplier.slow_quote, item)
        with contextlib.suppress(restate.DurableTimeoutError):
            prices.append(await restate.with_timeout(slow, timedelta(seconds=1)))
        return min(prices)

    async def fastest(self, ctx: restate.Context, item: str) -> int:
        """Whichever supplier answers first (journal order decides, also on replay)."""
        first = await restate.first_completed(
            ctx.service_call(Supplier.quote, item), ctx.service_call(Supplier.slow_quote, item)
        )
        return await first


def lookup_price(item: str) -> int:
    return 10 + zlib.crc32(item.encode()) % 90  # stands in for a supplier's API


endpoint = restate.Endpoint().bind(restate.reflect(Supplier()), restate.reflect(Quotes()))
app = endpoint.app()

if __name__ == "__main__":
    trio.run(endpoint.serve, "127.0.0.1:9080")
