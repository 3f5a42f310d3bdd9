"""The builtin server over HTTP/1.1 (h11): one port with HTTP/2, invocations in
request/response mode, keep-alive, its bounds, malformed requests, and graceful shutdown.

Requests come from a small h11 client (or raw bytes where they must be malformed). Routing
and discovery over HTTP/1.1 on both servers are tested in test_asgi.py (``*_http_11``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import cast

import h11
import pytest
import trio
import trio.testing
from rawh2 import INVOCATION_V6, connect, input_frame, start_frame
from test_asgi import _DEADLINE, assert_greeted, default_endpoint, greet, serving

import restate_trio as restate
from examples.services import Counter, Greeter
from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import FrameDecoder
from restate_trio._transport.asgi import RestateApp
from restate_trio._transport.h11connection import MAX_HEAD_SIZE
from restate_trio._transport.router import Router
from restate_trio._transport.server import PREFACE, sniff
from restate_trio.testing import RestateServer, serve_endpoint

GREET_BODY = start_frame() + input_frame(b'"bob"')
INVOKE_HEADERS = [("content-type", INVOCATION_V6), ("accept", INVOCATION_V6)]


# ---------------------------------------------------------------------------- a client


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    informational: list[int] = field(default_factory=list)

    def frames(self) -> list[tuple[int, object]]:
        decoder = FrameDecoder()
        out = [(f.type, m.decode(f.type, f.payload)) for f in decoder.feed(self.body)]
        assert decoder.pending == 0, "response body ends in the middle of a frame"
        return out


class H11Client:
    """Sequential requests on one HTTP/1.1 connection."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def send(self, *events: h11.Event) -> None:
        await self.stream.send_all(b"".join(self.conn.send(e) or b"" for e in events))

    async def head(
        self, method: str, target: str, headers: Sequence[tuple[str, str]] = (), length: int = 0
    ) -> None:
        """Send a request head declaring a body of ``length`` bytes."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        await self.send(
            h11.Request(
                method=method,
                target=target,
                headers=[("host", "endpoint"), ("content-length", str(length)), *headers],
            )
        )

    async def request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> Answer:
        await self.head(method, target, headers, len(body))
        await self.send(h11.Data(data=body), h11.EndOfMessage())
        return await self.answer()

    async def next_event(self) -> h11.Event:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
            else:
                assert isinstance(event, h11.Event), event
                return event

    async def answer(self) -> Answer:
        informational: list[int] = []
        while True:
            event = await self.next_event()
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            else:
                break
        assert isinstance(event, h11.Response), event
        answer = Answer(
            event.status_code,
            {k.decode(): v.decode() for k, v in event.headers},
            informational=informational,
        )
        body = bytearray()
        while not isinstance(event := await self.next_event(), h11.EndOfMessage):
            assert isinstance(event, h11.Data), event
            body += event.data
        answer.body = bytes(body)
        return answer


def _router(endpoint: restate.Endpoint) -> Router:
    return cast(RestateApp, endpoint.app()).router


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@asynccontextmanager
async def h11_client(url: str) -> AsyncIterator[H11Client]:
    stream = await trio.open_tcp_stream(*_address(url))
    async with stream:
        yield H11Client(stream)


async def raw_exchange(url: str, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything received until the server closes."""
    stream = await trio.open_tcp_stream(*_address(url))
    async with stream:
        await stream.send_all(data)
        received = b""
        while chunk := await stream.receive_some(65536):
            received += chunk
    return received


async def closed_by_server(stream: trio.SocketStream) -> bool:
    """Whether the server closed the connection (EOF, nothing more sent)."""
    return await stream.receive_some(65536) == b""


def assert_greeted_11(answer: Answer) -> None:
    assert answer.status == 200, answer
    assert answer.headers["content-type"] == INVOCATION_V6
    frames = answer.frames()
    assert [t for t, _ in frames] == [m.MessageType.OUTPUT_COMMAND, m.MessageType.END]
    output = frames[0][1]
    assert isinstance(output, m.OutputCommandMessage)
    assert json.loads(output.value.content) == "Hello bob!"


# ---------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PREFACE, "h2"),
        (PREFACE + b"\x00\x00\x00\x04", "h2"),
        (PREFACE[:10], None),  # could still be a preface
        (b"GET /health HTTP/1.1\r\n", "http/1"),
        (b"POST ", "http/1"),
        (b"GE", None),  # a method, so far
        (b"PRI * HTTP/1.1\r\n", "http/1"),  # leaves the preface, is a request line
        (b"\x00" * 64, "h2"),  # garbage: h2 answers it with a GOAWAY
        (b" GET / HTTP/1.1\r\n", "h2"),
        (b"A" * 32, None),
        (b"A" * 33, "h2"),  # no method is that long
    ],
)
def test_sniff_tells_http_2_from_http_1(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind


async def test_one_port_serves_http_2_and_http_11() -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint) as url, connect(url) as h2_client, h11_client(url) as client:
        with trio.fail_after(_DEADLINE):
            assert_greeted(await greet(h2_client))
            assert_greeted_11(
                await client.request("POST", "/invoke/Greeter/greet", INVOKE_HEADERS, GREET_BODY)
            )


# ---------------------------------------------------------------------------- invocations


async def test_an_invocation_streams_its_output_chunked() -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint) as url, h11_client(url) as client:
        with trio.fail_after(_DEADLINE):
            answer = await client.request(
                "POST", "/invoke/Greeter/greet", INVOKE_HEADERS, GREET_BODY
            )
    assert_greeted_11(answer)
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.headers["x-restate-server"].startswith("restate-trio/")
    assert "connection" not in answer.headers  # kept alive


async def test_requests_reuse_a_kept_alive_connection() -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint) as url, h11_client(url) as client:
        with trio.fail_after(_DEADLINE):
            health = await client.request("GET", "/health")
            first = await client.request(
                "POST", "/invoke/Greeter/greet", INVOKE_HEADERS, GREET_BODY
            )
            # An error reply whose body nobody reads: dropped, the connection stays usable.
            missing = await client.request("POST", "/nope", body=b"x" * 1000)
            second = await client.request(
                "POST", "/invoke/Greeter/greet", INVOKE_HEADERS, GREET_BODY
            )
            head = await client.request("HEAD", "/health")
    assert health.status == 200
    assert json.loads(health.body) == {"status": "ok"}
    assert_greeted_11(first)
    assert missing.status == 404
    assert missing.body == b"no route for /nope"
    assert_greeted_11(second)
    assert head.status == 200
    assert head.body == b""


async def test_a_peer_that_goes_away_tears_down_its_invocation() -> None:
    endpoint, blocker = default_endpoint()
    async with serving(endpoint) as url:
        with trio.fail_after(_DEADLINE):
            async with h11_client(url) as client:
                await client.head("POST", "/invoke/Blocker/wait", INVOKE_HEADERS, len(GREET_BODY))
                await client.send(h11.Data(data=GREET_BODY), h11.EndOfMessage())
                await blocker.entered.wait()
            # The whole request arrived; only the closed socket says nobody waits any more.
            await blocker.torn_down.wait()


# ---------------------------------------------------------------------------- bounds


async def test_beyond_max_invocations_a_request_gets_503_with_retry_after() -> None:
    endpoint, blocker = default_endpoint(max_invocations=1)
    async with serving(endpoint) as url:
        with trio.fail_after(_DEADLINE):
            async with h11_client(url) as holder, h11_client(url) as client:
                await holder.head("POST", "/invoke/Blocker/wait", INVOKE_HEADERS, len(GREET_BODY))
                await holder.send(h11.Data(data=GREET_BODY), h11.EndOfMessage())
                await blocker.entered.wait()
                refused = await client.request(
                    "POST", "/invoke/Greeter/greet", INVOKE_HEADERS, GREET_BODY
                )
                assert refused.status == 503, refused
                assert refused.headers["retry-after"] == "1"
                # The refused connection stays usable: nothing was started for it.
                health = await client.request("GET", "/health")
                assert health.status == 200


async def test_a_malformed_request_gets_400_and_only_its_connection_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint, blocker = default_endpoint()
    async with serving(endpoint) as url, h11_client(url) as bystander:
        with trio.fail_after(_DEADLINE):
            await bystander.head("POST", "/invoke/Blocker/wait", INVOKE_HEADERS, len(GREET_BODY))
            await bystander.send(h11.Data(data=GREET_BODY), h11.EndOfMessage())
            await blocker.entered.wait()
            answer = await raw_exchange(url, b"GET /health HTTP/1.1\r\nno colon here\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
            assert b"connection: close\r\n" in answer
            async with h11_client(url) as client:
                health = await client.request("GET", "/health")
            assert health.status == 200
            assert not blocker.torn_down.is_set()
    assert any("malformed HTTP/1.1 request" in r.getMessage() for r in caplog.records)


async def test_the_request_head_is_bounded() -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint) as url:
        with trio.fail_after(_DEADLINE):
            async with h11_client(url) as client:
                # Within the bound: served.
                big = [("x-padding", "a" * (MAX_HEAD_SIZE - 1024))]
                assert (await client.request("GET", "/health", big)).status == 200
            # Past it, without ever ending the head: 431, and the connection closes.
            endless = b"GET /health HTTP/1.1\r\nx-padding: " + b"a" * (MAX_HEAD_SIZE + 1)
            answer = await raw_exchange(url, endless)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]


async def test_a_body_nobody_reads_is_bounded() -> None:
    # Dropped up to max_message_size plus a frame (as over HTTP/2); past that the
    # connection closes after the answer.
    endpoint, _ = default_endpoint(max_message_size=1024)
    limit = 1024 + 16_384
    async with serving(endpoint) as url:
        with trio.fail_after(_DEADLINE):
            async with h11_client(url) as client:
                assert (await client.request("POST", "/nope", body=b"x" * limit)).status == 404
                assert (await client.request("GET", "/health")).status == 200
            async with h11_client(url) as client:
                answer = await client.request("POST", "/nope", body=b"x" * (limit + 1))
                assert answer.status == 404
                assert await closed_by_server(client.stream)


async def test_an_invocation_whose_start_never_arrives_closes_its_connection() -> None:
    # It would hold a max_invocations slot: after Router.start_timeout (shortened here) the
    # attempt is aborted and the connection closed, as for the other bounds of a request.
    endpoint, blocker = default_endpoint()
    router = _router(endpoint)
    router.start_timeout = 0.1
    async with serving(endpoint) as url:
        with trio.fail_after(_DEADLINE):
            async with h11_client(url) as running, h11_client(url) as stalled:
                await running.head("POST", "/invoke/Blocker/wait", INVOKE_HEADERS, len(GREET_BODY))
                await running.send(h11.Data(data=GREET_BODY), h11.EndOfMessage())
                await blocker.entered.wait()
                await stalled.head("POST", "/invoke/Greeter/greet", INVOKE_HEADERS, len(GREET_BODY))
                await stalled.send(h11.Data(data=GREET_BODY[:5]))  # half a StartMessage
                assert await closed_by_server(stalled.stream)
                await trio.testing.wait_all_tasks_blocked()
                assert router.in_flight == 1  # its slot is free again
                assert not blocker.torn_down.is_set()
            async with h11_client(url) as client:
                assert_greeted_11(
                    await client.request(
                        "POST", "/invoke/Greeter/greet", INVOKE_HEADERS, GREET_BODY
                    )
                )


async def test_a_serde_body_is_bounded_and_expect_100_continue_is_answered() -> None:
    endpoint, _ = default_endpoint(max_message_size=1024)
    path = "/serdes/Greeter/decode/greet/input"
    async with serving(endpoint) as url, h11_client(url) as client:
        with trio.fail_after(_DEADLINE):
            await client.head("POST", path, [("expect", "100-continue")], length=5)
            # The body is held back until the server asks for it.
            event = await client.next_event()
            assert isinstance(event, h11.InformationalResponse)
            assert event.status_code == 100
            await client.send(h11.Data(data=b'"bob"'), h11.EndOfMessage())
            decoded = await client.answer()
            too_large = await client.request("POST", path, body=b'"' + b"a" * 1024 + b'"')
            after = await client.request("GET", "/health")
    assert decoded.status == 200, decoded
    assert json.loads(decoded.body) == "bob"
    assert too_large.status == 413
    assert after.status == 200


async def test_serde_bodies_count_against_the_input_budget_over_http_11() -> None:
    # As over HTTP/2 (test_limits.py): charged while read, 503 past the budget, and given
    # back on every path (answered, refused, the peer gone).
    endpoint, _ = default_endpoint(max_message_size=40_000, max_buffered_input=40_000)
    router = _router(endpoint)
    path = "/serdes/Greeter/decode/greet/input"
    async with serving(endpoint) as url:
        with trio.fail_after(_DEADLINE):
            async with h11_client(url) as holder, h11_client(url) as client:
                await holder.head("POST", path, length=30_002)
                await holder.send(h11.Data(data=b'"' + b"x" * 30_000))
                await trio.testing.wait_all_tasks_blocked()
                assert router.buffered_input == 30_001
                refused = await client.request("POST", path, body=b'"' + b"y" * 19_998 + b'"')
                assert refused.status == 503, refused
                assert router.buffered_input == 30_001
                # The connection of the refused one stays usable; a body that fits is served.
                assert (await client.request("POST", path, body=b'"bob"')).status == 200
                await holder.send(h11.Data(data=b'"'), h11.EndOfMessage())
                answer = await holder.answer()
                assert answer.status == 200, answer
                assert router.buffered_input == 0
                await holder.head("POST", path, length=30_002)
                await holder.send(h11.Data(data=b'"' + b"x" * 30_000))
                await trio.testing.wait_all_tasks_blocked()
                assert router.buffered_input == 30_001
            # The holder went away mid-body.
            await trio.testing.wait_all_tasks_blocked()
            assert router.buffered_input == 0


# ---------------------------------------------------------------------------- shutdown


class Gate:
    def __init__(self) -> None:
        self.entered = trio.Event()
        self.open = trio.Event()

    async def wait(self, ctx: restate.Context) -> str:
        self.entered.set()
        await self.open.wait()  # not durable: draining does not suspend it
        return "Hello bob!"


async def test_graceful_shutdown_closes_idle_connections_and_finishes_the_one_in_flight() -> None:
    gate = Gate()
    endpoint = restate.Endpoint().bind(restate.reflect(gate))
    stop = trio.Event()
    with trio.fail_after(4):  # well within the 5 s graceful timeout
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(endpoint.serve, "127.0.0.1:0", shutdown_trigger=stop.wait)
            )
            async with h11_client(urls[0]) as idle, h11_client(urls[0]) as busy:
                assert (await idle.request("GET", "/health")).status == 200
                await busy.head("POST", "/invoke/Gate/wait", INVOKE_HEADERS, len(GREET_BODY))
                await busy.send(h11.Data(data=GREET_BODY), h11.EndOfMessage())
                await gate.entered.wait()
                stop.set()
                # The idle keep-alive connection closes at once ...
                assert await closed_by_server(idle.stream)
                # ... the request in flight is finished, says so, and its connection closes.
                gate.open.set()
                answer = await busy.answer()
                assert_greeted_11(answer)
                assert answer.headers["connection"] == "close"
                assert await closed_by_server(busy.stream)
    # serve() returned: the nursery closed before the deadline.


# ---------------------------------------------------------------------------- end to end


async def test_restate_invokes_over_http_11_in_request_response_mode(
    restate_server: RestateServer,
) -> None:
    endpoint = restate.Endpoint().bind(
        restate.reflect(Greeter(), name="GreeterH11"),
        restate.reflect(Counter(), name="CounterH11"),
    )
    async with serve_endpoint(
        endpoint, restate_server, use_http_11=True, http_server="builtin"
    ) as uri:
        listed = (await restate_server.admin_get("/deployments")).json()
        deployment = next(
            d for d in listed["deployments"] if str(d["uri"]).rstrip("/") == uri.rstrip("/")
        )
        assert deployment["http_version"] == "HTTP/1.1"
        assert deployment["protocol_type"] == "RequestResponse"
        greeted = await restate_server.ingress("/GreeterH11/greet", "bob")
        assert greeted.json() == "Hello bob!", greeted.text
        for delta, expected in ((2, 2), (3, 5)):  # state kept across invocations
            added = await restate_server.ingress("/CounterH11/h11/add", delta)
            assert added.json() == expected, added.text
