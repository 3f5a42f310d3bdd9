"""restate_trio.concurrency in use: durable nurseries and durable cancel scopes.

A ``Dispatch`` service that packs, books, polls and waits for a ``Courier`` service, always
under a durable deadline. ``tests/e2e/test_reference_handlers.py`` serves it and calls every
handler.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import trio

import restate_trio as restate
from restate_trio.concurrency import TaskResult


@dataclass
class Delivery:
    address: str
    by: datetime  # JSON: an ISO 8601 string with its time zone


class Courier:
    """A slow service, for the deadlines below: only "next door" is delivered at once."""

    async def deliver(self, ctx: restate.Context, address: str) -> str:
        if address != "next door":
            await ctx.sleep(timedelta(seconds=2))
        return f"delivered to {address}"


class Dispatch:
    # [open_nursery]
    async def ship(self, ctx: restate.Context, items: list[str]) -> int:
        async with restate.open_nursery(ctx) as nursery:
            for item in items:
                # A durable task may use ctx: its steps are journaled in a fixed order.
                nursery.start_soon(pack, ctx, item)
        # The block ends once every task has.
        return len(items)

    # [/open_nursery]

    # [TaskResult]
    async def book(self, ctx: restate.Context, trip: str) -> list[str]:
        bookings: list[TaskResult[str]] = []
        async with restate.open_nursery(ctx) as nursery:
            for kind in ("flight", "hotel"):
                bookings.append(nursery.start_soon_result(reserve, ctx, kind, trip))
        # Every task has returned once the block is over: read the values.
        return [booking.value for booking in bookings]

    # [/TaskResult]

    # [DurableNursery]
    async def first_answer(self, ctx: restate.Context, question: str) -> str:
        answers: list[str] = []
        async with restate.open_nursery(ctx) as nursery:

            async def ask(oracle: str) -> None:
                answers.append(await ctx.run(f"ask {oracle}", consult, oracle, question))
                nursery.cancel_scope.cancel()  # one answer is enough: stop the others

            nursery.start_soon(ask, "slow oracle")
            nursery.start_soon(ask, "quick oracle")
        return answers[0]

    # [/DurableNursery]

    # [DurableCancelScope]
    async def await_job(self, ctx: restate.Context, job: str) -> str:
        with restate.move_on_after(ctx, timedelta(seconds=10)) as scope:
            while True:
                if await ctx.run("check the job", job_done, job):
                    scope.cancel()  # done: leave the block now
                await ctx.sleep(timedelta(milliseconds=50))
        # timed_out tells the journaled timer apart from an explicit cancel().
        return f"{job} timed out" if scope.timed_out else f"{job} done"

    # [/DurableCancelScope]

    # [move_on_after]
    async def try_deliver(self, ctx: restate.Context, address: str) -> str:
        with restate.move_on_after(ctx, timedelta(milliseconds=300)):
            return await ctx.service_call(Courier.deliver, address)
        # The call goes on in Restate: this invocation only stopped waiting for it.
        return "the courier is late"

    # [/move_on_after]

    # [move_on_at]
    async def deliver_by(self, ctx: restate.Context, order: Delivery) -> str:
        with restate.move_on_at(ctx, order.by):
            return await ctx.service_call(Courier.deliver, order.address)
        return f"not delivered by {order.by:%H:%M:%S}"

    # [/move_on_at]

    # [fail_after]
    async def deliver_or_fail(self, ctx: restate.Context, address: str) -> None:
        # Past the deadline the block raises DurableTimeoutError: the invocation fails (408).
        with restate.fail_after(ctx, timedelta(milliseconds=300)):
            await ctx.service_call(Courier.deliver, address)

    # [/fail_after]

    # [fail_at]
    async def deliver_by_or_fail(self, ctx: restate.Context, order: Delivery) -> None:
        # The caller's deadline: past it, DurableTimeoutError fails the invocation (408).
        with restate.fail_at(ctx, order.by):
            await ctx.service_call(Courier.deliver, order.address)

    # [/fail_at]


async def pack(ctx: restate.Context, item: str) -> None:
    label = await ctx.run(f"label {item}", print_label, item)
    ctx.logger.info("packed %s with %s", item, label)


async def print_label(item: str) -> str:
    await trio.lowlevel.checkpoint()  # a printer's API in a real service
    return f"label-{item}"


async def reserve(ctx: restate.Context, kind: str, trip: str) -> str:
    return await ctx.run(f"reserve {kind}", make_reservation, kind, trip)


async def make_reservation(kind: str, trip: str) -> str:
    await trio.lowlevel.checkpoint()  # a booking API in a real service
    return f"{kind} for {trip}"


async def consult(oracle: str, question: str) -> str:
    if oracle == "slow oracle":
        await trio.sleep(60)  # cancelled when the quick one has answered
    return f"{oracle}: yes, {question}"


# A stand-in for a job queue: how many checks each job needs before it is done.
CHECKS = Counter[str]()


def job_done(job: str) -> bool:
    CHECKS[job] += 1
    return CHECKS[job] >= 3


endpoint = restate.Endpoint().bind(restate.reflect(Dispatch()), restate.reflect(Courier()))
