"""End-to-end cancellation: ``PATCH /invocations/{id}/cancel`` on invocations that are blocked.

The cancelled handler sees a TerminalError with code 409 at the await it is blocked on, may run
compensation (durably: a ``ctx.run`` and state writes), and fails with 409; the cancellation
reaches the calls it is waiting for. Runs on protocol V6 and V7 with a zero inactivity timeout
(every await suspends), like ``test_primitives.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from primitives_services import (
    CANCELLATION_SERVICES,
    DEADLINE,
    SERVER_CONFIGS,
    attach,
    new_key,
    ok,
    send,
    serving,
)

from restate_trio.testing import IngressResponse, RestateServer


@pytest.fixture(scope="module", params=sorted(SERVER_CONFIGS))
def server(request: pytest.FixtureRequest, restate_server_binary: Path) -> Iterator[RestateServer]:
    options = SERVER_CONFIGS[request.param]
    with RestateServer(binary=restate_server_binary, **options) as restate_server:  # type: ignore[arg-type]
        yield restate_server


async def cancel(server: RestateServer, invocation_id: str) -> None:
    response = await server.admin_patch(f"/invocations/{invocation_id}/cancel")
    assert response.ok, (response.status, response.text)


async def test_cancelled_invocation_compensates_and_fails_with_409(
    server: RestateServer,
) -> None:
    key, tag = new_key(), new_key()
    async with serving(server, CANCELLATION_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            invocation = await send(server, f"/Booking/{key}/book", tag)
            await board.wait(("awakeable", tag))
            await server.wait_for_invocation_status(invocation, "suspended")
            await cancel(server, invocation)
            response = await attach(server, invocation)
            status = ok(await server.ingress(f"/Booking/{key}/status", b""))
        assert response.status == 409, (response.status, response.text)
        assert board.counts[("compensate", invocation)] == 1
        assert set(board.log[("cancelled", tag)]) == {409}
    assert status == f"compensated: released reservation-{tag}"


async def test_original_request_sees_409(server: RestateServer) -> None:
    key, tag = new_key(), new_key()
    responses: list[IngressResponse] = []
    async with serving(server, CANCELLATION_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as nursery:

                async def book() -> None:
                    responses.append(await server.ingress(f"/Booking/{key}/book", tag))

                nursery.start_soon(book)
                await board.wait(("awakeable", tag))
                (row,) = await server.query(
                    f"SELECT id FROM sys_invocation WHERE target = 'Booking/{key}/book'"
                )
                invocation = str(row["id"])
                await server.wait_for_invocation_status(invocation, "suspended")
                await cancel(server, invocation)
        assert board.counts[("compensate", invocation)] == 1
    (response,) = responses
    assert response.status == 409, (response.status, response.text)


async def test_cancel_while_blocked_in_a_combinator(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, CANCELLATION_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            started = trio.current_time()
            invocation = await send(server, "/Waiter/combined", tag)
            await board.wait(("awakeable", tag))
            await server.wait_for_invocation_status(invocation, "suspended")
            await cancel(server, invocation)
            response = await attach(server, invocation)
        assert response.status == 409, (response.status, response.text)
        assert trio.current_time() - started < 30  # not after the 60 s timer
        assert set(board.log[("combined saw", tag)]) == {409}
        assert board.counts[("cleanup", tag)] == 1


async def test_cancellation_propagates_to_a_blocked_child_call(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, CANCELLATION_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            parent = await send(server, "/Parent/run", tag)
            await board.wait(("child awakeable", tag))
            child = await board.wait(("child id", tag))
            assert isinstance(child, str)
            await server.wait_for_invocation_status(child, "suspended")
            await server.wait_for_invocation_status(parent, "suspended")
            await cancel(server, parent)
            parent_response = await attach(server, parent)
            child_response = await attach(server, child)
        assert parent_response.status == 409, (parent_response.status, parent_response.text)
        assert child_response.status == 409, (child_response.status, child_response.text)
        assert set(board.log[("child saw", tag)]) == {409}
        assert board.counts[("child comp", tag)] == 1
        assert set(board.log[("parent saw", tag)]) == {409}
        assert board.counts[("parent comp", tag)] == 1


async def test_handler_catching_its_cancellation_carries_on(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, CANCELLATION_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            invocation = await send(server, "/Stubborn/carry_on", tag)
            await board.wait(("first", tag))
            await server.wait_for_invocation_status(invocation, "suspended")
            await cancel(server, invocation)
            # Later awaits (a sleep, a new awakeable) are not cancelled again, in any replay.
            awakeable_id = await board.wait(("second", tag))
            resolved = await server.ingress(f"/restate/awakeables/{awakeable_id}/resolve", "ok")
            assert resolved.ok, resolved.text
            response = await attach(server, invocation)
        assert set(board.log[("caught", tag)]) == {409}
    assert ok(response) == "carried on: ok"
