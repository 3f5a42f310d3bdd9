"""Invocation retry policy in the manifest: the server applies it."""

from __future__ import annotations

from datetime import timedelta

import trio

import restate_trio as restate
from restate_trio.testing import RestateServer, serve_endpoint

ATTEMPTS: list[int] = []


class Flaky:
    async def go(self, ctx: restate.Context) -> str:
        ATTEMPTS.append(1)
        raise RuntimeError("always")


async def test_retry_policy_kills_after_max_attempts(restate_server: RestateServer) -> None:
    policy = restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=20), max_attempts=3, on_max_attempts="kill"
    )
    definition = restate.reflect(Flaky(), retry_policy=policy)
    async with serve_endpoint(restate.Endpoint().bind(definition), restate_server):
        described = (await restate_server.admin_get("/services/Flaky")).json()
        assert isinstance(described, dict)
        assert described["retry_policy"]["max_attempts"] == 3
        assert described["retry_policy"]["on_max_attempts"] == "Kill"
        with trio.fail_after(30):
            response = await restate_server.ingress("/Flaky/go", b"")
    assert response.status == 500
    assert "RuntimeError: always" in response.text
    assert len(ATTEMPTS) == 3
