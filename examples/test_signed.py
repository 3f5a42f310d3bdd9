"""Testing an endpoint that verifies Restate's request signatures, with restate-trio's pytest
plugin: the module overrides ``restate_server`` with a server that signs its requests, and the
plugin's other fixtures use it. See docs/testing.md.

(This repository's suite runs this file in a fresh pytest session: tests/test_plugin.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import restate_trio as restate
from examples.services import Greeter
from restate_trio.client import Client
from restate_trio.testing import RestateServer, generate_signing_key

PRIVATE_KEY, PUBLIC_KEY = generate_signing_key()


@pytest.fixture(scope="module")
def restate_server(restate_server_binary: Path) -> Iterator[RestateServer]:
    with RestateServer(binary=restate_server_binary, signing_key_pem=PRIVATE_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def restate_endpoint() -> restate.Endpoint:
    # Answers 401 to any request the server's key did not sign.
    return restate.Endpoint(identity_keys=[PUBLIC_KEY]).bind(restate.reflect(Greeter()))


async def test_signed_requests_are_served(restate_client: Client) -> None:
    assert await restate_client.service_call(Greeter.greet, "Ada") == "Hello Ada!"


async def test_unsigned_requests_are_refused(restate_deployment: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{restate_deployment}/discover")
    assert response.status_code == 401
