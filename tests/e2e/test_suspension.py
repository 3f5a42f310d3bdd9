"""Suspension over a bidirectional stream: the server's inactivity timeout closes the request
body while the handler is busy; the handler's next durable await must suspend the invocation,
and Restate must resume it with the completion in the journal.

The module's server has a short inactivity timeout (500 ms). The endpoint's ASGI app is wrapped
to tell the test when the runtime ended an invocation's request body, so no sleeps are needed.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta

import pytest
import trio

import restate_trio as restate
from restate_trio.testing import IngressResponse, RestateServer, serve_endpoint

_DEADLINE = 20.0

Scope = MutableMapping[str, object]
Message = MutableMapping[str, object]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@pytest.fixture(scope="module")
def restate_server_options() -> dict[str, object]:
    return {"inactivity_timeout": timedelta(milliseconds=500)}


class Slow:
    def __init__(self) -> None:
        self.gate = trio.Event()
        self.starts = 0

    async def put(self, ctx: restate.ObjectContext, value: str) -> None:
        ctx.set("a", value)

    async def late(self, ctx: restate.ObjectContext) -> str | None:
        self.starts += 1
        await self.gate.wait()  # not durable: the runtime sees no progress meanwhile
        return await ctx.get("a", type=str)


class ObservedEndpoint:
    """An endpoint's ASGI app that records when invocation request bodies end."""

    def __init__(self, endpoint: restate.Endpoint, handler_path: str) -> None:
        self._app = endpoint.app()
        self._handler_path = handler_path
        self.request_ended = trio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not str(scope.get("path")).endswith(self._handler_path):
            await self._app(scope, receive, send)
            return

        async def observed_receive() -> Message:
            message = await receive()
            if message.get("type") == "http.request" and not message.get("more_body", False):
                self.request_ended.set()
            return message

        await self._app(scope, observed_receive, send)


async def test_bidi_suspends_after_inactivity_timeout_and_resumes(
    restate_server: RestateServer,
) -> None:
    slow = Slow()
    endpoint = restate.Endpoint().bind(restate.reflect(slow, enable_lazy_state=True))
    observed = ObservedEndpoint(endpoint, "/invoke/Slow/late")
    key = uuid.uuid4().hex
    result: list[IngressResponse] = []

    async def call_late() -> None:
        result.append(await restate_server.ingress(f"/Slow/{key}/late", b""))

    async with serve_endpoint(observed, restate_server) as uri:
        deployments = (await restate_server.admin_get("/deployments")).json()
        assert isinstance(deployments, dict)
        (ours,) = [d for d in deployments["deployments"] if d["uri"].rstrip("/") == uri]
        assert ours["protocol_type"] == "BidiStream"
        put = await restate_server.ingress(f"/Slow/{key}/put", "1")
        assert put.status == 200, put.text
        with trio.fail_after(_DEADLINE):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call_late)
                # The runtime gives up waiting for progress and ends the request body ...
                await observed.request_ended.wait()
                assert slow.starts == 1
                assert not result
                # ... so the lazy read cannot be answered in this attempt: suspend, resume.
                slow.gate.set()
        response = result[0]
        assert response.status == 200, response.text
        assert response.json() == "1"
        assert response.invocation_id is not None
        rows = await restate_server.query(
            "SELECT entry_type FROM sys_journal "
            f"WHERE id = '{response.invocation_id}' ORDER BY index"
        )
    assert slow.starts == 2
    assert [row["entry_type"] for row in rows] == [
        "Command: Input",
        "Command: GetLazyState",
        "Notification: GetLazyState",
        "Command: Output",
    ]
