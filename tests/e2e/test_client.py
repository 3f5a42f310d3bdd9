"""restate_trio.client end to end: every client call against a real restate-server.

One server for the module (the ``restate_server`` fixture) and one endpoint served per test
(``serve_endpoint``); keys are random so tests never see each other's invocations.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import orjson
import pytest
import trio
from client_services import (
    AWAKEABLES,
    RUNS,
    Checkout,
    Counter,
    Greeter,
    Order,
    Pricing,
    Quote,
    Receipt,
    endpoint,
    published,
)

from restate_trio.client import (
    AdminClient,
    AdminError,
    Client,
    IngressError,
    InvocationFailedError,
    InvocationNotFoundError,
    InvocationNotReadyError,
    NotFoundError,
    RequestRetryPolicy,
    TransportError,
)
from restate_trio.codecs import CborCodec
from restate_trio.testing import RestateServer, serve_endpoint
from tests.conftest import MakeRestateServer

_DEADLINE = 30.0  # bound on every wait in this module (seconds)


def _key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def client(restate_server: RestateServer) -> AsyncIterator[Client]:
    async with serve_endpoint(endpoint(), restate_server), Client(restate_server.ingress_url) as c:
        yield c


@pytest.fixture
async def admin(restate_server: RestateServer) -> AsyncIterator[AdminClient]:
    async with AdminClient(restate_server.admin_url) as a:
        yield a


async def _awakeable(name: str) -> str:
    with trio.fail_after(_DEADLINE):
        await published(name).wait()
    return AWAKEABLES[name]


async def _until(condition: Callable[[], Awaitable[bool]], interval: float = 0.02) -> None:
    """Poll ``condition`` until it holds (the caller's cancel scope bounds the wait)."""
    while True:
        if await condition():
            return
        await trio.sleep(interval)


async def _status(admin: AdminClient, invocation_id: str) -> str | None:
    rows = await admin.query(f"SELECT status FROM sys_invocation WHERE id = '{invocation_id}'")
    return None if not rows else str(rows[0]["status"])


# --------------------------------------------------------------------------- typed calls


async def test_typed_calls(client: Client) -> None:
    with trio.fail_after(_DEADLINE):
        assert await client.service_call(Greeter.greet, "Ada") == "Hello Ada!"
        assert await client.service_call(Greeter.ping) == 7
        key = _key()
        assert await client.object_call(Counter.add, key, 2) == 2
        assert await client.object_call(Counter.add, key, 3) == 5
        assert await client.object_call(Counter.current, key) == 5
        tag = _key()
        assert await client.service_call(Greeter.nothing, tag) is None
    assert RUNS[f"nothing-{tag}"] == 1


async def test_headers_reach_the_handler(restate_server: RestateServer) -> None:
    async with (
        serve_endpoint(endpoint(), restate_server),
        Client(restate_server.ingress_url, headers={"x-from-client": "default"}) as client,
    ):
        with trio.fail_after(_DEADLINE):
            assert await client.service_call(Greeter.header, "x-from-client") == "default"
            per_call = await client.service_call(
                Greeter.header, "x-from-client", headers={"x-from-client": "call"}
            )
    assert per_call == "call"


async def test_a_cbor_handler_is_called_with_cbor(client: Client) -> None:
    with trio.fail_after(_DEADLINE):
        quote = await client.service_call(Pricing.quote, Order("widget", 3))
        seen = await client.service_call(Pricing.seen_content_type, Order("gadget", 1))
        # The same bytes by name: CBOR in, CBOR out.
        raw = await client.generic_call(
            "Pricing",
            "quote",
            CborCodec().encode(Order("bolt", 2), Order),
            content_type="application/cbor",
        )
    assert quote == Quote("widget", 750, b"tegdiw")
    assert seen == "application/cbor|gadget"
    assert CborCodec().decode(raw, Quote) == Quote("bolt", 500, b"tlob")


async def test_generic_call_with_raw_bytes(client: Client) -> None:
    key = _key()
    with trio.fail_after(_DEADLINE):
        assert await client.generic_call("Greeter", "greet", b'"Bob"') == b'"Hello Bob!"'
        assert await client.generic_call("Counter", "add", b"4", key=key) == b"4"
        handle = await client.generic_send("Counter", "add", b"5", key=key)
        assert await handle.attach() == b"9"


# --------------------------------------------------------------------------- sends


async def test_send_with_idempotency_key(client: Client) -> None:
    tag, idem = _key(), _key()
    with trio.fail_after(_DEADLINE):
        first = await client.service_send(Greeter.counted, tag, idempotency_key=idem)
        second = await client.service_send(Greeter.counted, tag, idempotency_key=idem)
        assert (first.status, second.status) == ("accepted", "previously_accepted")
        assert first.invocation_id == second.invocation_id
        assert first.invocation_id.startswith("inv_")
        assert await first.attach() == f"{tag}#1"
        assert await second.output() == f"{tag}#1"
        # Attached to by the idempotency key alone, typed by the handler.
        assert await client.attach_idempotent(Greeter.counted, idem) == f"{tag}#1"
        assert await client.get_idempotent_output(Greeter.counted, idem) == f"{tag}#1"
        # A call with the same key gets the same result without running again.
        assert await client.service_call(Greeter.counted, tag, idempotency_key=idem) == f"{tag}#1"
    assert RUNS[f"counted-{tag}"] == 1


async def test_object_send_and_attach_by_idempotency_key_with_object_key(client: Client) -> None:
    key, idem = _key(), _key()
    with trio.fail_after(_DEADLINE):
        handle = await client.object_send(Counter.add, key, 10, idempotency_key=idem)
        assert await client.attach_idempotent(Counter.add, idem, key=key) == 10
        assert await handle.output() == 10
        assert await client.attach_invocation(handle.invocation_id, type=int) == 10
        assert await client.get_invocation_output(handle.invocation_id) == 10
        raw = await client.attach_invocation(handle.invocation_id, type=bytes)
        assert raw == b"10"


async def test_delayed_send(client: Client, admin: AdminClient) -> None:
    with trio.fail_after(_DEADLINE):
        handle = await client.service_send(Greeter.greet, "later", delay=timedelta(seconds=2))
        # Scheduled, not run: there is no output yet.
        assert await _status(admin, handle.invocation_id) == "scheduled"
        with pytest.raises(InvocationNotReadyError) as not_ready:
            await handle.output()
        assert not_ready.value.code == 470
        started = trio.current_time()
        assert await handle.attach() == "Hello later!"
    # attach waited for the delay (from the send, so a little less may remain).
    assert trio.current_time() - started > 0.5


# --------------------------------------------------------------------------- workflows


async def test_workflow_submit_attach_output(client: Client) -> None:
    key = _key()
    order = Order("widget", 2)
    with trio.fail_after(_DEADLINE):
        run = await client.workflow_submit(Checkout.run, key, order)
        assert run.status == "accepted"
        assert run.invocation_id is not None
        assert (run.service, run.key) == ("Checkout", key)
        with pytest.raises(InvocationNotReadyError):
            await run.output()
        again = await client.workflow_submit(Checkout.run, key, order)
        assert again.status == "previously_accepted"
        assert again.invocation_id == run.invocation_id
        await client.workflow_call(Checkout.approve, key, "grace")
        assert await run.attach() == Receipt(order, "grace")
        assert await run.output() == Receipt(order, "grace")
        # By workflow key, from a handle made elsewhere.
        assert await client.workflow_handle(Checkout.run, key).output() == Receipt(order, "grace")
        assert await client.attach_workflow(Checkout.run, key) == Receipt(order, "grace")
        assert await client.get_workflow_output(Checkout.run, key) == Receipt(order, "grace")
    assert RUNS[f"checkout-{key}"] == 1


async def test_workflow_send_and_call(client: Client) -> None:
    key = _key()
    with trio.fail_after(_DEADLINE):
        handle = await client.workflow_send(Checkout.run, key, Order("nut", 1))
        await client.workflow_call(Checkout.approve, key, "ann")
        assert await handle.attach() == Receipt(Order("nut", 1), "ann")
        other = _key()
        async with trio.open_nursery() as nursery:
            results: list[Receipt] = []

            async def call() -> None:
                results.append(await client.workflow_call(Checkout.run, other, Order("x", 9)))

            nursery.start_soon(call)
            # The call waits for the run; approving it (before or after the run starts: the
            # promise is the workflow's) ends both.
            await client.workflow_call(Checkout.approve, other, "bo")
    assert results == [Receipt(Order("x", 9), "bo")]


# --------------------------------------------------------------------------- awakeables


async def test_resolve_and_reject_awakeables(client: Client) -> None:
    ok, bad = _key(), _key()
    with trio.fail_after(_DEADLINE):
        first = await client.service_send(Greeter.wait_for, ok)
        second = await client.service_send(Greeter.wait_for, bad)
        await client.resolve_awakeable(await _awakeable(ok), "yes")
        await client.reject_awakeable(await _awakeable(bad), "no way")
        assert await first.attach() == f"{ok}: yes"
        with pytest.raises(InvocationFailedError) as failed:
            await second.attach()
    assert failed.value.message == "no way"
    assert failed.value.code == 500


# --------------------------------------------------------------------------- errors


async def test_terminal_failure_carries_code_message_and_metadata(client: Client) -> None:
    with trio.fail_after(_DEADLINE), pytest.raises(InvocationFailedError) as failed:
        await client.service_call(Greeter.fail, 418)
    assert (failed.value.code, failed.value.message) == (418, "failed with 418")
    assert failed.value.metadata == {"why": "asked to"}
    assert failed.value.status == 418
    assert (failed.value.invocation_id or "").startswith("inv_")
    # A handler's own 404 is its failure, not a missing service.
    with trio.fail_after(_DEADLINE), pytest.raises(InvocationFailedError) as failed:
        await client.service_call(Greeter.fail, 404)
    assert failed.value.code == 404


async def test_not_found_errors(client: Client) -> None:
    with trio.fail_after(_DEADLINE):
        with pytest.raises(NotFoundError) as unknown_service:
            await client.generic_call("NoSuchService", "greet", b'"x"')
        with pytest.raises(NotFoundError) as unknown_handler:
            await client.generic_call("Greeter", "nope", b'"x"')
        with pytest.raises(InvocationNotFoundError) as no_run:
            await client.attach_workflow(Checkout.run, _key())
        with pytest.raises(InvocationNotFoundError):
            await client.get_workflow_output(Checkout.run, _key())
        with pytest.raises(InvocationNotFoundError):
            await client.attach_idempotent(Greeter.counted, _key())
    assert not isinstance(unknown_service.value, InvocationNotFoundError)
    assert unknown_service.value.code == 404
    assert "NoSuchService" in unknown_service.value.message
    assert "nope" in unknown_handler.value.message
    assert no_run.value.code == 404


async def test_a_bad_request_is_an_ingress_error(client: Client) -> None:
    with trio.fail_after(_DEADLINE), pytest.raises(IngressError) as bad:
        await client.get_invocation_output("not-an-id")
    assert type(bad.value) is IngressError
    assert bad.value.code == 400
    assert "not-an-id" in bad.value.message


async def test_no_server_is_a_transport_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Client(f"http://127.0.0.1:{port}") as client:
        with trio.fail_after(_DEADLINE), pytest.raises(TransportError) as failed:
            await client.service_call(Greeter.greet, "x")
    assert failed.value.code is None
    assert isinstance(failed.value.__cause__, httpx.TransportError)


# --------------------------------------------------------------------------- cancellation


async def test_a_cancelled_request_leaves_the_client_usable(restate_server: RestateServer) -> None:
    name = _key()
    # One connection: the next request must not get the cancelled one back in a bad state.
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=None)
    async with (
        serve_endpoint(endpoint(), restate_server),
        http,
        Client(restate_server.ingress_url, http_client=http) as client,
    ):
        with trio.move_on_after(_DEADLINE) as scope:
            async with trio.open_nursery() as nursery:

                async def waiting_call() -> None:
                    await client.service_call(Greeter.wait_for, name)

                nursery.start_soon(waiting_call)
                await _awakeable(name)
                nursery.cancel_scope.cancel()  # the trio way to time out a request
        assert not scope.cancelled_caught
        with trio.fail_after(_DEADLINE):
            assert await client.service_call(Greeter.greet, "again") == "Hello again!"
            # The cancelled call's invocation went on without the caller.
            await client.resolve_awakeable(AWAKEABLES[name], "done")
            assert await client.service_call(Greeter.greet, "once more") == "Hello once more!"


# --------------------------------------------------------------------------- admin


async def test_register_deployment_and_list_services(
    restate_server: RestateServer, admin: AdminClient
) -> None:
    async with serve_endpoint(endpoint(), restate_server, register=False) as uri:
        with trio.fail_after(_DEADLINE):
            deployment = await admin.register_deployment(uri, force=True)
            assert deployment.id.startswith("dp_")
            names = {service.name for service in deployment.services}
            assert {"Greeter", "Pricing", "Counter", "Checkout"} <= names
            again = await admin.register_deployment(uri, force=True)
            assert again.id == deployment.id
            services = {service.name: service for service in await admin.services()}
            async with Client(restate_server.ingress_url) as client:
                assert await client.service_call(Greeter.greet, "new") == "Hello new!"
    checkout = services["Checkout"]
    assert checkout.kind == "Workflow"
    assert {(h.name, h.kind) for h in checkout.handlers} == {
        ("run", "Workflow"),
        ("approve", "Shared"),
    }
    assert services["Counter"].kind == "VirtualObject"
    assert services["Greeter"].deployment_id == deployment.id
    assert services["Greeter"].revision >= 1


async def test_registering_nothing_is_an_admin_error(admin: AdminClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with trio.fail_after(_DEADLINE), pytest.raises(AdminError) as refused:
        await admin.register_deployment(f"http://127.0.0.1:{port}")
    assert refused.value.status >= 400
    assert refused.value.message


async def test_cancel_kill_and_purge(client: Client, admin: AdminClient) -> None:
    cancelled, killed = _key(), _key()
    with trio.fail_after(_DEADLINE):
        to_cancel = await client.service_send(Greeter.wait_for, cancelled)
        to_kill = await client.service_send(Greeter.wait_for, killed)
        await _awakeable(cancelled)
        await _awakeable(killed)
        await admin.cancel_invocation(to_cancel.invocation_id)
        await admin.kill_invocation(to_kill.invocation_id)
        with pytest.raises(InvocationFailedError) as was_cancelled:
            await to_cancel.attach()
        with pytest.raises(InvocationFailedError) as was_killed:
            await to_kill.attach()
        done = await client.service_send(Greeter.greet, "purged", idempotency_key=_key())
        assert await done.attach() == "Hello purged!"
        await admin.purge_invocation(done.invocation_id)
        with pytest.raises(InvocationNotFoundError):
            await done.output()
        with pytest.raises(AdminError) as unknown:
            await admin.cancel_invocation("not-an-id")
    assert was_cancelled.value.code == 409
    assert was_killed.value.code == 409
    assert unknown.value.status == 400


async def test_read_and_set_object_state(client: Client, admin: AdminClient) -> None:
    key = _key()
    with trio.fail_after(_DEADLINE):
        assert await admin.get_state("Counter", key) == {}
        assert await client.object_call(Counter.add, key, 1) == 1
        assert await admin.get_state("Counter", key) == {"count": b"1"}
        await admin.set_state("Counter", key, {"count": orjson.dumps(41)})
        # Applied in order with the object's invocations.
        assert await client.object_call(Counter.add, key, 1) == 42

        async def updated() -> bool:  # the query sees the new state a moment later
            return await admin.get_state("Counter", key) == {"count": b"42"}

        await _until(updated)
        await admin.set_state("Counter", key, {})
        assert await client.object_call(Counter.current, key) == 0


# --------------------------------------------------------------------------- retries


async def test_a_safe_request_is_retried_across_a_server_restart(
    make_restate_server: MakeRestateServer,
) -> None:
    server = make_restate_server()
    attempts = 0

    async def count(request: httpx.Request) -> None:
        nonlocal attempts
        attempts += 1

    policy = RequestRetryPolicy(
        max_attempts=200, initial_delay=timedelta(milliseconds=20), max_delay=timedelta(0.1)
    )
    http = httpx.AsyncClient(timeout=None, event_hooks={"request": [count]})
    async with (
        serve_endpoint(endpoint(), server),
        http,
        Client(server.ingress_url, retry=policy, http_client=http) as client,
    ):
        with trio.fail_after(_DEADLINE):
            assert await client.service_call(Greeter.greet, "before") == "Hello before!"
            old = server.process
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, lambda: server.restart(kill=True))

                await trio.to_thread.run_sync(old.wait)  # the old server is gone
                attempts = 0
                # Safe (an idempotency key): retried until the server is back.
                greeting = await client.service_call(Greeter.greet, "after", idempotency_key=_key())
    assert greeting == "Hello after!"
    assert attempts > 1


async def test_an_unsafe_request_is_not_retried() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempts = 0

    async def count(request: httpx.Request) -> None:
        nonlocal attempts
        attempts += 1

    policy = RequestRetryPolicy(max_attempts=5, initial_delay=timedelta(0), jitter=False)
    http = httpx.AsyncClient(timeout=None, event_hooks={"request": [count]})
    async with http, Client(f"http://127.0.0.1:{port}", retry=policy, http_client=http) as c:
        with trio.fail_after(_DEADLINE):
            with pytest.raises(TransportError):
                await c.service_call(Greeter.greet, "x")  # no idempotency key
            assert attempts == 1
            with pytest.raises(TransportError):
                await c.service_call(Greeter.greet, "x", idempotency_key="k")
            assert attempts == 1 + 5
            with pytest.raises(TransportError):
                await c.attach_invocation("inv_1")
    assert attempts == 1 + 5 + 5


# --------------------------------------------------------------------------- tracing


async def test_the_callers_trace_context_is_propagated(client: Client) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test_client")
    with tracer.start_as_current_span("caller") as span:
        with trio.fail_after(_DEADLINE):
            traceparent = await client.service_call(Greeter.header, "traceparent")
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert traceparent is not None
    assert traceparent.split("-")[1] == trace_id
