"""Services for tests/e2e/test_client.py (module level: calls by reference find them here).

Handlers that wait for the outside world publish their awakeable ids in ``AWAKEABLES`` and set
an event in ``PUBLISHED``, so that a test waits for the id instead of sleeping.
"""

from __future__ import annotations

import dataclasses

import trio

import restate_trio as restate
from restate_trio.codecs import CborCodec

RUNS: dict[str, int] = {}
AWAKEABLES: dict[str, str] = {}
PUBLISHED: dict[str, trio.Event] = {}


def published(name: str) -> trio.Event:
    """The event set once the awakeable called ``name`` has an id in ``AWAKEABLES``."""
    return PUBLISHED.setdefault(name, trio.Event())


def _count(key: str) -> int:
    RUNS[key] = RUNS.get(key, 0) + 1
    return RUNS[key]


@dataclasses.dataclass
class Order:
    item: str
    quantity: int


@dataclasses.dataclass
class Receipt:
    order: Order
    approved_by: str


@dataclasses.dataclass
class Quote:
    item: str
    cents: int
    raw: bytes  # CBOR carries bytes natively; JSON would refuse them


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"Hello {name}!"

    async def ping(self, ctx: restate.Context) -> int:
        return 7

    async def nothing(self, ctx: restate.Context, tag: str) -> None:
        _count(f"nothing-{tag}")

    async def counted(self, ctx: restate.Context, tag: str) -> str:
        return f"{tag}#{_count(f'counted-{tag}')}"

    async def fail(self, ctx: restate.Context, code: int) -> str:
        raise restate.TerminalError(f"failed with {code}", code, {"why": "asked to"})

    async def header(self, ctx: restate.Context, name: str) -> str | None:
        return ctx.request().headers.get(name)

    async def wait_for(self, ctx: restate.Context, name: str) -> str:
        awakeable_id, value = ctx.awakeable(type=str)
        AWAKEABLES[name] = awakeable_id
        published(name).set()
        return f"{name}: {await value}"


@restate.service_codec(CborCodec())
class Pricing:
    async def quote(self, ctx: restate.Context, order: Order) -> Quote:
        return Quote(order.item, 250 * order.quantity, order.item.encode()[::-1])

    async def seen_content_type(self, ctx: restate.Context, order: Order) -> str:
        return ctx.request().headers.get("content-type", "") + "|" + order.item


class Counter:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        value = (await ctx.get("count", type=int) or 0) + delta
        ctx.set("count", value)
        return value

    async def current(self, ctx: restate.ObjectSharedContext) -> int:
        return await ctx.get("count", type=int) or 0


class Checkout:
    async def run(self, ctx: restate.WorkflowContext, order: Order) -> Receipt:
        _count(f"checkout-{ctx.key()}")
        approver = await ctx.promise("approval", type=str).value()
        return Receipt(order, approver)

    async def approve(self, ctx: restate.WorkflowSharedContext, approver: str) -> None:
        await ctx.promise("approval", type=str).resolve(approver)


def endpoint() -> restate.Endpoint:
    return restate.Endpoint().bind(
        restate.reflect(Greeter()),
        restate.reflect(Pricing()),
        restate.reflect(Counter()),
        restate.reflect(Checkout()),
    )
