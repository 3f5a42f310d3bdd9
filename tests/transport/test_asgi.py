"""The endpoint's HTTP surface, driven raw (no Restate server): routing, content types,
malformed protocol input, and HTTP/2 stream behaviour.

The endpoint is served in-process by ``Endpoint.serve``, with each of its servers (the
``transport`` fixture, conftest.py: the builtin server and hypercorn's trio worker); requests
come from a hand-rolled HTTP/2 client (``rawh2``) or from httpx over HTTP/1.1.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
import pytest
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rawh2 import (
    INVOCATION_V6,
    H2Client,
    StreamState,
    connect,
    input_frame,
    invocation_headers,
    start_frame,
)

import restate_trio as restate
from examples.services import Greeter
from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import encode_frame
from restate_trio._protocol.identity import generate_signing_key

_DEADLINE = 10.0
# How long we watch for something that must NOT happen (a response before the request ended).
_ABSENCE_WINDOW = 0.3
# How long a local response may take when it is expected "at once".
_PROMPT = 1.0

# Whether a server ends a response as soon as it is complete, while the request is still open.
# hypercorn cannot: late DATA on a stream whose response ended crashes it (#329), so the ASGI
# app waits for the request to end first. The builtin server ends at once and drops late DATA.
ENDS_BEFORE_THE_REQUEST = {"builtin": True, "hypercorn": False}

MANIFEST_ACCEPT = ", ".join(
    f"application/vnd.restate.endpointmanifest.v{v}+json" for v in (1, 2, 3, 4)
)


class Blocker:
    """A handler that blocks until cancelled, recording its lifecycle."""

    def __init__(self) -> None:
        self.entered = trio.Event()
        self.torn_down = trio.Event()
        self.calls = 0

    async def wait(self, ctx: restate.Context) -> str:
        self.calls += 1
        self.entered.set()
        try:
            await trio.sleep_forever()
        finally:
            self.torn_down.set()
        return "unreachable"  # pragma: no cover


class CountingGreeter:
    def __init__(self) -> None:
        self.calls = 0

    async def greet(self, ctx: restate.Context, name: str) -> str:
        self.calls += 1
        return f"Hello {name}!"


@asynccontextmanager
async def serving(endpoint: restate.Endpoint, transport: str = "builtin") -> AsyncIterator[str]:
    """Serve ``endpoint`` with ``Endpoint.serve(server=transport)`` on a free port."""
    async with trio.open_nursery() as nursery:
        with trio.fail_after(_DEADLINE):
            urls: list[str] = await nursery.start(
                partial(endpoint.serve, "127.0.0.1:0", server=transport)  # type: ignore[arg-type]
            )
        url = next(u for u in urls if u.startswith("http://"))
        try:
            yield url
        finally:
            nursery.cancel_scope.cancel()


def default_endpoint(**options: object) -> tuple[restate.Endpoint, Blocker]:
    blocker = Blocker()
    endpoint = restate.Endpoint(**options).bind(  # type: ignore[arg-type]
        restate.reflect(Greeter()), restate.reflect(blocker)
    )
    return endpoint, blocker


async def greet(client: H2Client, name: str = "bob", prefix: str = "") -> StreamState:
    """A complete, valid bidi invocation of Greeter.greet on ``client``'s connection."""
    state = await client.request(
        f"{prefix}/invoke/Greeter/greet",
        headers=invocation_headers(),
        body=start_frame() + input_frame(json.dumps(name).encode()),
        end=True,
    )
    await client.response(state)
    return state


def assert_greeted(state: StreamState, name: str = "bob") -> None:
    assert state.status == 200, (state.status, bytes(state.body))
    assert state.headers.get("content-type") == INVOCATION_V6
    frames = state.frames()
    assert [t for t, _ in frames] == [m.MessageType.OUTPUT_COMMAND, m.MessageType.END]
    output = frames[0][1]
    assert isinstance(output, m.OutputCommandMessage)
    assert json.loads(output.value.content) == f"Hello {name}!"


def error_frames(state: StreamState) -> list[m.ErrorMessage]:
    return [msg for t, msg in state.frames() if t == m.MessageType.ERROR]  # type: ignore[misc]


def has_frame(state: StreamState, type_id: int) -> bool:
    try:
        return any(t == type_id for t, _ in state.frames())
    except AssertionError:  # mid-frame
        return False


# ---------------------------------------------------------------------------- routing


async def test_valid_bidi_invocation(transport: str) -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            assert_greeted(await greet(client))
            assert client.streams  # sanity
            state = await greet(client, "ada", prefix="/some/prefix")
        assert_greeted(state, "ada")
        assert state.headers.get("x-restate-server", "").startswith("restate-trio/")


@pytest.mark.parametrize(
    ("path", "content_type", "status"),
    [
        ("/nope", INVOCATION_V6, 404),
        ("/", INVOCATION_V6, 404),
        ("/invoke/Greeter", INVOCATION_V6, 404),
        ("/invoke/Nobody/greet", INVOCATION_V6, 404),
        ("/invoke/Greeter/nobody", INVOCATION_V6, 404),
        ("/invoke/Greeter/greet", "application/json", 415),
        ("/invoke/Greeter/greet", "application/vnd.restate.invocation.v4", 415),
        ("/invoke/Greeter/greet", "application/vnd.restate.invocation.v8", 415),
        ("/invoke/Greeter/greet", "application/vnd.restate.invocation.vx", 415),
        ("/invoke/Greeter/greet", "", 415),
    ],
)
async def test_rejected_requests_http_2(
    path: str, content_type: str, status: int, transport: str
) -> None:
    endpoint, _ = default_endpoint()
    headers = [("content-type", content_type)] if content_type else []
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.response(
                await client.request(path, headers=headers, body=b"junk", end=True)
            )
            assert state.status == status, bytes(state.body)
            assert state.ended.is_set()
            # The connection is still usable.
            assert_greeted(await greet(client))


@pytest.mark.parametrize(
    ("path", "content_type", "status"),
    [
        ("/nope", INVOCATION_V6, 404),
        ("/invoke/Nobody/greet", INVOCATION_V6, 404),
        ("/invoke/Greeter/greet", "application/json", 415),
        ("/invoke/Greeter/greet", "application/vnd.restate.invocation.v4", 415),
    ],
)
async def test_rejected_requests_http_11(
    path: str, content_type: str, status: int, transport: str
) -> None:
    endpoint, _ = default_endpoint()
    async with (
        serving(endpoint, transport) as url,
        httpx.AsyncClient(base_url=url, trust_env=False) as http,
    ):
        with trio.fail_after(_DEADLINE):
            response = await http.post(
                path, content=b"junk", headers={"content-type": content_type}
            )
    assert response.http_version == "HTTP/1.1"
    assert response.status_code == status, response.text


async def test_health_http_11(transport: str) -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, transport) as url:
        async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
            with trio.fail_after(_DEADLINE):
                response = await http.get("/health")
                prefixed = await http.get("/some/prefix/health")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"status": "ok"}
        assert prefixed.json() == {"status": "ok"}


async def test_health(transport: str) -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.response(await client.request("/health", method="GET"))
            prefixed = await client.response(
                await client.request("/some/prefix/health", method="GET")
            )
    assert state.status == 200
    assert state.headers["content-type"] == "application/json"
    assert json.loads(bytes(state.body)) == {"status": "ok"}
    assert json.loads(bytes(prefixed.body)) == {"status": "ok"}


async def test_discover_content_negotiation(transport: str) -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            only_v9 = await client.response(
                await client.request(
                    "/discover",
                    method="GET",
                    headers=[("accept", "application/vnd.restate.endpointmanifest.v9+json")],
                )
            )
            good = await client.response(
                await client.request(
                    "/discover", method="GET", headers=[("accept", MANIFEST_ACCEPT)]
                )
            )
    assert only_v9.status == 415, bytes(only_v9.body)
    assert good.status == 200
    assert good.headers["content-type"] == "application/vnd.restate.endpointmanifest.v4+json"
    manifest = json.loads(bytes(good.body))
    assert manifest["protocolMode"] == "BIDI_STREAM"
    assert {s["name"] for s in manifest["services"]} == {"Greeter", "Blocker"}


async def test_discover_content_negotiation_http_11(transport: str) -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, transport) as url:
        async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
            with trio.fail_after(_DEADLINE):
                response = await http.get("/discover", headers={"accept": MANIFEST_ACCEPT})
                rejected = await http.get(
                    "/discover",
                    headers={"accept": "application/vnd.restate.endpointmanifest.v9+json"},
                )
        assert response.status_code == 200
        assert response.json()["protocolMode"] == "REQUEST_RESPONSE"
        assert rejected.status_code == 415


# ---------------------------------------------------------------------------- malformed input


GARBAGE = {
    # A frame whose payload is not a valid StartMessage.
    "bad-protobuf": encode_frame(m.MessageType.START, b"\xff\xff\xff\xff\xff\xff"),
    # The first frame must be a StartMessage.
    "not-start-first": encode_frame(m.MessageType.END, b""),
    # A type id nobody knows.
    "unknown-type": start_frame() + encode_frame(0x0123, b"\x08\x01"),
    # A command after the journal was replayed.
    "command-after-replay": start_frame()
    + input_frame(b'"bob"')
    + encode_frame(m.MessageType.INPUT_COMMAND, b""),
    # Start says there are no journal entries.
    "no-entries": start_frame(known_entries=0),
}


@pytest.mark.parametrize("garbage", list(GARBAGE.values()), ids=list(GARBAGE))
async def test_garbage_frames_get_error_571_and_the_connection_keeps_serving(
    garbage: bytes, transport: str
) -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.request(
                "/invoke/Greeter/greet", headers=invocation_headers(), body=garbage, end=False
            )
            # The error is reported while our half of the stream is still open ...
            await client.wait_for(state, lambda: has_frame(state, m.MessageType.ERROR))
            assert state.ended.is_set() == ENDS_BEFORE_THE_REQUEST[transport]
            # ... and the response ends (hypercorn: only) once we end ours.
            await client.end(state)
            await client.response(state)
            assert state.status == 200
            assert not state.reset.is_set()
            errors = error_frames(state)
            assert [t for t, _ in state.frames()] == [m.MessageType.ERROR]
            assert errors[0].code == 571, errors[0]
            assert_greeted(await greet(client))


async def test_input_closed_before_the_journal_arrived_is_571(transport: str) -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.response(
                await client.request(
                    "/invoke/Greeter/greet",
                    headers=invocation_headers(),
                    body=start_frame(known_entries=2) + input_frame(b'"bob"'),
                    end=True,
                )
            )
            assert [e.code for e in error_frames(state)] == [571]
            # Half a frame, then the end of input.
            state = await client.response(
                await client.request(
                    "/invoke/Greeter/greet",
                    headers=invocation_headers(),
                    body=start_frame()[:5],
                    end=True,
                )
            )
            assert [e.code for e in error_frames(state)] == [571]
            assert_greeted(await greet(client))


@pytest.mark.parametrize("max_message_size", [None, 1024])
async def test_oversized_frame_header_is_571_before_the_payload_arrives(
    max_message_size: int | None, transport: str
) -> None:
    options = {} if max_message_size is None else {"max_message_size": max_message_size}
    endpoint, _ = default_endpoint(**options)
    declared = 0xFFFFFFFF if max_message_size is None else max_message_size + 1
    header = struct.pack(">Q", (m.MessageType.START << 48) | declared)
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.request(
                "/invoke/Greeter/greet",
                headers=invocation_headers(),
                body=header + b"\x00" * 100,
                end=False,
            )
            await client.wait_for(state, lambda: has_frame(state, m.MessageType.ERROR))
            # Keep sending "payload": it is drained and ignored.
            await client.send(state, b"\x00" * 1000)
            await client.end(state)
            await client.response(state)
            assert state.status == 200
            assert [e.code for e in error_frames(state)] == [571]
            assert_greeted(await greet(client))


# ---------------------------------------------------------------------------- HTTP/2 streams


async def test_rst_stream_mid_invocation_tears_down_the_handler_only(transport: str) -> None:
    endpoint, blocker = default_endpoint()
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.request(
                "/invoke/Blocker/wait",
                headers=invocation_headers(),
                body=start_frame() + input_frame(b""),
                end=False,
            )
            await blocker.entered.wait()
            # Another invocation on the same connection while the first one is blocked.
            assert_greeted(await greet(client, "first"), "first")
            await client.reset(state)
            await blocker.torn_down.wait()
            assert_greeted(await greet(client, "second"), "second")
        assert not client.terminated.is_set()
        assert blocker.calls == 1


async def test_bidi_response_ends_only_after_the_request_half_close_hypercorn() -> None:
    # hypercorn #329: ending the response before the request crashes hypercorn on late DATA.
    endpoint, _ = default_endpoint()
    async with serving(endpoint, "hypercorn") as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.request(
                "/invoke/Greeter/greet",
                headers=invocation_headers(),
                body=start_frame() + input_frame(b'"bob"'),
                end=False,
            )
            await client.wait_for(state, lambda: has_frame(state, m.MessageType.END))
        # The handler finished (Output + End written), but our half is open: no END_STREAM.
        with trio.move_on_after(_ABSENCE_WINDOW):
            await state.ended.wait()
        assert not state.ended.is_set(), "response ended before the request stream did"
        with trio.fail_after(_DEADLINE):
            # Late DATA after the terminal frame (the runtime may still send acks) is tolerated.
            await client.send(state, encode_frame(m.MessageType.COMMAND_ACK, b"\x08\x01"))
            await client.send(state, b"\x00" * 64)
            await client.end(state)
            await client.response(state)
            assert not state.reset.is_set()
            assert_greeted(state)
            # The connection survived.
            assert_greeted(await greet(client))
        assert not client.terminated.is_set()


async def test_error_response_waits_for_the_request_half_close_hypercorn() -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, "hypercorn") as url, connect(url) as client:
        state = await client.request("/nope", headers=invocation_headers(), body=b"x", end=False)
        with trio.move_on_after(_ABSENCE_WINDOW):
            await state.ended.wait()
        assert not state.ended.is_set(), "error response ended before the request stream did"
        with trio.fail_after(_DEADLINE):
            await client.send(state, b"more data")
            await client.end(state)
            await client.response(state)
            assert state.status == 404
            assert_greeted(await greet(client))


# ---------------------------------------------------------------------------- identity


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(pem: bytes, kid: str, aud: str, *, now: float | None = None) -> str:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    iat = int(time.time() if now is None else now)
    header = _b64(json.dumps({"typ": "JWT", "alg": "EdDSA", "kid": kid}).encode())
    claims = _b64(json.dumps({"aud": aud, "iat": iat, "nbf": iat - 60, "exp": iat + 60}).encode())
    signing_input = f"{header}.{claims}".encode()
    return f"{header}.{claims}.{_b64(key.sign(signing_input))}"


def _signed(token: str) -> list[tuple[str, str]]:
    return [("x-restate-signature-scheme", "v1"), ("x-restate-jwt-v1", token)]


async def test_identity_checked_on_invoke_and_discover(transport: str) -> None:
    pem, public = generate_signing_key()
    other_pem, other_public = generate_signing_key()
    greeter = CountingGreeter()
    endpoint = restate.Endpoint(identity_keys=[public]).bind(
        restate.reflect(greeter, name="Greeter")
    )
    body = start_frame() + input_frame(b'"bob"')
    path = "/prefix/invoke/Greeter/greet"
    aud = "/invoke/Greeter/greet"
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):

            async def invoke(extra: list[tuple[str, str]]) -> StreamState:
                headers = invocation_headers() + extra
                return await client.response(await client.request(path, headers=headers, body=body))

            unsigned = await invoke([])
            wrong_key = await invoke(_signed(_jwt(other_pem, other_public, aud)))
            wrong_aud = await invoke(_signed(_jwt(pem, public, "/invoke/Greeter/other")))
            expired = await invoke(_signed(_jwt(pem, public, aud, now=time.time() - 3600)))
            unsigned_scheme = await invoke([("x-restate-signature-scheme", "unsigned")])
            assert [
                s.status for s in (unsigned, wrong_key, wrong_aud, expired, unsigned_scheme)
            ] == [401] * 5
            assert greeter.calls == 0
            good = await invoke(_signed(_jwt(pem, public, aud)))
            assert_greeted(good)
            assert greeter.calls == 1

            discover = await client.response(
                await client.request(
                    "/discover", method="GET", headers=[("accept", MANIFEST_ACCEPT)]
                )
            )
            assert discover.status == 401
            discover = await client.response(
                await client.request(
                    "/discover",
                    method="GET",
                    headers=[("accept", MANIFEST_ACCEPT), *_signed(_jwt(pem, public, "/discover"))],
                )
            )
            assert discover.status == 200
            health = await client.response(await client.request("/health", method="GET"))
            assert health.status == 200


REJECTIONS = {
    "404-unknown-handler": ("/invoke/Greeter/nobody", INVOCATION_V6, False, 404),
    "404-unknown-service": ("/invoke/Nobody/greet", INVOCATION_V6, False, 404),
    "415-old-protocol": (
        "/invoke/Greeter/greet",
        "application/vnd.restate.invocation.v4",
        False,
        415,
    ),
    "401-unsigned": ("/invoke/Greeter/greet", INVOCATION_V6, True, 401),
}


@pytest.mark.parametrize(
    ("path", "content_type", "with_identity", "status"),
    list(REJECTIONS.values()),
    ids=list(REJECTIONS),
)
async def test_invocation_rejection_status_is_sent_while_the_request_is_open(
    path: str, content_type: str, with_identity: bool, status: int, transport: str
) -> None:
    """In bidi mode Restate keeps the request body open until it sees a response (it closes it
    only after the inactivity timeout, 1 min by default). A rejection must therefore be sent at
    once -- only the END_STREAM may wait for the request half-close -- or every rejected attempt
    stalls for the whole inactivity timeout (see tests/e2e/test_e2e_identity.py)."""
    _, public = generate_signing_key()
    endpoint, _ = default_endpoint(identity_keys=[public] if with_identity else ())
    async with serving(endpoint, transport) as url, connect(url) as client:
        state = await client.request(
            path,
            headers=invocation_headers(content_type),
            body=start_frame() + input_frame(b'"bob"'),
            end=False,
        )
        with trio.move_on_after(_PROMPT):
            await client.wait_for(state, lambda: state.status is not None)
        assert state.status == status, (
            f"no {status} response while the request stream is open (got {state.status})"
        )
        if not ENDS_BEFORE_THE_REQUEST[transport]:
            assert not state.ended.is_set()
        with trio.fail_after(_DEADLINE):
            await client.end(state)
            await client.response(state)
            assert state.status == status


# ---------------------------------------------------------------------------- the ASGI app itself


@pytest.mark.parametrize("receive_kind", ["trio channel", "plain coroutine"])
async def test_asgi_app_serves_an_invocation_with_either_kind_of_receive(
    receive_kind: str,
) -> None:
    """The app takes already-queued messages straight from a trio memory channel (what
    hypercorn's trio worker passes as ``receive``) and awaits any other ``receive``: either way
    the whole request is read, the output is written, and the response ends only after the
    request ended (hypercorn #329)."""
    endpoint, _ = default_endpoint()
    app = endpoint.app()
    body = start_frame() + input_frame(b'"bob"')
    to_app, from_test = trio.open_memory_channel[dict[str, object]](10)
    # The request body split over several queued messages, as hypercorn delivers DATA frames.
    for chunk in (body[:5], body[5:17], body[17:], b""):
        to_app.send_nowait({"type": "http.request", "body": chunk, "more_body": True})

    async def plain_receive() -> dict[str, object]:
        return await from_test.receive()

    receive = from_test.receive if receive_kind == "trio channel" else plain_receive
    sent: list[dict[str, object]] = []
    output = bytearray()
    request_ended = False

    async def send(message: dict[str, object]) -> None:
        nonlocal request_ended
        if message["type"] == "http.response.body" and not message["more_body"]:
            assert request_ended, "the response ended while the request was still open"
        sent.append(message)
        output.extend(message.get("body", b""))  # type: ignore[arg-type]
        so_far = StreamState(1)
        so_far.body.extend(output)
        if not request_ended and has_frame(so_far, m.MessageType.END):
            request_ended = True  # the runtime closes its half once it read our End
            to_app.send_nowait({"type": "http.request", "body": b"", "more_body": False})

    scope = {
        "type": "http",
        "http_version": "2",
        "path": "/invoke/Greeter/greet",
        "headers": [(k.encode(), v.encode()) for k, v in invocation_headers()],
    }
    with trio.fail_after(_DEADLINE):
        await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert request_ended
    state = StreamState(1)
    state.status = 200
    state.headers["content-type"] = INVOCATION_V6
    state.body.extend(output)
    assert_greeted(state)
