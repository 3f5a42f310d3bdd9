"""Tests of examples/shop.py with restate-trio's pytest plugin: the README walkthrough's tests.

``pip install 'restate-trio[testing]'`` activates the plugin; ``trio_mode = true`` in the
project's pytest configuration runs the ``async`` tests under trio. The plugin starts a real
restate-server for the session, serves ``restate_endpoint`` for this module and gives each test
a ``restate_client`` (a :class:`restate_trio.client.Client` on the server's ingress).

(This repository's suite runs this file in a fresh pytest session: tests/test_plugin.py.)
"""

from __future__ import annotations

import uuid

import pytest

import restate_trio as restate
from examples.shop import Checkout, Inventory, Order, Pricing, endpoint
from restate_trio.client import Client, InvocationFailedError
from restate_trio.testing import RestateServer


@pytest.fixture(scope="module")
def restate_endpoint() -> restate.Endpoint:
    return endpoint


def fresh(prefix: str) -> str:
    """A key of this test's own: the server, and its state, live for the whole session."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_pricing_speaks_cbor(restate_client: Client) -> None:
    # The client encodes the Order with the service's CBOR codec and decodes the answer.
    assert await restate_client.service_call(Pricing.quote, Order("widget", 4)) == 1000


async def test_checkout_reserves_stock(
    restate_client: Client, restate_server: RestateServer
) -> None:
    item, order_id = fresh("widget"), fresh("order")
    await restate_server.set_state("Inventory", item, {"stock": 5})  # test setup
    run = await restate_client.workflow_submit(Checkout.run, order_id, Order(item, 3))
    assert await run.attach() == f"order {order_id}: 3 x {item}, 750 cents"
    assert await restate_client.object_call(Inventory.available, item) == 2
    assert await restate_client.workflow_call(Checkout.status, order_id) == "confirmed"


async def test_checkout_without_stock_fails_terminally(restate_client: Client) -> None:
    item, order_id = fresh("gadget"), fresh("order")
    await restate_client.object_call(Inventory.restock, item, 1)
    with pytest.raises(InvocationFailedError, match="not enough") as failure:
        await restate_client.workflow_call(Checkout.run, order_id, Order(item, 2))
    assert failure.value.code == 409
    assert await restate_client.workflow_call(Checkout.status, order_id) == "out of stock"
