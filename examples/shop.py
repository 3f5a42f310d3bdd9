"""A small shop: the README's walkthrough.

An ``Inventory`` Virtual Object (stock per item), a ``Pricing`` service that speaks CBOR, and a
``Checkout`` workflow (one per order id) that reserves stock and prices the order. Run it with
``restate-trio dev examples/shop.py:endpoint``; ``examples/test_shop.py`` tests it with the
pytest plugin.
"""

from __future__ import annotations

from dataclasses import dataclass

import restate_trio as restate
from restate_trio.codecs import CborCodec


@dataclass
class Order:
    item: str
    quantity: int


class Inventory:
    """Stock per item: one object per item name."""

    async def restock(self, ctx: restate.ObjectContext, quantity: int) -> int:
        stock = (await ctx.get("stock", type=int) or 0) + quantity
        ctx.set("stock", stock)
        return stock

    async def reserve(self, ctx: restate.ObjectContext, quantity: int) -> bool:
        stock = await ctx.get("stock", type=int) or 0
        if stock < quantity:
            return False
        ctx.set("stock", stock - quantity)
        return True

    async def available(self, ctx: restate.ObjectSharedContext) -> int:
        return await ctx.get("stock", type=int) or 0


@restate.service_codec(CborCodec())
class Pricing:
    """Prices in cents, over CBOR (callers by method reference use it automatically)."""

    async def quote(self, ctx: restate.Context, order: Order) -> int:
        return 250 * order.quantity


class Checkout:
    """One workflow per order id: ``run`` executes once, ``status`` can be asked any time."""

    async def run(self, ctx: restate.WorkflowContext, order: Order) -> str:
        ctx.set("status", "reserving")
        if not await ctx.object_call(Inventory.reserve, order.item, order.quantity):
            ctx.set("status", "out of stock")
            raise restate.TerminalError(f"not enough {order.item} in stock", code=409)
        total = await ctx.service_call(Pricing.quote, order)
        ctx.set("status", "confirmed")
        return f"order {ctx.key()}: {order.quantity} x {order.item}, {total} cents"

    async def status(self, ctx: restate.WorkflowSharedContext) -> str | None:
        return await ctx.get("status", type=str)


endpoint = restate.Endpoint().bind(
    restate.reflect(Inventory()), restate.reflect(Pricing()), restate.reflect(Checkout())
)
