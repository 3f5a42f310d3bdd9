"""What the builtin server (``Endpoint.serve()``, ``server="builtin"``) does over HTTP/2
differently from hypercorn, and its own limits: it ends responses at once and drops late DATA,
closes only the connection that misbehaves, bounds what it accepts for a stream nobody reads,
and shuts down gracefully (REFUSED_STREAM for new streams, GOAWAY once the in-flight ones are
done). Its HTTP/1.1 side is tested in test_http11.py.

The behaviour both servers share is tested over both in test_asgi.py and
test_stream_limits.py.
"""

from __future__ import annotations

import struct
from datetime import timedelta
from functools import partial

import h2.errors
import pytest
import trio
from rawh2 import connect, input_frame, invocation_headers, start_frame
from test_asgi import (
    _DEADLINE,
    assert_greeted,
    default_endpoint,
    error_frames,
    greet,
    has_frame,
    serving,
)

import restate_trio as restate
from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import encode_frame


async def test_the_response_ends_with_the_terminal_frame_and_late_data_is_dropped() -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, "builtin") as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.request(
                "/invoke/Greeter/greet",
                headers=invocation_headers(),
                body=start_frame() + input_frame(b'"bob"'),
                end=False,
            )
            # Our half is still open, yet the response is complete and ended.
            await client.response(state)
            assert not state.reset.is_set()
            assert_greeted(state)
            # The runtime may still send acks before it closes its half: tolerated.
            await client.send(state, encode_frame(m.MessageType.COMMAND_ACK, b"\x08\x01"))
            await client.send(state, b"\x00" * 64)
            await client.end(state)
            assert_greeted(await greet(client))
        assert not state.reset.is_set()
        assert not client.terminated.is_set()


async def test_an_error_response_ends_at_once_and_the_body_is_dropped() -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, "builtin") as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.request(
                "/nope", headers=invocation_headers(), body=b"x", end=False
            )
            await client.response(state)
            assert state.status == 404
            assert bytes(state.body) == b"no route for /nope"
            await client.send(state, b"more data")
            await client.end(state)
            assert_greeted(await greet(client))
        assert not state.reset.is_set()


async def test_a_body_nobody_reads_is_bounded() -> None:
    # Beyond max_message_size plus a frame of bytes nobody reads, the stream is reset
    # (ENHANCE_YOUR_CALM); the connection keeps serving.
    endpoint, _ = default_endpoint(max_message_size=1024)
    async with serving(endpoint, "builtin") as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            state = await client.request("/nope", headers=invocation_headers(), end=False)
            await client.response(state)
            assert state.status == 404
            await client.send_within_windows(state, b"\x00" * (1024 + 16_384))  # at the limit
            await client.ping()
            assert_greeted(await greet(client))
            assert not state.reset.is_set()
            await client.send(state, b"\x00")  # one byte too many
            await client.wait_for(state, state.reset.is_set)
            assert state.reset_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
            assert_greeted(await greet(client))
        assert not client.terminated.is_set()


@pytest.mark.parametrize("transport", ["builtin", "hypercorn"])
async def test_a_large_message_flows_through_the_windows(transport: str) -> None:
    # 20 MiB on one stream: more than our stream window (1 MiB) and connection window
    # (16 MiB), so it only arrives if credit is returned as it is consumed; meanwhile other
    # streams on the connection keep working (no shared-window stall).
    endpoint, _ = default_endpoint()
    size = 20 << 20
    header = struct.pack(">Q", (m.MessageType.START << 48) | size)
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(3 * _DEADLINE):
            state = await client.request(
                "/invoke/Greeter/greet", headers=invocation_headers(), body=header, end=False
            )
            chunk = b"\xff" * (1 << 20)
            for index in range(size // len(chunk)):
                await client.send_within_windows(state, chunk)
                if index == 10:
                    assert_greeted(await greet(client, "meanwhile"), "meanwhile")
            # The whole (garbage) StartMessage arrived: it is rejected as a protocol error.
            await client.wait_for(state, lambda: has_frame(state, m.MessageType.ERROR))
            await client.end(state)
            await client.response(state)
            assert [e.code for e in error_frames(state)] == [571]


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00" * 64,
        # A DATA frame on stream 0, which HTTP/2 forbids.
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x",
    ],
    ids=["no-preface", "garbage-after-preface"],
)
async def test_garbage_gets_a_goaway_and_only_that_connection_closes(garbage: bytes) -> None:
    endpoint, blocker = default_endpoint()
    async with serving(endpoint, "builtin") as url, connect(url) as bystander:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with trio.fail_after(_DEADLINE):
            running = await bystander.request(
                "/invoke/Blocker/wait",
                headers=invocation_headers(),
                body=start_frame() + input_frame(b""),
                end=False,
            )
            await blocker.entered.wait()
            stream = await trio.open_tcp_stream(host, int(port))
            async with stream:
                await stream.send_all(garbage)
                received = b""
                while chunk := await stream.receive_some(65536):
                    received += chunk
            # A GOAWAY frame (type 7) is among what the server sent before it closed.
            frames: list[int] = []
            while len(received) >= 9:
                length = int.from_bytes(received[:3], "big")
                frames.append(received[3])
                received = received[9 + length :]
            assert 7 in frames, frames
            assert_greeted(await greet(bystander))
            assert not running.reset.is_set()
            assert not blocker.torn_down.is_set()


class Sleeper:
    def __init__(self) -> None:
        self.entered = trio.Event()

    async def nap(self, ctx: restate.Context) -> str:
        self.entered.set()
        await ctx.sleep(timedelta(hours=1))
        return "rested"


async def test_graceful_shutdown_refuses_new_streams_suspends_and_closes() -> None:
    sleeper = Sleeper()
    endpoint = restate.Endpoint().bind(restate.reflect(sleeper))
    stop = trio.Event()
    # Well within the 5 s graceful timeout: the end comes from the suspension, and serve()
    # returns (the nursery closes) once the connection is done.
    with trio.fail_after(4):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(endpoint.serve, "127.0.0.1:0", server="builtin", shutdown_trigger=stop.wait)
            )
            async with connect(urls[0]) as client:
                state = await client.request(
                    "/invoke/Sleeper/nap",
                    headers=invocation_headers(),
                    body=start_frame() + input_frame(b""),
                    end=False,
                )
                await sleeper.entered.wait()
                await client.wait_for(state, lambda: has_frame(state, m.MessageType.SLEEP_COMMAND))
                stop.set()
                # Draining makes the waiting invocation suspend ...
                await client.wait_for(state, lambda: has_frame(state, m.MessageType.SUSPENSION))
                await client.response(state)
                assert not state.reset.is_set()
                # ... and new streams are refused (Restate retries them elsewhere).
                refused = await client.request(
                    "/invoke/Sleeper/nap",
                    headers=invocation_headers(),
                    body=start_frame() + input_frame(b""),
                    end=False,
                )
                await client.response(refused)
                assert refused.reset_code == h2.errors.ErrorCodes.REFUSED_STREAM
                assert not client.terminated.is_set()
                # Once the last stream is done, the connection gets a GOAWAY and closes.
                await client.end(state)
                await client.terminated.wait()
                assert client.goaway_code == h2.errors.ErrorCodes.NO_ERROR
                await client.closed.wait()
    assert [t for t, _ in state.frames()] == [m.MessageType.SLEEP_COMMAND, m.MessageType.SUSPENSION]
