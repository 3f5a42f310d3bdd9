"""Testing examples/fanout.py in replay mode, with restate-trio's pytest plugin: the module's
marker asks for a server that suspends every invocation at each await and replays its handler
from the journal, and that does not retry a failed attempt. A handler that is not
deterministic fails here at once. See docs/testing.md.

(This repository's suite runs this file in a fresh pytest session: tests/test_plugin.py.)
"""

from __future__ import annotations

import pytest

import restate_trio as restate
from examples.fanout import Quotes, endpoint, lookup_price
from restate_trio.client import Client

pytestmark = pytest.mark.restate(always_replay=True, disable_retries=True)


@pytest.fixture(scope="module")
def restate_endpoint() -> restate.Endpoint:
    return endpoint


async def test_best_quote_under_replay(restate_client: Client) -> None:
    # The three quick quotes agree; the slow supplier's 1 comes too late to count.
    assert await restate_client.service_call(Quotes.best, "widget") == lookup_price("widget")


async def test_fastest_quote_under_replay(restate_client: Client) -> None:
    assert await restate_client.service_call(Quotes.fastest, "gadget") == lookup_price("gadget")
