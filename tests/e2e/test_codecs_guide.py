"""End-to-end: docs/howto/codecs.md's example (examples/telemetry.py) against a real
restate-server: the service's CBOR, the raw-bytes state entry, the handler that answers JSON,
and the ingress refusing a payload of the wrong content type."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import cbor2
import orjson
import pytest
from primitives_services import kill_unfinished

from examples.telemetry import Reading, Summary, Telemetry, endpoint
from restate_trio.client import Client, IngressError
from restate_trio.testing import RestateServer, serve_endpoint


@pytest.fixture
async def client(restate_server: RestateServer) -> AsyncIterator[Client]:
    async with (
        serve_endpoint(endpoint, restate_server),
        Client(restate_server.ingress_url) as ingress,
    ):
        try:
            yield ingress
        finally:
            await kill_unfinished(restate_server)


async def test_cbor_state_raw_bytes_and_a_json_answer(
    client: Client, restate_server: RestateServer
) -> None:
    probe = uuid.uuid4().hex
    # The client sends the callee's codec: the reading goes as CBOR.
    assert await client.object_call(Telemetry.record, probe, Reading(1, 20.5)) == 1
    assert await client.object_call(Telemetry.record, probe, Reading(2, 21.0)) == 2

    state = await restate_server.get_state("Telemetry", probe)
    assert cbor2.loads(state["count"]) == 2
    assert cbor2.loads(state["last"]) == {"seq": 2, "celsius": 21.0}
    assert state["raw"] == b"21.0C"

    raw = await client.generic_call("Telemetry", "summary", b"", key=probe, content_type=None)
    assert orjson.loads(raw) == {"last": {"celsius": 21.0, "seq": 2}, "readings": 2}
    assert await client.object_call(Telemetry.summary, probe) == Summary(2, Reading(2, 21.0))


async def test_the_ingress_refuses_json_for_a_cbor_handler(client: Client) -> None:
    payload = orjson.dumps({"seq": 1, "celsius": 20.5})
    with pytest.raises(IngressError) as refused:
        await client.generic_call("Telemetry", "record", payload, key=uuid.uuid4().hex)
    assert refused.value.status == 400
    assert "does not match 'application/cbor'" in refused.value.message
    accepted = await client.generic_call(
        "Telemetry",
        "record",
        cbor2.dumps({"seq": 1, "celsius": 20.5}),
        key=uuid.uuid4().hex,
        content_type="application/cbor",
    )
    assert cbor2.loads(accepted) == 1
