"""End to end: ``examples/trip.py`` (a durable nursery, then a durable timeout on a workflow
promise) against restate-server, with the default settings and on V7 with a zero inactivity
timeout (every await suspends, so the nursery and the scope are replayed from the journal).

* approved in time: the itinerary of both concurrent bookings;
* never approved: the durable timeout (shortened to one second here) cancels the wait, the
  bookings are released concurrently, and the trip fails with 408.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import trio
from primitives_services import DEADLINE, attach, kill_unfinished, new_key, ok, poll, send

import restate_trio as restate
from examples import trip
from restate_trio.testing import RestateServer, serve_endpoint

REQUEST = {"traveller": "ada", "flight": "LH123", "hotel": "Ritz"}


@pytest.fixture(scope="module", params=["default", "v7-suspending"])
def server(request: pytest.FixtureRequest, restate_server_binary: Path) -> Iterator[RestateServer]:
    options: dict[str, object] = {}
    if request.param == "v7-suspending":
        options = {"enable_protocol_v7": True, "inactivity_timeout": timedelta(0)}
    with RestateServer(binary=restate_server_binary, **options) as restate_server:  # type: ignore[arg-type]
        yield restate_server


@asynccontextmanager
async def serving(endpoint: restate.Endpoint, server: RestateServer) -> AsyncGenerator[str]:
    async with serve_endpoint(endpoint, server) as uri:
        try:
            yield uri
        finally:
            with trio.CancelScope(shield=True):
                await kill_unfinished(server)


async def run_names(server: RestateServer, invocation_id: str) -> list[str]:
    rows = await server.query(
        f"SELECT index, entry_type, name FROM sys_journal WHERE id = '{invocation_id}' "
        "ORDER BY index"
    )
    return [str(row.get("name")) for row in rows if row["entry_type"] == "Command: Run"]


async def test_approved_trip_returns_the_itinerary(server: RestateServer) -> None:
    key = new_key()
    async with serving(trip.make_endpoint(), server):
        with trio.fail_after(DEADLINE):
            invocation = await send(server, f"/Trip/{key}/run", REQUEST)

            async def awaiting_approval() -> bool:
                response = await server.ingress(f"/Trip/{key}/status", b"")
                return ok(response) == "awaiting approval"

            await poll(awaiting_approval)
            ok(await server.ingress(f"/Trip/{key}/approve", True))
            response = await attach(server, invocation)
            status = ok(await server.ingress(f"/Trip/{key}/status", b""))
            runs = await run_names(server, invocation)
    assert ok(response) == {
        "flight": "confirmed seat LH123 for ada",
        "hotel": "confirmed room Ritz for ada",
    }
    assert status == "booked"
    # The two bookings started in spawn order: each task's first step is journaled first.
    assert runs == ["reserve seat", "reserve room"]


async def test_unapproved_trip_times_out_with_408_and_releases_the_bookings(
    server: RestateServer, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_key()
    async with serving(trip.make_endpoint(approval_timeout=timedelta(seconds=1)), server):
        with trio.fail_after(DEADLINE):
            started = trio.current_time()
            response = await server.ingress(f"/Trip/{key}/run", REQUEST)
            elapsed = trio.current_time() - started
            status = ok(await server.ingress(f"/Trip/{key}/status", b""))
            assert response.invocation_id is not None
            runs = await run_names(server, response.invocation_id)
    assert response.status == 408, (response.status, response.text)
    assert "approval timed out" in response.text
    assert 1.0 <= elapsed < 10.0, elapsed
    assert status == "approval timed out"
    assert runs == ["reserve seat", "reserve room", "release seat", "release room"]
    released = [line for line in capsys.readouterr().out.splitlines() if line.startswith("rel")]
    assert sorted(released) == [
        "released confirmed room Ritz for ada",
        "released confirmed seat LH123 for ada",
    ]
