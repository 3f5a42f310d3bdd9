"""Attach to a workflow by key and to an invocation by idempotency key, typed by reference."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import trio
from attach_services import RUNS, endpoint

from restate_trio.testing import RestateServer, serve_endpoint


@pytest.fixture(scope="module", params=["v6", "v7"])
def server(request: pytest.FixtureRequest) -> object:
    # Every await suspends (inactivity timeout 0), so attaching survives a replay.
    with RestateServer(
        enable_protocol_v7=request.param == "v7", inactivity_timeout=timedelta(0)
    ) as started:
        yield started


#: A fresh token per test: the module's two servers share ``RUNS``, and ``id(server)`` can repeat
#: once the first server is freed (the second one is often allocated at the same address).
_TOKENS = itertools.count(1)


async def test_attach_workflow_by_key(server: RestateServer) -> None:
    email = f"ada-{next(_TOKENS)}@example.com"
    async with serve_endpoint(endpoint(), server):
        with trio.fail_after(30):
            response = await server.ingress("/Front/signup", email)
    assert response.status == 200, response.text
    assert response.json() == f"{email}#1"
    assert RUNS[email] == 1


async def test_attach_by_idempotency_key(server: RestateServer) -> None:
    amount = 1000 + next(_TOKENS)
    async with serve_endpoint(endpoint(), server):
        with trio.fail_after(30):
            response = await server.ingress("/Front/pay", amount)
    assert response.status == 200, response.text
    assert response.json() == [f"charged {amount}"] * 2
    assert RUNS[f"charge-{amount}"] == 1  # the second send was deduplicated
