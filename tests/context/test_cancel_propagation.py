"""Restate's cancel signal, driven by scripted frames: it is propagated to the calls the
invocation made, then raised as :class:`restate_trio.Cancelled` where the handler awaits."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from trio.testing import MockClock

import restate_trio as restate
from restate_trio._protocol import messages as m
from tests.context.driver import drive
from tests.protocol.transcripts import call_completion, call_invocation_id, cancel_signal, failure

CANCELLED = failure(409, "cancelled")

CHARGE = m.CallCommandMessage(
    service_name="Payments",
    handler_name="charge",
    parameter=b"1",
    invocation_id_notification_idx=1,
    result_completion_id=2,
)
RESERVE = m.CallCommandMessage(
    service_name="Stock",
    handler_name="reserve",
    parameter=b"2",
    invocation_id_notification_idx=3,
    result_completion_id=4,
)
REFUND = m.OneWayCallCommandMessage(
    service_name="Payments", handler_name="refund", parameter=b"1", invocation_id_notification_idx=5
)


def cancel_of(invocation_id: str) -> m.SendSignalCommandMessage:
    """The CANCEL signal (index 1) sent to a child invocation."""
    return m.SendSignalCommandMessage(target_invocation_id=invocation_id, idx=1, void=m.Void())


class Order:
    def __init__(self) -> None:
        self.seen: list[BaseException] = []

    async def place(self, ctx: restate.Context) -> None:
        charge = ctx.generic_call("Payments", "charge", b"1")
        ctx.generic_call("Stock", "reserve", b"2")
        try:
            await charge
        except restate.Cancelled as exc:
            self.seen.append(exc)
            ctx.generic_send("Payments", "refund", b"1")  # a compensation, journaled after
            raise

    async def carry_on(self, ctx: restate.Context) -> str:
        """Cancelled is not sticky: once caught, durable awaits work again."""
        charge = ctx.generic_call("Payments", "charge", b"1")
        reserve = ctx.generic_call("Stock", "reserve", b"2")
        try:
            await charge
        except restate.Cancelled as exc:
            self.seen.append(exc)
        return (await reserve).decode()

    async def nap(self, ctx: restate.Context) -> None:
        await ctx.sleep(timedelta(hours=1))


async def cancel_place(service: object, version: int) -> None:
    """Both calls of ``place`` have their invocation ids when Restate cancels: each child
    invocation is cancelled, then the compensation, then the invocation ends as cancelled."""
    async with drive(service, "place", version=version) as d:
        d.start()
        assert await d.output() == [CHARGE, RESERVE]
        d.feed(call_invocation_id(1, "inv_charge"), call_invocation_id(3, "inv_stock"))
        assert await d.output() == []
        d.feed(cancel_signal())
        assert await d.finish() == [
            cancel_of("inv_charge"),
            cancel_of("inv_stock"),
            REFUND,
            m.OutputCommandMessage(failure=CANCELLED),
            m.EndMessage(),
        ]


@pytest.mark.parametrize("version", [6, 7])
async def test_cancel_propagates_to_child_calls_then_raises_cancelled(
    autojump_clock: MockClock, version: int
) -> None:
    order = Order()
    await cancel_place(order, version)
    [exc] = order.seen
    assert type(exc) is restate.Cancelled
    assert isinstance(exc, restate.TerminalError)
    assert exc.code == 409


async def test_cancel_waits_for_the_child_invocation_ids(autojump_clock: MockClock) -> None:
    order = Order()
    async with drive(order, "place") as d:
        d.start()
        assert await d.output() == [CHARGE, RESERVE]
        d.feed(cancel_signal(), call_invocation_id(1, "inv_charge"))
        assert await d.output() == []  # the second call's id is not known yet
        assert order.seen == []
        d.feed(call_invocation_id(3, "inv_stock"))
        assert await d.finish() == [
            cancel_of("inv_charge"),
            cancel_of("inv_stock"),
            REFUND,
            m.OutputCommandMessage(failure=CANCELLED),
            m.EndMessage(),
        ]


async def test_cancel_suspends_until_the_child_invocation_ids_arrive(
    autojump_clock: MockClock,
) -> None:
    async with drive(Order(), "place", version=7) as d:
        d.start([cancel_signal()], eof=True)
        assert await d.finish() == [
            CHARGE,
            RESERVE,
            m.SuspensionMessage(
                awaiting_on=m.Future(
                    combinator_type=m.CombinatorType.ALL_COMPLETED, waiting_completions=[1, 3]
                )
            ),
        ]


async def test_a_cancelled_invocation_carries_on_once_the_handler_caught_it(
    autojump_clock: MockClock,
) -> None:
    order = Order()
    async with drive(order, "carry_on") as d:
        d.start()
        assert await d.output() == [CHARGE, RESERVE]
        d.feed(call_invocation_id(1, "inv_charge"), call_invocation_id(3, "inv_stock"))
        d.feed(cancel_signal())
        assert await d.output() == [cancel_of("inv_charge"), cancel_of("inv_stock")]
        assert len(order.seen) == 1
        d.feed(call_completion(4, b"reserved anyway"))
        assert await d.finish() == [
            m.OutputCommandMessage(value=m.Value(content=b'"reserved anyway"')),
            m.EndMessage(),
        ]


@pytest.mark.parametrize("version", [5, 6, 7])
async def test_cancel_without_child_calls_ends_the_invocation_as_cancelled(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    monkeypatch.setattr(time, "time", lambda: 100.0)
    async with drive(Order(), "nap", version=version) as d:
        d.start()
        assert await d.output() == [
            m.SleepCommandMessage(wake_up_time=100_000 + 3_600_000, result_completion_id=1)
        ]
        d.feed(cancel_signal())
        assert await d.finish() == [m.OutputCommandMessage(failure=CANCELLED), m.EndMessage()]


async def test_a_journaled_cancellation_replays_without_writing_anything_again(
    autojump_clock: MockClock,
) -> None:
    journal = [
        CHARGE,
        RESERVE,
        call_invocation_id(1, "inv_charge"),
        call_invocation_id(3, "inv_stock"),
        cancel_signal(),
        cancel_of("inv_charge"),
        cancel_of("inv_stock"),
        REFUND,
    ]
    order = Order()
    async with drive(order, "place") as d:
        d.start(journal, eof=True)
        assert await d.finish() == [m.OutputCommandMessage(failure=CANCELLED), m.EndMessage()]
    assert len(order.seen) == 1


class Split:
    """The calls of Order.place, made by two durable tasks."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def place(self, ctx: restate.Context) -> None:
        async def call(service: str, handler: str, arg: bytes) -> None:
            try:
                await ctx.generic_call(service, handler, arg)
            except restate.Cancelled:
                self.seen.append(service)
                raise

        try:
            async with restate.open_nursery(ctx) as nursery:
                nursery.start_soon(call, "Payments", "charge", b"1")
                nursery.start_soon(call, "Stock", "reserve", b"2")
        except BaseExceptionGroup as group:
            if group.split(restate.Cancelled)[1] is not None:
                raise
            ctx.generic_send("Payments", "refund", b"1")
            raise restate.Cancelled() from None


@pytest.mark.parametrize("version", [6, 7])
async def test_cancel_in_durable_tasks_propagates_once_then_reaches_each_task(
    autojump_clock: MockClock, version: int
) -> None:
    split = Split()
    await cancel_place(split, version)
    assert split.seen == ["Payments", "Stock"]
