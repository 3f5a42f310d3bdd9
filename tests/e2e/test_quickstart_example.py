"""End to end: ``examples/quickstart.py``, the example on the documentation's front page."""

from __future__ import annotations

import trio
from primitives_services import DEADLINE, ok

from examples import quickstart
from restate_trio.testing import RestateServer, serve_endpoint


async def test_the_greeter_counts_visits_per_name(restate_server: RestateServer) -> None:
    async with serve_endpoint(quickstart.endpoint, restate_server):
        with trio.fail_after(DEADLINE):
            first = await restate_server.ingress("/Greeter/greet", "Ada")
            second = await restate_server.ingress("/Greeter/greet", "Ada")
            other = await restate_server.ingress("/Greeter/greet", "Grace")
    assert ok(first) == "Hello Ada, visit number 1!"
    assert ok(second) == "Hello Ada, visit number 2!"
    assert ok(other) == "Hello Grace, visit number 1!"
