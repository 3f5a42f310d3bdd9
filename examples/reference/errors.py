"""restate_trio.errors in use: terminal failures, cancellation, durable timeouts, bad classes.

``tests/e2e/test_reference_handlers.py`` serves the services and calls every handler, and
runs :func:`definition_problem`.
"""

from __future__ import annotations

from datetime import timedelta

import restate_trio as restate


# [TerminalError]
class Inventory:
    async def reserve(self, ctx: restate.Context, item: str) -> str:
        if item not in STOCK:
            # Ends the invocation without retries; the caller sees the code and the message.
            raise restate.TerminalError(f"no {item} in stock", code=404)
        return f"reserved {item}"

    async def try_reserve(self, ctx: restate.Context, item: str) -> str:
        try:
            return await ctx.service_call(Inventory.reserve, item)
        except restate.TerminalError as error:  # the callee's failure, as it raised it
            return f"refused ({error.code}): {error.message}"


# [/TerminalError]

STOCK = {"tea", "cups"}


class Payments:
    # [DurableTimeoutError]
    async def charge_within(self, ctx: restate.Context, amount: int) -> str:
        try:
            with restate.fail_after(ctx, timedelta(milliseconds=300)):
                await ctx.sleep(timedelta(seconds=5))  # a step that takes too long
        except restate.DurableTimeoutError as timeout:  # a TerminalError with code 408
            return f"{timeout.code}: {timeout.message}"
        return f"charged {amount} cents"

    # [/DurableTimeoutError]


class Holds:
    """One hold per item (a Virtual Object)."""

    # [Cancelled]
    async def hold(self, ctx: restate.ObjectContext, customer: str) -> str:
        ctx.set("held for", customer)
        try:
            await ctx.sleep(timedelta(days=1))  # or until the invocation is cancelled
        except restate.Cancelled:
            # Not sticky: the compensation is journaled like any other step.
            ctx.clear("held for")
            ctx.set("released", customer)
            raise  # the invocation ends as cancelled (409)
        return f"{ctx.key()} held for {customer}"

    # [/Cancelled]


# [ServiceDefinitionError]
class Broken:
    def greet(self, ctx: restate.Context, name: str) -> str:  # a handler must be async
        return f"Hello {name}!"


def definition_problem() -> str:
    try:
        restate.reflect(Broken())
    except restate.ServiceDefinitionError as error:
        return str(error)  # starts with "Broken.greet:", where the problem is
    return "no problem"


# [/ServiceDefinitionError]


endpoint = restate.Endpoint().bind(
    restate.reflect(Inventory()), restate.reflect(Payments()), restate.reflect(Holds())
)
