"""A saga: book a trip step by step; undo the completed steps if it fails or is cancelled.

Cancelling the invocation (``restate invocations cancel <id>``, or the admin API) surfaces as
:class:`restate_trio.Cancelled` (a TerminalError with code 409) at the current durable await.
Cancellation is not sticky, so the compensations after it are journaled and run durably, exactly
once.
"""

from __future__ import annotations

import trio

import restate_trio as restate


class Trips:
    async def book(self, ctx: restate.Context, trip: str) -> str:
        compensations: list[tuple[str, str]] = []
        try:
            flight = await ctx.run("reserve flight", reserve, "flight", trip)
            compensations.append(("cancel flight", flight))
            hotel = await ctx.run("reserve hotel", reserve, "hotel", trip)
            compensations.append(("cancel hotel", hotel))
            # Wait for the payment provider to confirm; a cancel arriving now stops the saga.
            payment_id, confirmed = ctx.awakeable(type=bool)
            await ctx.run("request payment", request_payment, payment_id, trip)
            if not await confirmed:
                raise restate.TerminalError("payment declined", code=402)
            return f"booked {flight} and {hotel}"
        except restate.TerminalError:
            for step, booking in reversed(compensations):
                await ctx.run(step, release, booking)
            raise


async def reserve(kind: str, trip: str) -> str:
    await trio.lowlevel.checkpoint()  # an API call in a real service
    return f"{kind}-{trip}"


async def request_payment(payment_id: str, trip: str) -> None:
    # Hand `payment_id` to the payment provider; it completes the awakeable through
    # POST /restate/awakeables/{payment_id}/resolve with true or false.
    await trio.lowlevel.checkpoint()


def release(booking: str) -> None:
    print(f"released {booking}")


endpoint = restate.Endpoint().bind(restate.reflect(Trips()))
app = endpoint.app()

if __name__ == "__main__":
    trio.run(endpoint.serve, "127.0.0.1:9080")
