"""Durable structured concurrency: book a flight and a hotel at once, then wait for approval.

``Trip`` is a Workflow (one per trip id). Its ``run`` handler books the flight and the hotel
in a durable nursery: both tasks run concurrently and journal their steps in an order that
replays identically. Then it waits for the traveller's approval (the workflow's durable
promise ``approved``, resolved by the ``approve`` handler) inside a durable cancel scope: the
scope's timer is journaled, so when the approval does not come in time the wait is cancelled,
also on every replay. Without approval the bookings are released, again concurrently, and the
trip fails with 408.

Run with ``python -m examples.trip``, register ``http://127.0.0.1:9080`` with Restate, then::

    curl localhost:8080/Trip/t1/run/send \\
        --json '{"traveller": "ada", "flight": "LH123", "hotel": "Ritz"}'
    curl localhost:8080/Trip/t1/approve --json 'true'
    curl localhost:8080/restate/workflow/Trip/t1/attach
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import trio

import restate_trio as restate


@dataclass
class TripRequest:
    traveller: str
    flight: str
    hotel: str


@dataclass
class Itinerary:
    flight: str
    hotel: str


class Airline:
    async def confirm(self, ctx: restate.Context, seat: str) -> str:
        return await ctx.run("confirm seat", confirm_booking, seat)


class Hotels:
    async def confirm(self, ctx: restate.Context, room: str) -> str:
        return await ctx.run("confirm room", confirm_booking, room)


async def book_flight(ctx: restate.Context, req: TripRequest) -> str:
    seat = await ctx.run("reserve seat", reserve, "seat", req.flight, req.traveller)
    await ctx.sleep(timedelta(milliseconds=100))  # the airline holds the seat a moment
    return await ctx.service_call(Airline.confirm, seat)


async def book_hotel(ctx: restate.Context, req: TripRequest) -> str:
    room = await ctx.run("reserve room", reserve, "room", req.hotel, req.traveller)
    return await ctx.service_call(Hotels.confirm, room)


async def undo(ctx: restate.Context, step: str, booking: str) -> None:
    await ctx.run(step, release, booking)


class Trip:
    """A Workflow: ``run`` executes once per trip id; ``approve`` and ``status`` are shared."""

    def __init__(self, approval_timeout: timedelta = timedelta(hours=1)) -> None:
        self.approval_timeout = approval_timeout

    async def run(self, ctx: restate.WorkflowContext, req: TripRequest) -> Itinerary:
        ctx.set("status", "booking")
        # Both bookings at once. (The results go to a list made before the block: a nursery
        # may end its block early without an exception, when its cancel scope is cancelled,
        # so type checkers call names first bound inside it "possibly unbound".)
        bookings: list[restate.TaskResult[str]] = []
        async with restate.open_nursery(ctx) as nursery:
            bookings.append(nursery.start_soon_result(book_flight, ctx, req))
            bookings.append(nursery.start_soon_result(book_hotel, ctx, req))
        flight, hotel = (booking.value for booking in bookings)
        ctx.set("status", "awaiting approval")
        approved = False
        with restate.move_on_after(ctx, self.approval_timeout) as scope:
            approved = await ctx.promise("approved", type=bool).value()
        if not approved:
            async with restate.open_nursery(ctx) as nursery:  # undo both at once
                nursery.start_soon(undo, ctx, "release seat", flight)
                nursery.start_soon(undo, ctx, "release room", hotel)
            if scope.cancelled_caught:
                ctx.set("status", "approval timed out")
                raise restate.TerminalError("approval timed out", code=408)
            ctx.set("status", "declined")
            raise restate.TerminalError("trip declined", code=403)
        ctx.set("status", "booked")
        return Itinerary(flight, hotel)

    async def approve(self, ctx: restate.WorkflowSharedContext, approved: bool) -> None:
        await ctx.promise("approved", type=bool).resolve(approved)

    async def status(self, ctx: restate.WorkflowSharedContext) -> str | None:
        return await ctx.get("status", type=str)


async def reserve(kind: str, item: str, traveller: str) -> str:
    await trio.lowlevel.checkpoint()  # an API call in a real service
    return f"{kind} {item} for {traveller}"


async def confirm_booking(booking: str) -> str:
    await trio.lowlevel.checkpoint()
    return f"confirmed {booking}"


def release(booking: str) -> None:
    print(f"released {booking}")


def make_endpoint(approval_timeout: timedelta = timedelta(hours=1)) -> restate.Endpoint:
    return restate.Endpoint().bind(
        restate.reflect(Airline()),
        restate.reflect(Hotels()),
        restate.reflect(Trip(approval_timeout)),
    )


endpoint = make_endpoint()
app = endpoint.app()

if __name__ == "__main__":
    trio.run(endpoint.serve, "127.0.0.1:9080")
