"""A peer that opens too many streams on one connection loses that connection, not the process.

hypercorn keeps every open stream in a priority tree capped at 1,000 entries; past that an
exception escapes into its server nursery and ends ``serve()`` for everyone. The endpoint
therefore advertises (and h2 enforces) a stream limit far below it: Restate itself never uses
more than 128 streams per connection and opens further connections instead. The builtin server
advertises the same limit; both are tested (the ``transport`` fixture).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import h2.config
import h2.connection
import trio
from hyperframe.frame import Frame, GoAwayFrame
from rawh2 import connect, input_frame, invocation_headers, start_frame
from test_asgi import assert_greeted, default_endpoint, greet, serving

from restate_trio._transport.serve import MAX_CONCURRENT_STREAMS, restate_config

_DEADLINE = 30.0


async def _flood(url: str, streams: int) -> list[Frame]:
    """Open ``streams`` invocation streams on one connection without ever reading the server's
    SETTINGS (so the client side does not hold itself to the advertised limit), then read what
    the server answers until it closes the connection."""
    hostport = url.split("://", 1)[1]
    host, port = hostport.rsplit(":", 1)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    body = start_frame() + input_frame(b"")
    for index in range(streams):
        stream_id = conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", hostport),
            (":path", "/invoke/Blocker/wait"),
            *invocation_headers(),
        ]
        conn.send_headers(stream_id, headers)
        if index < 50:  # within the connection's flow-control window: these handlers block
            conn.send_data(stream_id, body)
    frames: list[Frame] = []
    socket = await trio.open_tcp_stream(host, int(port))
    async with socket:
        await socket.send_all(conn.data_to_send())
        buffer = b""
        while data := await socket.receive_some(65536):
            buffer += data
            while len(buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
                if len(buffer) < 9 + length:
                    break
                frame.parse_body(memoryview(buffer[9 : 9 + length]))
                buffer = buffer[9 + length :]
                frames.append(frame)
    return frames


def test_the_advertised_limit_fits_restate_and_hypercorn() -> None:
    # Restate assumes 50 before our SETTINGS arrive and never uses more than 128; hypercorn's
    # priority tree breaks past 1,000.
    assert 50 <= MAX_CONCURRENT_STREAMS <= 1000
    assert restate_config("127.0.0.1:0").h2_max_concurrent_streams == MAX_CONCURRENT_STREAMS


def test_the_readme_hypercorn_settings_are_the_safe_ones() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("# hypercorn.toml", 1)[1].split("```", 1)[0]
    settings = tomllib.loads(block.split("\n", 1)[1])
    assert settings["h2_max_concurrent_streams"] == MAX_CONCURRENT_STREAMS


async def test_too_many_streams_close_that_connection_and_the_endpoint_keeps_serving(
    transport: str,
) -> None:
    endpoint, _ = default_endpoint()
    async with serving(endpoint, transport) as url:
        with trio.fail_after(_DEADLINE):
            async with connect(url) as bystander:
                # An invocation in flight on another connection while the flood happens.
                assert_greeted(await greet(bystander, "before"), "before")
                frames = await _flood(url, 1001)
                # The flood's connection is closed with a GOAWAY, at the latest past the limit.
                assert any(isinstance(frame, GoAwayFrame) for frame in frames), frames[-3:]
                # The other connection and new ones are unaffected.
                assert_greeted(await greet(bystander, "during"), "during")
            async with connect(url) as client:
                assert_greeted(await greet(client, "after"), "after")


async def test_streams_reset_by_the_peer_do_not_accumulate(transport: str) -> None:
    # Streams leave hypercorn's priority tree only when they finish; a peer that opens and
    # resets streams one after another (never more than the limit at once) must not fill it.
    endpoint, _ = default_endpoint()
    async with serving(endpoint, transport) as url, connect(url) as client:
        with trio.fail_after(_DEADLINE):
            for _ in range(1100):
                state = await client.request(
                    "/invoke/Blocker/wait",
                    headers=invocation_headers(),
                    body=start_frame() + input_frame(b""),
                    end=False,
                )
                await client.reset(state)
            assert_greeted(await greet(client, "after"), "after")
        assert not client.terminated.is_set()
