"""The services that docs/client.md calls from outside: an ``Inventory`` Virtual Object, a
``Pricing`` service that speaks CBOR, a ``Checkout`` workflow that waits for an approval, and
``Reminders``, whose handler waits on an awakeable. ``examples/client_usage.py`` calls them.
"""

from __future__ import annotations

import dataclasses

import restate_trio as restate
from restate_trio.codecs import CborCodec

# Where Reminders hands out its awakeable ids; a real service would mail or queue them.
OUTBOX: list[str] = []


@dataclasses.dataclass
class Order:
    item: str
    quantity: int


class Inventory:
    async def add(self, ctx: restate.ObjectContext, count: int) -> int:
        stock = await ctx.get("stock", type=int) or 0
        if stock + count < 0:
            raise restate.TerminalError(f"only {stock} left", code=409)
        ctx.set("stock", stock + count)
        return stock + count

    async def available(self, ctx: restate.ObjectSharedContext) -> int:
        return await ctx.get("stock", type=int) or 0


@restate.service_codec(CborCodec())
class Pricing:
    async def quote(self, ctx: restate.Context, order: Order) -> int:
        return 250 * order.quantity


class Checkout:
    async def run(self, ctx: restate.WorkflowContext, order: Order) -> str:
        approver = await ctx.promise("approval", type=str).value()
        return f"{order.item} x{order.quantity}, approved by {approver}"

    async def approve(self, ctx: restate.WorkflowSharedContext, approver: str) -> None:
        await ctx.promise("approval", type=str).resolve(approver)


def hand_out(awakeable_id: str) -> None:
    OUTBOX.append(awakeable_id)


class Reminders:
    async def wait(self, ctx: restate.Context) -> str:
        awakeable_id, answer = ctx.awakeable(type=str)
        await ctx.run("hand out", hand_out, awakeable_id)
        return await answer


endpoint = restate.Endpoint().bind(
    restate.reflect(Inventory()),
    restate.reflect(Pricing()),
    restate.reflect(Checkout()),
    restate.reflect(Reminders()),
)
