"""Graceful shutdown: invocations waiting on Restate suspend at once and resume later."""

from __future__ import annotations

import trio

import restate_trio as restate
from restate_trio.testing import RestateServer

AWAKEABLES: list[str] = []
READY = trio.Event()


class Waiter:
    async def wait(self, ctx: restate.Context) -> str:
        awakeable_id, value = ctx.awakeable(type=str)
        AWAKEABLES.append(awakeable_id)
        READY.set()
        return f"got {await value}"


def endpoint() -> restate.Endpoint:
    return restate.Endpoint().bind(restate.reflect(Waiter()))


async def test_waiting_invocations_suspend_on_shutdown(restate_server: RestateServer) -> None:
    server = restate_server
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        first = endpoint()
        urls = await nursery.start(
            lambda task_status: first.serve(
                "127.0.0.1:0", shutdown_trigger=stop.wait, task_status=task_status
            )
        )
        uri = urls[0]
        await server.register(uri)
        sent = await server.ingress("/Waiter/wait/send", b"")
        assert sent.status == 202, sent.text
        invocation_id = sent.invocation_id
        assert invocation_id is not None
        with trio.fail_after(30):
            await READY.wait()
        stop.set()
        # The endpoint stops well within Restate's inactivity timeout (1 min by default):
        # the waiting invocation suspended instead of holding its stream open.
        with trio.fail_after(10):
            while True:
                status = await server.invocation_status(invocation_id)
                if status is not None and status.get("status") == "suspended":
                    break
                await trio.sleep(0.05)  # bounded poll of server-side state (no event exists)
    # Same address again (invocations are pinned to their deployment), then complete it.
    host, port = uri.removeprefix("http://").split(":")
    async with trio.open_nursery() as nursery:
        second = endpoint()
        await nursery.start(
            lambda task_status: second.serve(f"{host}:{port}", task_status=task_status)
        )
        resolved = await server.ingress(f"/restate/awakeables/{AWAKEABLES[-1]}/resolve", "later")
        assert resolved.status in (200, 202), resolved.text
        with trio.fail_after(30):
            result = await server.ingress(
                f"/restate/invocation/{invocation_id}/attach", method="GET"
            )
        assert result.status == 200, result.text
        assert result.json() == "got later"
        nursery.cancel_scope.cancel()
