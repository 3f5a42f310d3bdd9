"""Testing examples/services.py with restate-trio's pytest plugin, as an application would.

With ``pip install 'restate-trio[testing]'`` the plugin is active; the project's pytest
configuration turns on trio mode (``trio_mode = true``). The plugin starts a real
restate-server for the session, serves this module's ``restate_endpoint`` to it and hands
each test a ``restate_client``. See docs/testing.md.

(This repository's suite runs this file in a fresh pytest session, through pytester:
tests/test_plugin.py.)
"""

from __future__ import annotations

import uuid

import pytest

import restate_trio as restate
from examples.services import Counter, Greeter, Signup, endpoint
from restate_trio.client import Client
from restate_trio.testing import RestateServer


@pytest.fixture(scope="module")
def restate_endpoint() -> restate.Endpoint:
    """The endpoint this module's tests call."""
    return endpoint


async def test_greet(restate_client: Client) -> None:
    assert await restate_client.service_call(Greeter.greet, "Ada") == "Hello Ada!"


async def test_counter_starts_from_the_state_set_up(
    restate_client: Client, restate_server: RestateServer
) -> None:
    # The server lives for the whole session: a key of its own keeps the test independent.
    key = f"counter-{uuid.uuid4().hex}"
    await restate_server.set_state("Counter", key, {"count": 40})
    assert await restate_client.object_call(Counter.add, key, 2) == 42
    assert await restate_client.object_call(Counter.current, key) == 42
    assert await restate_server.get_state("Counter", key) == {"count": b"42"}


async def test_signup_workflow(restate_client: Client, restate_server: RestateServer) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    run = await restate_client.workflow_submit(Signup.run, email, email)
    assert await run.attach() == f"welcome {email}"
    assert run.invocation_id is not None
    row = await restate_server.wait_for_invocation_status(run.invocation_id, "completed")
    assert row["target_handler_name"] == "run"
    assert await restate_client.workflow_call(Signup.status, email) == "done"
