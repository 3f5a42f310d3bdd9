"""The reference's examples of restate_trio.client (examples/reference/client.py), each run
against a real restate-server, with the endpoint it calls served in this process."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
import trio

from examples.reference import client as ref_client
from restate_trio.client import AdminClient
from restate_trio.testing import RestateServer, serve_endpoint

_DEADLINE = 30.0


def _key() -> str:
    return uuid.uuid4().hex


def _unused_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
async def served(restate_server: RestateServer) -> AsyncIterator[RestateServer]:
    """The example's endpoint, registered by the example's own ``register``."""
    async with serve_endpoint(ref_client.endpoint, restate_server, register=False) as uri:
        with trio.fail_after(_DEADLINE):
            deployment = await ref_client.register(restate_server.admin_url, uri)
        assert deployment.id.startswith("dp_"), deployment
        yield restate_server


async def test_calls_state_and_handles(served: RestateServer) -> None:
    ingress, admin = served.ingress_url, served.admin_url
    user = _key()
    with trio.fail_after(_DEADLINE):
        assert await ref_client.read_counter(admin, user) is None
        assert await ref_client.call_handlers(ingress, user) == ("Hello Ada!", 5)
        assert await ref_client.read_counter(admin, user) == 5
        assert await ref_client.add_in_background(ingress, user, _key()) == (6, 6)
        request_id = _key()
        assert await ref_client.add_with_retries(ingress, user, request_id) == 7
        # The same key again: the first call's result, no second add.
        assert await ref_client.add_with_retries(ingress, user, request_id) == 7
        assert await ref_client.read_counter(admin, user) == 7
        greeting = _key()
        assert await ref_client.greet_once(ingress, greeting) == "accepted"
        assert await ref_client.greet_once(ingress, greeting) == "previously_accepted"


async def test_workflows(served: RestateServer) -> None:
    ingress = served.ingress_url
    email = f"{_key()}@example.com"
    with trio.fail_after(_DEADLINE):
        assert await ref_client.welcome_message(ingress, email) is None
        assert await ref_client.sign_up(ingress, email) == f"welcome, {email}"
        assert await ref_client.welcome_message(ingress, email) == f"welcome, {email}"


async def test_admin_descriptions(served: RestateServer) -> None:
    with trio.fail_after(_DEADLINE):
        kind, revision = await ref_client.service_kind(served.admin_url)
        kinds = await ref_client.handler_kinds(served.admin_url)
    assert kind == "VirtualObject"
    assert revision >= 1
    assert kinds == {"run": "Workflow"}


async def test_errors(served: RestateServer) -> None:
    ingress = served.ingress_url
    with trio.fail_after(_DEADLINE):
        assert await ref_client.checked_email(ingress, "ada@example.com") == "ada@example.com"
        refused = await ref_client.checked_email(ingress, "ada")
        assert refused == "not checked (422): 'ada' is not an email address"
        with pytest.raises(ValueError, match=r"^422: 'ada' is not an email address$"):
            await ref_client.validated_email(ingress, "ada")
        assert await ref_client.validated_email(ingress, "a@b") == "a@b"
        assert await ref_client.greet_by_name(ingress, "Greeter") == b'"Hello Ada!"'
        assert await ref_client.greet_by_name(ingress, "NoSuchService") is None
        assert await ref_client.output_status(ingress, "not-an-id") == 400
        assert await ref_client.greet_if_reachable(ingress) == "Hello Ada!"
        unreachable = _unused_url()
        assert await ref_client.greet_if_reachable(unreachable) is None
        # An unreachable endpoint: the server's discovery fails, the admin API says so.
        message = await ref_client.try_to_register(served.admin_url, unreachable)
        not_checked = await ref_client.checked_email(unreachable, "ada@example.com")
    assert message is not None
    assert re.match(rf"HTTP [45]\d\d: .*error when calling '{re.escape(unreachable)}", message), (
        message
    )
    assert not_checked.startswith("not checked (None): "), not_checked


async def test_output_is_not_ready_before_the_invocation_ran(served: RestateServer) -> None:
    with trio.fail_after(_DEADLINE):
        invocation_id, done = await ref_client.schedule_greeting(served.ingress_url)
        async with AdminClient(served.admin_url) as admin:
            rows = await admin.query(
                f"SELECT status FROM sys_invocation WHERE id = '{invocation_id}'"
            )
            await admin.kill_invocation(invocation_id)  # not left scheduled on the server
    assert done is False
    assert rows == [{"status": "scheduled"}]
