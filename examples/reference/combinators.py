"""restate_trio.combinators in use: waiting on several durable futures at once.

A ``Quotes`` service asks ``Supplier`` objects (one per supplier name) for prices: "acme",
"globex" and "initech" answer at once, "slowpoke" after two seconds, and "closed" fails.
``tests/e2e/test_reference_handlers.py`` serves it and calls every handler.
"""

from __future__ import annotations

import zlib
from datetime import timedelta

import restate_trio as restate


class Supplier:
    async def quote(self, ctx: restate.ObjectSharedContext, item: str) -> int:
        if ctx.key() == "closed":
            raise restate.TerminalError(f"{ctx.key()} sells no {item}", code=404)
        if ctx.key() == "slowpoke":
            await ctx.sleep(timedelta(seconds=2))
        return price(ctx.key(), item)


def price(supplier: str, item: str) -> int:
    """A supplier's price list, in cents."""
    return 100 + zlib.crc32(f"{supplier}/{item}".encode()) % 900


class Quotes:
    # [all_succeeded]
    async def best(self, ctx: restate.Context, item: str) -> int:
        calls = [ctx.object_call(Supplier.quote, s, item) for s in ("acme", "globex", "initech")]
        # The three calls run at once; one failure would fail the whole wait.
        prices = await restate.all_succeeded(*calls)
        return min(prices)

    # [/all_succeeded]

    # [all_completed]
    async def survey(self, ctx: restate.Context, item: str) -> dict[str, int | str]:
        suppliers = ["acme", "closed"]
        calls = [ctx.object_call(Supplier.quote, s, item) for s in suppliers]
        answers: dict[str, int | str] = {}
        for supplier, done in zip(suppliers, await restate.all_completed(*calls), strict=True):
            try:
                answers[supplier] = await done  # completed: its value, or its failure
            except restate.TerminalError as error:
                answers[supplier] = error.message
        return answers

    # [/all_completed]

    # [first_completed]
    async def fastest(self, ctx: restate.Context, item: str) -> int:
        quick = ctx.object_call(Supplier.quote, "acme", item)
        slow = ctx.object_call(Supplier.quote, "slowpoke", item)
        # Which one won is decided by journal order: a replay picks the same.
        winner = await restate.first_completed(quick, slow)
        return await winner

    # [/first_completed]

    # [first_succeeded]
    async def any_offer(self, ctx: restate.Context, item: str) -> int:
        # A failure does not end the wait; only all of them failing does.
        return await restate.first_succeeded(
            ctx.object_call(Supplier.quote, "closed", item),
            ctx.object_call(Supplier.quote, "globex", item),
        )

    # [/first_succeeded]

    # [as_completed]
    async def in_order(self, ctx: restate.Context, item: str) -> list[int]:
        calls = [ctx.object_call(Supplier.quote, s, item) for s in ("slowpoke", "acme")]
        prices: list[int] = []
        # In completion order, not call order: the slow supplier's price comes last.
        async for done in restate.as_completed(*calls):
            prices.append(await done)
        return prices

    # [/as_completed]

    # [with_timeout]
    async def patient(self, ctx: restate.Context, item: str) -> int | None:
        call = ctx.object_call(Supplier.quote, "slowpoke", item)
        try:
            # The deadline is a journaled timer: a replay decides the same way.
            return await restate.with_timeout(call, timedelta(milliseconds=300))
        except restate.DurableTimeoutError:
            return None

    # [/with_timeout]


endpoint = restate.Endpoint().bind(restate.reflect(Supplier()), restate.reflect(Quotes()))
