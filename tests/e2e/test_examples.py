"""End-to-end: the examples in ``examples/`` against a real restate-server.

* ``examples/fanout.py``: ``Quotes.best`` fans out three calls, then gives a slow supplier one
  (durable) second; ``Quotes.fastest`` races a quick and a slow supplier;
* ``examples/saga.py``: ``Trips.book`` is cancelled while it waits for the payment, and
  compensates the bookings it made, in reverse order, durably;
* ``examples/demo.py``: the demo script's calls all answer 200.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import trio
from primitives_services import DEADLINE, attach, kill_unfinished, ok, poll, send

import restate_trio as restate
from examples import demo, fanout, saga
from restate_trio.testing import RestateServer, serve_endpoint


@pytest.fixture(scope="module", params=["default", "v7-suspending"])
def fanout_server(
    request: pytest.FixtureRequest, restate_server_binary: Path
) -> Iterator[RestateServer]:
    """The module's default server, and a V7 one that suspends at every await (so the
    combinators are replayed from the journal)."""
    if request.param == "default":
        yield request.getfixturevalue("restate_server")
        return
    with RestateServer(
        binary=restate_server_binary, enable_protocol_v7=True, inactivity_timeout=timedelta(0)
    ) as server:
        yield server


@asynccontextmanager
async def serving(endpoint: restate.Endpoint, server: RestateServer) -> AsyncGenerator[str]:
    """Serve ``endpoint``; kill what is still running (a sleeping slow supplier, or the
    leftovers of a failed test) before the endpoint goes away."""
    async with serve_endpoint(endpoint, server) as uri:
        try:
            yield uri
        finally:
            with trio.CancelScope(shield=True):
                await kill_unfinished(server)


async def journal_names(server: RestateServer, invocation_id: str) -> list[tuple[str, str]]:
    """The ``(entry_type, name)`` of each journal entry of an invocation, in order."""
    rows = await server.query(
        f"SELECT index, entry_type, name FROM sys_journal WHERE id = '{invocation_id}' "
        "ORDER BY index"
    )
    return [(str(row["entry_type"]), str(row.get("name") or "")) for row in rows]


# --------------------------------------------------------------------------- fan-out


async def test_fanout_best_is_the_cheapest_quote_and_the_slow_one_times_out(
    fanout_server: RestateServer,
) -> None:
    restate_server = fanout_server
    expected = fanout.lookup_price("widget")
    async with serving(fanout.endpoint, restate_server):
        with trio.fail_after(DEADLINE):
            started = trio.current_time()
            response = await restate_server.ingress("/Quotes/best", "widget")
            elapsed = trio.current_time() - started
    # The three quotes agree; the slow supplier (5 s, answering 1) misses its 1 s deadline,
    # otherwise its 1 would be the minimum.
    assert ok(response) == expected
    assert 1.0 <= elapsed < 5.0, elapsed


async def test_fanout_fastest_returns_the_quick_supplier(fanout_server: RestateServer) -> None:
    restate_server = fanout_server
    async with serving(fanout.endpoint, restate_server):
        with trio.fail_after(DEADLINE):
            started = trio.current_time()
            response = await restate_server.ingress("/Quotes/fastest", "gadget")
            elapsed = trio.current_time() - started
    price = ok(response)
    assert isinstance(price, int)
    assert 10 <= price < 100
    assert price == fanout.lookup_price("gadget")
    assert elapsed < 5.0, elapsed


# --------------------------------------------------------------------------- saga


async def test_cancelled_saga_compensates_in_reverse_order(
    restate_server: RestateServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serving(saga.endpoint, restate_server):
        with trio.fail_after(DEADLINE):
            invocation = await send(restate_server, "/Trips/book", "paris")

            async def payment_requested() -> bool:
                entries = await journal_names(restate_server, invocation)
                completed_runs = sum(kind == "Notification: Run" for kind, _ in entries)
                return ("Command: Run", "request payment") in entries and completed_runs == 3

            # Blocked on the payment awakeable (nobody will resolve it): cancel the trip.
            await poll(payment_requested)
            cancelled = await restate_server.admin_patch(f"/invocations/{invocation}/cancel")
            assert cancelled.ok, (cancelled.status, cancelled.text)
            response = await attach(restate_server, invocation)
            entries = await journal_names(restate_server, invocation)
    assert response.status == 409, (response.status, response.text)
    runs = [name for kind, name in entries if kind == "Command: Run"]
    assert runs == [
        "reserve flight",
        "reserve hotel",
        "request payment",
        "cancel hotel",
        "cancel flight",
    ]
    assert entries[-1][0] == "Command: Output"
    released = [line for line in capsys.readouterr().out.splitlines() if line.startswith("rel")]
    assert released == ["released hotel-paris", "released flight-paris"]


# --------------------------------------------------------------------------- demo script


async def test_demo_script_calls_all_answer_200(
    restate_server: RestateServer, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        with trio.fail_after(DEADLINE):
            await demo._demo(restate_server)  # pyright: ignore[reportPrivateUsage]
    finally:
        with trio.CancelScope(shield=True):
            await kill_unfinished(restate_server)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("endpoint registered at http://127.0.0.1:")
    answers = [line.split(" -> ", 1) for line in lines[1:]]
    assert [(call.split()[1], answer) for call, answer in answers] == [
        ("/Greeter/greet", '200 "Hello Ada!"'),
        ("/Counter/demo/add", "200 5"),
        ("/Counter/demo/add", "200 42"),
        ("/Counter/demo/current", "200 42"),
        ("/Signup/ada@example.com/run", '200 "welcome ada@example.com"'),
        ("/Signup/ada@example.com/status", '200 "done"'),
    ]
