"""End-to-end request identity: a restate-server that signs its requests (Ed25519 JWTs) and
endpoints that verify them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
import trio

import restate_trio as restate
from restate_trio._protocol.identity import generate_signing_key
from restate_trio.testing import RegistrationError, RestateServer, serve_endpoint

_DEADLINE = 20.0
_REJECTION_DEADLINE = 8.0


@pytest.fixture(scope="module")
def server_key() -> tuple[bytes, str]:
    return generate_signing_key()


@pytest.fixture(scope="module")
def restate_server_options(server_key: tuple[bytes, str]) -> dict[str, object]:
    return {
        "signing_key_pem": server_key[0],
        "env": {
            "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "50ms",
            "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "200ms",
        },
    }


class Greeter:
    def __init__(self) -> None:
        self.calls = 0

    async def greet(self, ctx: restate.Context, name: str) -> str:
        self.calls += 1
        return f"Hello {name}!"


class Tally:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        value = (await ctx.get("n", type=int) or 0) + delta
        ctx.set("n", value)
        return value


@asynccontextmanager
async def serving_at(endpoint: restate.Endpoint, address: str) -> AsyncIterator[None]:
    """Serve without registering (the deployment is already known to the server)."""
    async with trio.open_nursery() as nursery:
        with trio.fail_after(_DEADLINE):
            await nursery.start(endpoint.serve, address)
        try:
            yield
        finally:
            nursery.cancel_scope.cancel()


async def test_matching_key_works_end_to_end(
    restate_server: RestateServer, server_key: tuple[bytes, str]
) -> None:
    _, unrelated = generate_signing_key()
    greeter = Greeter()
    endpoint = restate.Endpoint(identity_keys=[unrelated, server_key[1]]).bind(
        restate.reflect(greeter), restate.reflect(Tally())
    )
    async with serve_endpoint(endpoint, restate_server, path_prefix="/signed/prefix"):
        response = await restate_server.ingress("/Greeter/greet", "bob")
        assert response.status == 200, response.text
        assert response.json() == "Hello bob!"
        # Keyed targets carry a `sub` claim; the key is percent-encoded in the path.
        added = await restate_server.ingress("/Tally/a%20key%2F1/add", 2)
        assert added.status == 200, added.text
        assert added.json() == 2
    assert greeter.calls == 1


async def test_wrong_key_is_rejected_at_registration(restate_server: RestateServer) -> None:
    _, wrong = generate_signing_key()
    greeter = Greeter()
    endpoint = restate.Endpoint(identity_keys=[wrong]).bind(restate.reflect(greeter))
    with pytest.raises(RegistrationError) as info:
        async with serve_endpoint(endpoint, restate_server):
            pytest.fail("registration should have failed")  # pragma: no cover
    assert "401" in info.value.body, info.value.body
    assert greeter.calls == 0


async def test_invocations_with_a_failing_key_check_are_not_executed(
    restate_server: RestateServer, server_key: tuple[bytes, str]
) -> None:
    _, wrong = generate_signing_key()
    first = Greeter()
    good = restate.Endpoint(identity_keys=[server_key[1]]).bind(
        restate.reflect(first, name="GreeterSwap")
    )
    async with serve_endpoint(good, restate_server) as uri:
        pass
    address = urlsplit(uri).netloc

    # The same deployment URI is now served by an endpoint that trusts another key.
    impostor_greeter = Greeter()
    impostor = restate.Endpoint(identity_keys=[wrong]).bind(
        restate.reflect(impostor_greeter, name="GreeterSwap")
    )
    async with serving_at(impostor, address):
        sent = await restate_server.ingress("/GreeterSwap/greet/send", "eve")
        assert sent.status == 202, sent.text
        invocation_id = sent.invocation_id
        assert invocation_id is not None
        # Each attempt is answered 401, which Restate records as a failed attempt and retries
        # (50 ms backoff here). Three failed attempts must show up quickly: a 401 that is only
        # sent after the runtime closes its request body would stall every attempt for the
        # inactivity timeout (1 min by default).
        row: Mapping[str, object] | None = None
        with trio.move_on_after(_REJECTION_DEADLINE):
            while row is None or int(row.get("retry_count") or 0) < 3:  # type: ignore[call-overload]
                row = await restate_server.invocation_status(invocation_id)
                await trio.sleep(0.05)
        assert row is not None
        assert int(row.get("retry_count") or 0) >= 3, (  # type: ignore[call-overload]
            f"rejected attempts are not reported promptly: after {_REJECTION_DEADLINE} s the "
            f"invocation is {row.get('status')!r} with retry_count={row.get('retry_count')!r}, "
            f"last_failure={row.get('last_failure')!r}"
        )
        assert "401" in str(row.get("last_failure")), row
    assert impostor_greeter.calls == 0

    # With the right key again, the retried invocation runs exactly once.
    second = Greeter()
    fixed = restate.Endpoint(identity_keys=[server_key[1]]).bind(
        restate.reflect(second, name="GreeterSwap")
    )
    async with serving_at(fixed, address):
        attached = await restate_server.ingress(
            f"/restate/invocation/{invocation_id}/attach", method="GET"
        )
        assert attached.status == 200, attached.text
        assert attached.json() == "Hello eve!"
    assert second.calls == 1
    assert first.calls == 0
