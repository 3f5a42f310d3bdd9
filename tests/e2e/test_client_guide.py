"""End-to-end: docs/client.md's examples (examples/client_usage.py calling the services of
examples/client_shop.py) against a real restate-server, section by section.

One server for the module; each test serves the endpoint and checks what the guide says the
code prints or returns.
"""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator

import pytest
import trio
from primitives_services import kill_unfinished, poll

from examples import client_shop, client_usage
from restate_trio.client import (
    AdminClient,
    Client,
    InvocationFailedError,
    InvocationNotFoundError,
    InvocationNotReadyError,
)
from restate_trio.testing import RestateServer, serve_endpoint


@pytest.fixture
async def client(restate_server: RestateServer) -> AsyncIterator[Client]:
    async with (
        serve_endpoint(client_shop.endpoint, restate_server),
        Client(restate_server.ingress_url) as ingress,
    ):
        try:
            yield ingress
        finally:
            with trio.CancelScope(shield=True):
                await kill_unfinished(restate_server)


async def handed_out(count: int) -> str:
    """The ``count``-th awakeable id Reminders handed out (waiting for it)."""

    async def check() -> str | None:
        return client_shop.OUTBOX[count - 1] if len(client_shop.OUTBOX) >= count else None

    return await poll(check)


async def test_main_calls_by_method_reference(
    client: Client, restate_server: RestateServer, capsys: pytest.CaptureFixture[str]
) -> None:
    await restate_server.set_state("Inventory", "widget", {})  # whatever ran before
    await client_usage.main(restate_server.ingress_url)
    assert capsys.readouterr().out == "10 10 750\n"
    assert await restate_server.get_state("Inventory", "widget") == {"stock": b"10"}


async def test_send_with_an_idempotency_key_then_find_it_again(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await client_usage.restock_later(client) == 5
    sent, again = capsys.readouterr().out.splitlines()
    invocation_id, status = sent.split()
    assert invocation_id.startswith("inv_")
    assert status == "accepted"
    assert again == "True previously_accepted"
    # The second send ran nothing: one restock of 5.
    assert await client.object_call(client_shop.Inventory.available, "gadget") == 5

    await client_usage.find_again(client, invocation_id)
    assert capsys.readouterr().out.splitlines() == ["5"] * 4


async def test_output_of_an_unfinished_invocation_is_not_ready(client: Client) -> None:
    handle = await client.service_send(client_shop.Reminders.wait)
    with pytest.raises(InvocationNotReadyError):
        await handle.output()


async def test_workflow_submit_approve_attach(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    await client_usage.check_out(client)
    assert capsys.readouterr().out.splitlines() == [
        "accepted",
        "widget x2, approved by grace",
        "widget x2, approved by grace",
        "widget x2, approved by grace",
    ]
    run = await client.workflow_submit(
        client_shop.Checkout.run, "order-1", client_shop.Order("widget", 2)
    )
    assert run.status == "previously_accepted"


async def test_resolve_and_reject_awakeables(client: Client) -> None:
    waiting = len(client_shop.OUTBOX) + 1  # counted before the handler can hand one out
    first = await client.service_send(client_shop.Reminders.wait)
    await client_usage.answer(client, await handed_out(waiting), True)
    assert await first.attach() == "yes"

    second = await client.service_send(client_shop.Reminders.wait)
    await client_usage.answer(client, await handed_out(waiting + 1), False)
    with pytest.raises(InvocationFailedError) as failure:
        await second.attach()
    assert (failure.value.code, failure.value.message) == (500, "no way")


async def test_a_terminal_error_is_an_invocation_failed_error(
    client: Client, restate_server: RestateServer, capsys: pytest.CaptureFixture[str]
) -> None:
    await restate_server.set_state("Inventory", "widget", {"stock": 10})
    await client_usage.take(client, 1_000)
    assert capsys.readouterr().out == "409 only 10 left\n"
    assert await restate_server.get_state("Inventory", "widget") == {"stock": b"10"}


async def test_a_cancel_scope_bounds_a_call_and_the_invocation_goes_on(client: Client) -> None:
    waiting = len(client_shop.OUTBOX) + 1
    assert await client_usage.wait_for_reminder(client, seconds=0.5) is None
    # Nobody was waiting any more, but the invocation still asks for its answer.
    awakeable_id = await handed_out(waiting)
    await client_usage.answer(client, awakeable_id, True)

    async def resolve_soon() -> None:
        await client_usage.answer(client, await handed_out(waiting + 1), True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(resolve_soon)
        assert await client_usage.wait_for_reminder(client) == "yes"


async def test_retries_with_a_policy(client: Client, restate_server: RestateServer) -> None:
    await restate_server.set_state("Inventory", "widget", {"stock": 1})
    assert await client_usage.restock_with_retries(restate_server.ingress_url) == 6
    # A repeat with the same idempotency key gets the first result and adds nothing.
    assert await client_usage.restock_with_retries(restate_server.ingress_url) == 6
    assert await client.object_call(client_shop.Inventory.available, "widget") == 6


async def test_admin_register_services_state_and_query(
    restate_server: RestateServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with (
        serve_endpoint(client_shop.endpoint, restate_server, register=False) as deployment_url,
        Client(restate_server.ingress_url) as client,
    ):
        await client_usage.administer(restate_server.admin_url, deployment_url)
        lines = capsys.readouterr().out.splitlines()
        assert await client.object_call(client_shop.Inventory.available, "widget") == 100
    deployment_id, registered = lines[0].split(" ", 1)
    assert deployment_id.startswith("dp_")
    assert sorted(ast.literal_eval(registered)) == ["Checkout", "Inventory", "Pricing", "Reminders"]
    services = {
        name: (kind, sorted(ast.literal_eval(handlers)))
        for name, kind, handlers in (line.split(" ", 2) for line in lines[1:5])
    }
    assert services == {
        "Checkout": ("Workflow", ["approve", "run"]),
        "Inventory": ("VirtualObject", ["add", "available"]),
        "Pricing": ("Service", ["quote"]),
        "Reminders": ("Service", ["wait"]),
    }
    assert lines[5] == "{'stock': b'100'}"
    # The invocations of the tests before this one.
    assert any(line.startswith("inv_") and line.endswith(" completed") for line in lines)


@pytest.mark.parametrize("at_once", [False, True])
async def test_cancel_or_kill_an_invocation(
    client: Client, restate_server: RestateServer, at_once: bool
) -> None:
    waiting = len(client_shop.OUTBOX) + 1
    handle = await client.service_send(client_shop.Reminders.wait)
    await handed_out(waiting)
    async with AdminClient(restate_server.admin_url) as admin:
        await client_usage.stop(admin, handle.invocation_id, at_once=at_once)
        with pytest.raises(InvocationFailedError) as failure:
            await handle.attach()
        assert failure.value.code == 409
        await admin.purge_invocation(handle.invocation_id)
    with pytest.raises(InvocationNotFoundError):
        await handle.output()
