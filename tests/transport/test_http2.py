"""Unit tests of the builtin server's sans-I/O HTTP/2 connection (restate_trio/_transport/http2.py).

Bytes go in through ``ServerConnection.receive_data``; what comes out is checked as listener
calls (a recording :class:`Recorder`) and as the exact frames ``data_to_send()`` holds, parsed
with hyperframe. h2's client-side ``H2Connection`` plays the well-behaved peer (and checks that
what we write is acceptable to a real implementation); malformed input is built with hyperframe
or, where hyperframe refuses to build it, with :func:`raw` (a frame head and any payload). No
sockets, no trio, no restate-server.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from restate_trio._transport.http2 import (
    PREFACE,
    ErrorCode,
    H2ProtocolError,
    ServerConnection,
    header_block,
)

REQUEST = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/invoke/Greeter/greet"),
    (b":authority", b"localhost:9080"),
    (b"content-type", b"application/vnd.restate.invocation.v5"),
    (b"x-restate-id", b"inv_1abc"),
]
RESPONSE = [
    (b":status", b"200"),
    (b"content-type", b"application/vnd.restate.invocation.v5"),
    (b"x-restate-server", b"restate-trio"),
]
# A valid HPACK block of the request for any decoder (header_block is stateless, test 3).
BLOCK = header_block(REQUEST)

DEFAULTS: dict[str, int] = {
    "max_concurrent_streams": 100,
    "stream_window": 1 << 20,
    "connection_window": 16 << 20,
    "max_header_list_size": 64 << 10,
}

NONE: frozenset[str] = frozenset()
ACK = frozenset({"ACK"})
END_STREAM = frozenset({"END_STREAM"})
END_HEADERS = frozenset({"END_HEADERS"})
END_BOTH = frozenset({"END_HEADERS", "END_STREAM"})

# Frame type ids, for raw frames.
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0, 1, 2, 3, 4, 5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 6, 7, 8, 9


# -- helpers --------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A Listener that records every call; hooks may call back into the connection."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    request_hook: Callable[[int], None] | None = None
    data_hook: Callable[[int, bytes], None] | None = None

    def on_request(self, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        assert all(type(n) is bytes and type(v) is bytes for n, v in headers)
        self.calls.append(("request", stream_id, [tuple(h) for h in headers], ended))
        if self.request_hook is not None:
            self.request_hook(stream_id)

    def on_data(self, stream_id: int, data: bytes, ended: bool) -> None:
        self.calls.append(("data", stream_id, bytes(data), ended))
        if self.data_hook is not None:
            self.data_hook(stream_id, data)

    def on_reset(self, stream_id: int) -> None:
        self.calls.append(("reset", stream_id))

    def on_goaway(self) -> None:
        self.calls.append(("goaway",))


def make_server(recorder: Recorder, **options: int) -> ServerConnection:
    conn = ServerConnection(recorder, **{**DEFAULTS, **options})
    conn.initiate()
    return conn


def raw(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """Any frame, however malformed (hyperframe validates what it serialises)."""
    n = len(payload)
    return struct.pack(">HBBBL", n >> 8, n & 0xFF, ftype, flags, stream_id) + payload


def parse(data: bytes) -> list[Frame]:
    """Every frame in ``data``, which must end on a frame boundary."""
    frames: list[Frame] = []
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 9, "output ends inside a frame head"
        frame, length = Frame.parse_frame_header(view[pos : pos + 9])
        assert pos + 9 + length <= len(data), "output ends inside a frame body"
        frame.parse_body(view[pos + 9 : pos + 9 + length])
        frames.append(frame)
        pos += 9 + length
    return frames


def describe(frame: Frame) -> tuple[Any, ...]:
    """A frame as a comparable tuple: type, then what identifies it."""
    flags = frozenset(frame.flags)
    if isinstance(frame, DataFrame):
        return ("DATA", frame.stream_id, flags, bytes(frame.data))
    if isinstance(frame, HeadersFrame):
        return ("HEADERS", frame.stream_id, flags, bytes(frame.data))
    if isinstance(frame, RstStreamFrame):
        return ("RST_STREAM", frame.stream_id, ErrorCode(frame.error_code))
    if isinstance(frame, SettingsFrame):
        assert frame.stream_id == 0
        return ("SETTINGS", flags, dict(frame.settings))
    if isinstance(frame, PingFrame):
        assert frame.stream_id == 0
        return ("PING", flags, bytes(frame.opaque_data))
    if isinstance(frame, GoAwayFrame):
        assert frame.stream_id == 0
        assert frame.additional_data == b""
        return ("GOAWAY", frame.last_stream_id, ErrorCode(frame.error_code))
    if isinstance(frame, WindowUpdateFrame):
        return ("WINDOW_UPDATE", frame.stream_id, frame.window_increment)
    raise AssertionError(f"the server wrote an unexpected frame: {frame!r}")


def output(conn: ServerConnection) -> list[tuple[Any, ...]]:
    return [describe(f) for f in parse(conn.data_to_send())]


def rst(stream_id: int, code: ErrorCode) -> tuple[Any, ...]:
    return ("RST_STREAM", stream_id, code)


def goaway(last_stream_id: int, code: ErrorCode) -> tuple[Any, ...]:
    return ("GOAWAY", last_stream_id, code)


def data_sizes(frames: list[tuple[Any, ...]]) -> list[tuple[int, int, frozenset[str]]]:
    assert all(f[0] == "DATA" for f in frames), frames
    return [(f[1], len(f[3]), f[2]) for f in frames]


def settings_frame(settings: dict[int, int] | None = None) -> bytes:
    return SettingsFrame(0, settings=settings or {}).serialize()


def headers_frame(stream_id: int, block: bytes = BLOCK, flags: tuple[str, ...] = ()) -> bytes:
    return HeadersFrame(stream_id, data=block, flags=("END_HEADERS", *flags)).serialize()


def data_frame(stream_id: int, data: bytes, *, end: bool = False) -> bytes:
    return DataFrame(stream_id, data=data, flags=("END_STREAM",) if end else ()).serialize()


def ping_frame(opaque: bytes = b"12345678", *, ack: bool = False) -> bytes:
    return PingFrame(0, opaque_data=opaque, flags=("ACK",) if ack else ()).serialize()


def raw_server(
    *, streams: tuple[int, ...] = (1,), recorder: Recorder | None = None, **options: int
) -> tuple[ServerConnection, Recorder]:
    """A server after the preface, an empty SETTINGS and a request (no END_STREAM) on each of
    ``streams``; its output and the recorder are cleared."""
    recorder = recorder if recorder is not None else Recorder()
    conn = make_server(recorder, **options)
    conn.receive_data(PREFACE + settings_frame())
    for sid in streams:
        conn.receive_data(headers_frame(sid))
    assert [c[:2] for c in recorder.calls] == [("request", sid) for sid in streams]
    recorder.calls.clear()
    conn.data_to_send()
    return conn, recorder


class Pair:
    """Our server and h2's client, handshake done."""

    def __init__(
        self,
        recorder: Recorder | None = None,
        *,
        client_settings: dict[int, int] | None = None,
        **options: int,
    ) -> None:
        self.recorder = recorder if recorder is not None else Recorder()
        self.server = make_server(self.recorder, **options)
        self.client = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.client.initiate_connection()
        if client_settings:
            self.client.update_settings(client_settings)
        self.to_server()
        self.handshake_events = self.to_client()
        self.to_server()  # the client's ACK of our SETTINGS: no answer
        assert self.server.data_to_send() == b""
        self.recorder.calls.clear()

    def to_server(self) -> None:
        self.server.receive_data(self.client.data_to_send())

    def to_client(self) -> list[h2.events.Event]:
        return self.client.receive_data(self.server.data_to_send())

    def send_body(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """The client's DATA in frames of at most 16,384 bytes (h2 does not split)."""
        for start in range(0, len(data), 16_384):
            last = start + 16_384 >= len(data)
            self.client.send_data(
                stream_id, data[start : start + 16_384], end_stream=end_stream and last
            )

    def flush(self) -> tuple[list[tuple[Any, ...]], list[h2.events.Event]]:
        """The server's output as frames, and what the h2 client made of it."""
        data = self.server.data_to_send()
        return [describe(f) for f in parse(data)], self.client.receive_data(data)


# -- 1. handshake ---------------------------------------------------------------------------------


def test_handshake_sends_our_settings_window_and_ack() -> None:
    recorder = Recorder()
    server = make_server(
        recorder,
        max_concurrent_streams=7,
        stream_window=100_000,
        connection_window=1_000_000,
        max_header_list_size=9_999,
    )
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    client.initiate_connection()
    server.receive_data(client.data_to_send())
    data = server.data_to_send()
    assert [describe(f) for f in parse(data)] == [
        ("SETTINGS", NONE, {0x3: 7, 0x4: 100_000, 0x6: 9_999}),
        ("WINDOW_UPDATE", 0, 1_000_000 - 65_535),
        ("SETTINGS", ACK, {}),
    ]
    events = client.receive_data(data)
    changed = [e for e in events if isinstance(e, h2.events.RemoteSettingsChanged)]
    assert len(changed) == 1
    assert {k: v.new_value for k, v in changed[0].changed_settings.items()} == {
        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 7,
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 100_000,
        h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 9_999,
    }
    assert any(isinstance(e, h2.events.SettingsAcknowledged) for e in events)
    assert client.outbound_flow_control_window == 1_000_000
    # The client's ACK of our SETTINGS needs no answer.
    server.receive_data(client.data_to_send())
    assert server.data_to_send() == b""
    assert recorder.calls == []
    assert not server.closed


def test_handshake_without_a_larger_connection_window_sends_no_window_update() -> None:
    server = make_server(Recorder(), connection_window=65_535)
    server.receive_data(PREFACE + settings_frame())
    assert output(server) == [
        ("SETTINGS", NONE, {0x3: 100, 0x4: 1 << 20, 0x6: 64 << 10}),
        ("SETTINGS", ACK, {}),
    ]


# -- 2. round trip --------------------------------------------------------------------------------


def test_round_trip_with_h2_client() -> None:
    pair = Pair()
    client, server = pair.client, pair.server
    client.send_headers(1, REQUEST)
    client.send_data(1, b"hello ")
    client.send_data(1, b"world", end_stream=True)
    pair.to_server()
    assert pair.recorder.calls == [
        ("request", 1, REQUEST, False),
        ("data", 1, b"hello ", False),
        ("data", 1, b"world", True),
    ]
    assert server.open_streams == 1  # our half is still open
    block = header_block(RESPONSE)
    server.send_headers(1, block)
    assert server.send_data(1, b"greetings", end_stream=True) == 9
    assert server.open_streams == 0
    frames, events = pair.flush()
    assert frames == [
        ("HEADERS", 1, END_HEADERS, block),
        ("DATA", 1, END_STREAM, b"greetings"),
    ]
    assert [type(e) for e in events] == [
        h2.events.ResponseReceived,
        h2.events.DataReceived,
        h2.events.StreamEnded,
    ]
    assert events[0].headers == RESPONSE
    assert events[1].data == b"greetings"


def test_stream_forgotten_when_response_ends_first_and_request_ends_later() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST)
    pair.to_server()
    pair.server.send_headers(1, header_block(RESPONSE), end_stream=True)
    assert pair.server.open_streams == 1  # the request half is still open
    frames, events = pair.flush()
    assert frames == [("HEADERS", 1, END_BOTH, header_block(RESPONSE))]
    assert [type(e) for e in events] == [h2.events.ResponseReceived, h2.events.StreamEnded]
    pair.client.send_data(1, b"late", end_stream=True)
    pair.to_server()
    assert pair.recorder.calls[-1] == ("data", 1, b"late", True)
    assert pair.server.open_streams == 0


def test_request_without_body() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST, end_stream=True)
    pair.client.send_headers(3, REQUEST)
    pair.to_server()
    assert pair.recorder.calls == [("request", 1, REQUEST, True), ("request", 3, REQUEST, False)]
    assert pair.server.open_streams == 2
    pair.server.send_headers(1, header_block(RESPONSE), end_stream=True)
    assert pair.server.open_streams == 1


# -- 3. header_block ------------------------------------------------------------------------------


def test_header_block_is_stateless() -> None:
    block = header_block(RESPONSE)
    assert header_block(RESPONSE) == block
    decoder = hpack.Decoder()
    assert decoder.decode(block, raw=True) == RESPONSE
    assert decoder.decode(block, raw=True) == RESPONSE
    assert len(decoder.header_table.dynamic_entries) == 0


def test_header_block_reused_on_two_connections() -> None:
    block = header_block(RESPONSE)
    for streams in ((1, 3), (1,)):
        pair = Pair()
        for sid in streams:
            pair.client.send_headers(sid, REQUEST, end_stream=True)
        pair.to_server()
        for sid in streams:
            pair.server.send_headers(sid, block, end_stream=True)
        _, events = pair.flush()
        received = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
        assert [(e.stream_id, e.headers) for e in received] == [(s, RESPONSE) for s in streams]


# -- 4. outbound ----------------------------------------------------------------------------------


def test_send_data_stops_at_stream_window_and_resumes() -> None:
    pair = Pair()
    pair.client.increment_flow_control_window(1_000_000)  # the connection is not the limit
    pair.client.send_headers(1, REQUEST, end_stream=True)
    pair.to_server()
    pair.server.send_headers(1, header_block(RESPONSE))
    pair.flush()
    body = bytes(range(256)) * 400  # 102,400 bytes; the stream window is 65,535
    assert pair.server.send_window(1) == 65_535
    assert pair.server.send_data(1, body, end_stream=True) == 65_535
    frames, _ = pair.flush()
    assert data_sizes(frames) == [(1, 16_384, NONE)] * 3 + [(1, 16_383, NONE)]
    assert b"".join(f[3] for f in frames) == body[:65_535]
    assert pair.server.send_window(1) == 0
    assert pair.server.send_data(1, body[65_535:], end_stream=True) == 0
    assert pair.server.data_to_send() == b""
    pair.client.increment_flow_control_window(20_000, stream_id=1)
    pair.to_server()
    assert pair.server.send_window(1) == 20_000
    rest = body[65_535:]
    assert pair.server.send_data(1, rest, end_stream=True) == 20_000
    pair.client.increment_flow_control_window(50_000, stream_id=1)
    pair.to_server()
    assert pair.server.send_data(1, rest[20_000:], end_stream=True) == len(rest) - 20_000
    frames, events = pair.flush()
    assert data_sizes(frames) == [
        (1, 16_384, NONE),
        (1, 3_616, NONE),
        (1, 16_384, NONE),
        (1, 481, END_STREAM),
    ]
    assert b"".join(f[3] for f in frames) == rest
    assert isinstance(events[-1], h2.events.StreamEnded)
    assert pair.server.open_streams == 0


def test_send_data_stops_at_connection_window_and_resumes() -> None:
    pair = Pair(client_settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1_000_000})
    pair.client.send_headers(1, REQUEST, end_stream=True)
    pair.client.send_headers(3, REQUEST, end_stream=True)
    pair.to_server()
    pair.server.send_headers(1, header_block(RESPONSE))
    pair.server.send_headers(3, header_block(RESPONSE))
    pair.flush()
    assert pair.server.send_data(1, b"a" * 50_000) == 50_000
    assert pair.server.send_window(3) == 15_535
    assert pair.server.send_data(3, b"b" * 50_000, end_stream=True) == 15_535
    frames, _ = pair.flush()
    assert sum(size for _, size, _ in data_sizes(frames)) == 65_535
    assert all(flags == NONE for _, _, flags in data_sizes(frames))
    assert pair.server.send_window(1) == 0
    pair.client.increment_flow_control_window(100)
    pair.to_server()
    assert pair.server.send_window(1) == pair.server.send_window(3) == 100
    assert pair.server.send_data(3, b"b" * 100, end_stream=True) == 100
    frames, _ = pair.flush()
    assert data_sizes(frames) == [(3, 100, END_STREAM)]


def test_send_data_honours_a_larger_max_frame_size() -> None:
    pair = Pair(
        client_settings={
            h2.settings.SettingCodes.MAX_FRAME_SIZE: 100_000,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1_000_000,
        }
    )
    assert pair.server.max_outbound_frame_size == 100_000
    pair.client.increment_flow_control_window(1_000_000)
    pair.client.send_headers(1, REQUEST, end_stream=True)
    pair.to_server()
    pair.server.send_headers(1, header_block(RESPONSE))
    pair.flush()
    assert pair.server.send_data(1, b"x" * 250_000, end_stream=True) == 250_000
    frames, events = pair.flush()
    assert data_sizes(frames) == [(1, 100_000, NONE)] * 2 + [(1, 50_000, END_STREAM)]
    assert sum(len(e.data) for e in events if isinstance(e, h2.events.DataReceived)) == 250_000


def test_empty_send_data_with_end_stream_sends_one_empty_data() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST, end_stream=True)
    pair.to_server()
    pair.server.send_headers(1, header_block(RESPONSE))
    pair.flush()
    assert pair.server.send_data(1, b"x" * 65_535) == 65_535  # both windows are now empty
    pair.flush()
    assert pair.server.send_data(1, b"", end_stream=True) == 0
    frames, events = pair.flush()
    assert frames == [("DATA", 1, END_STREAM, b"")]
    assert isinstance(events[-1], h2.events.StreamEnded)
    assert pair.server.open_streams == 0


def test_initial_window_size_change_shifts_open_streams_windows() -> None:
    pair = Pair()
    pair.client.increment_flow_control_window(1_000_000)
    pair.client.send_headers(1, REQUEST, end_stream=True)
    pair.to_server()
    pair.server.send_headers(1, header_block(RESPONSE))
    pair.flush()
    assert pair.server.send_data(1, b"x" * 65_535) == 65_535
    pair.flush()
    pair.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 66_535})
    pair.to_server()
    assert pair.server.send_window(1) == 1_000
    # Lowered below what was sent: the window goes negative (RFC 9113 §6.9.2).
    pair.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 60_000})
    pair.to_server()
    assert pair.server.send_window(1) == 0
    assert pair.server.send_data(1, b"y" * 10) == 0
    pair.client.increment_flow_control_window(5_535, stream_id=1)
    pair.to_server()
    assert pair.server.send_window(1) == 0  # -5,535 + 5,535
    pair.client.increment_flow_control_window(7, stream_id=1)
    pair.to_server()
    assert pair.server.send_window(1) == 7
    # A stream opened now starts at the new initial window.
    pair.client.send_headers(3, REQUEST, end_stream=True)
    pair.to_server()
    assert pair.server.send_window(3) == 60_000
    frames, _ = pair.flush()
    assert [f[0] for f in frames] == ["SETTINGS", "SETTINGS"]  # the two ACKs


def test_initial_window_size_change_beyond_the_maximum_is_a_flow_control_error() -> None:
    # RFC 9113 §6.9.2: a change of SETTINGS_INITIAL_WINDOW_SIZE that makes any flow-control
    # window exceed 2^31-1 MUST be treated as a connection error of type FLOW_CONTROL_ERROR.
    conn, _ = raw_server()
    conn.receive_data(WindowUpdateFrame(1, window_increment=2**31 - 1 - 65_535).serialize())
    assert conn.send_window(1) == 65_535  # the connection window
    with pytest.raises(H2ProtocolError) as info:
        conn.receive_data(settings_frame({0x4: 65_536}))
    assert info.value.code == ErrorCode.FLOW_CONTROL_ERROR
    assert output(conn)[-1] == goaway(1, ErrorCode.FLOW_CONTROL_ERROR)


# -- 5. inbound -----------------------------------------------------------------------------------


def test_stream_credit_returned_after_half_the_window() -> None:
    pair = Pair(stream_window=1_000)
    pair.client.send_headers(1, REQUEST)
    pair.client.send_data(1, b"a" * 499)
    pair.to_server()
    assert pair.server.data_to_send() == b""
    pair.client.send_data(1, b"b")
    pair.to_server()
    frames, _ = pair.flush()
    assert frames == [("WINDOW_UPDATE", 1, 500)]
    pair.client.send_data(1, b"c" * 1_000)  # the whole window again: the credit was real
    pair.to_server()
    frames, _ = pair.flush()
    assert frames == [("WINDOW_UPDATE", 1, 1_000)]
    assert [c[:2] for c in pair.recorder.calls] == [("request", 1)] + [("data", 1)] * 3


def test_connection_credit_returned_after_half_the_window() -> None:
    pair = Pair(connection_window=80_000)
    pair.client.send_headers(1, REQUEST)
    pair.send_body(1, b"a" * 39_999)
    pair.to_server()
    assert pair.server.data_to_send() == b""
    pair.client.send_data(1, b"b")
    pair.to_server()
    frames, _ = pair.flush()
    assert frames == [("WINDOW_UPDATE", 0, 40_000)]


def test_an_ended_stream_gets_no_stream_credit() -> None:
    pair = Pair(stream_window=1_000, connection_window=1_000_000)
    pair.client.send_headers(1, REQUEST)
    pair.client.send_data(1, b"a" * 600, end_stream=True)
    pair.to_server()
    assert pair.recorder.calls[-1] == ("data", 1, b"a" * 600, True)
    assert pair.server.data_to_send() == b""


def test_connection_window_overrun_is_a_flow_control_error() -> None:
    # Credit comes back at half the window, so with a window of 32 KiB or more no DATA frame
    # (at most 16 KiB) can overrun it: a small one makes the check reachable.
    conn, recorder = raw_server(connection_window=1_000)
    conn.receive_data(data_frame(1, b"a" * 400))
    with pytest.raises(H2ProtocolError) as info:
        conn.receive_data(data_frame(1, b"b" * 601))
    assert info.value.code == ErrorCode.FLOW_CONTROL_ERROR
    assert output(conn) == [goaway(1, ErrorCode.FLOW_CONTROL_ERROR)]
    assert recorder.calls == [("data", 1, b"a" * 400, False)]


def test_stream_window_overrun_resets_that_stream_only() -> None:
    conn, recorder = raw_server(streams=(1, 3), stream_window=100)
    conn.receive_data(data_frame(1, b"a" * 101) + data_frame(3, b"b" * 40))
    assert output(conn) == [rst(1, ErrorCode.FLOW_CONTROL_ERROR)]
    assert recorder.calls == [("reset", 1), ("data", 3, b"b" * 40, False)]
    assert conn.open_streams == 1
    assert not conn.closed


# -- 6. connection errors -------------------------------------------------------------------------


def assert_connection_error(
    conn: ServerConnection,
    recorder: Recorder,
    data: bytes,
    code: ErrorCode,
    last_stream_id: int,
) -> None:
    """``data`` raises ``code``; the output is exactly that GOAWAY; later input is ignored."""
    with pytest.raises(H2ProtocolError) as info:
        conn.receive_data(data)
    assert info.value.code == code
    assert conn.closed
    assert output(conn) == [goaway(last_stream_id, code)]
    calls = list(recorder.calls)
    conn.receive_data(ping_frame() + headers_frame(101) + data_frame(1, b"late"))
    assert conn.data_to_send() == b""
    assert recorder.calls == calls


def test_bad_preface() -> None:
    recorder = Recorder()
    conn = make_server(recorder)
    conn.data_to_send()
    bad = b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n" + settings_frame()
    assert_connection_error(conn, recorder, bad, ErrorCode.PROTOCOL_ERROR, 0)


def test_bad_preface_a_byte_at_a_time() -> None:
    recorder = Recorder()
    conn = make_server(recorder)
    conn.data_to_send()
    bad = PREFACE[:10] + b"X" + PREFACE[11:]
    for i in range(10):
        conn.receive_data(bad[i : i + 1])
    assert conn.data_to_send() == b""
    assert_connection_error(conn, recorder, bad[10:11], ErrorCode.PROTOCOL_ERROR, 0)


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(ping_frame(), id="ping"),
        pytest.param(headers_frame(1), id="headers"),
        pytest.param(SettingsFrame(0, flags=("ACK",)).serialize(), id="settings-ack"),
    ],
)
def test_first_frame_not_settings(first: bytes) -> None:
    recorder = Recorder()
    conn = make_server(recorder)
    conn.data_to_send()
    assert_connection_error(conn, recorder, PREFACE + first, ErrorCode.PROTOCOL_ERROR, 0)


def oversized_header(size: int) -> bytes:
    return header_block([*REQUEST, (b"x-big", b"v" * size)])


PROTOCOL, FRAME_SIZE, FLOW = (
    ErrorCode.PROTOCOL_ERROR,
    ErrorCode.FRAME_SIZE_ERROR,
    ErrorCode.FLOW_CONTROL_ERROR,
)

# (id, constructor options, input after the preface, SETTINGS and HEADERS on stream 1, code,
# the GOAWAY's last stream id)
CONNECTION_ERRORS: list[tuple[str, dict[str, int], bytes, ErrorCode, int]] = [
    ("data-on-stream-0", {}, raw(DATA, 0, 0, b"x"), PROTOCOL, 1),
    ("headers-on-stream-0", {}, raw(HEADERS, 0x4, 0, BLOCK), PROTOCOL, 1),
    ("headers-on-even-stream", {}, headers_frame(2), PROTOCOL, 1),
    ("data-on-idle-stream", {}, data_frame(5, b"x"), PROTOCOL, 1),
    (
        "header-block-interrupted",
        {},
        HeadersFrame(3, data=BLOCK[:5]).serialize() + ping_frame(),
        PROTOCOL,
        1,
    ),
    (
        "header-block-interrupted-by-unknown-frame",
        {},
        HeadersFrame(3, data=BLOCK[:5]).serialize() + raw(0xFA, 0, 0, b"??"),
        PROTOCOL,
        1,
    ),
    ("continuation-without-block", {}, ContinuationFrame(1, data=BLOCK).serialize(), PROTOCOL, 1),
    (
        "continuation-on-another-stream",
        {},
        HeadersFrame(3, data=BLOCK[:5]).serialize()
        + ContinuationFrame(5, data=BLOCK[5:], flags=("END_HEADERS",)).serialize(),
        PROTOCOL,
        1,
    ),
    (
        "continuation-flood",
        {"max_header_list_size": 1_000},
        HeadersFrame(3, data=b"\x00" * 400).serialize()
        + ContinuationFrame(3, data=b"\x00" * 400).serialize() * 2,
        ErrorCode.ENHANCE_YOUR_CALM,
        1,
    ),
    (
        "header-list-too-large",
        {"max_header_list_size": 1_000},
        headers_frame(3, oversized_header(1_000)),
        ErrorCode.ENHANCE_YOUR_CALM,
        1,
    ),
    ("undecodable-hpack", {}, headers_frame(3, b"\x80"), ErrorCode.COMPRESSION_ERROR, 1),
    (
        "undecodable-hpack-index",
        {},
        headers_frame(3, b"\xfe"),  # index 126: the dynamic table is empty
        ErrorCode.COMPRESSION_ERROR,
        1,
    ),
    (
        "push-promise",
        {},
        PushPromiseFrame(1, promised_stream_id=2, data=BLOCK, flags=("END_HEADERS",)).serialize(),
        PROTOCOL,
        1,
    ),
    ("ping-wrong-size", {}, raw(PING, 0, 0, b"1234567"), FRAME_SIZE, 1),
    ("ping-on-stream", {}, raw(PING, 0, 1, b"12345678"), PROTOCOL, 1),
    ("settings-wrong-size", {}, raw(SETTINGS, 0, 0, b"\x00\x04\x00\x00\x01"), FRAME_SIZE, 1),
    (
        "settings-ack-with-body",
        {},
        raw(SETTINGS, 0x1, 0, b"\x00\x04\x00\x00\x01\x00"),
        FRAME_SIZE,
        1,
    ),
    ("settings-on-stream", {}, raw(SETTINGS, 0, 1, b""), PROTOCOL, 1),
    ("rst-stream-wrong-size", {}, raw(RST_STREAM, 0, 1, b"\x00\x00\x08"), FRAME_SIZE, 1),
    ("rst-stream-on-stream-0", {}, raw(RST_STREAM, 0, 0, b"\x00\x00\x00\x08"), PROTOCOL, 1),
    ("rst-stream-on-idle-stream", {}, RstStreamFrame(5, error_code=8).serialize(), PROTOCOL, 1),
    ("window-update-wrong-size", {}, raw(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"), FRAME_SIZE, 1),
    (
        "window-update-wrong-size-on-stream",
        {},
        raw(WINDOW_UPDATE, 0, 1, b"\x00\x00\x00\x00\x01"),
        FRAME_SIZE,
        1,
    ),
    ("window-update-on-idle-stream", {}, WindowUpdateFrame(5, 10).serialize(), PROTOCOL, 1),
    ("zero-connection-window-update", {}, WindowUpdateFrame(0, 0).serialize(), PROTOCOL, 1),
    (
        "connection-window-beyond-maximum",
        {},
        WindowUpdateFrame(0, 2**31 - 65_535).serialize(),
        FLOW,
        1,
    ),
    ("goaway-wrong-size", {}, raw(GOAWAY, 0, 0, b"\x00\x00\x00\x00\x00\x00\x00"), FRAME_SIZE, 1),
    ("goaway-on-stream", {}, raw(GOAWAY, 0, 1, bytes(8)), PROTOCOL, 1),
    ("priority-on-stream-0", {}, raw(PRIORITY, 0, 0, bytes(5)), PROTOCOL, 1),
    ("max-frame-size-too-small", {}, settings_frame({0x5: 16_383}), PROTOCOL, 1),
    ("max-frame-size-too-large", {}, settings_frame({0x5: 2**24}), PROTOCOL, 1),
    ("enable-push-2", {}, settings_frame({0x2: 2}), PROTOCOL, 1),
    ("initial-window-size-too-large", {}, settings_frame({0x4: 2**31}), FLOW, 1),
    (
        "too-many-streams",
        {"max_concurrent_streams": 2},
        headers_frame(3) + headers_frame(5),
        PROTOCOL,
        3,
    ),
    # 11. Padding as long as the frame (or longer than what is left for the block).
    ("data-padding-as-long-as-frame", {}, raw(DATA, 0x8, 1, b"\x05abcd"), PROTOCOL, 1),
    ("data-padded-empty", {}, raw(DATA, 0x8, 1, b""), PROTOCOL, 1),
    (
        "headers-padding-too-long",
        {},
        raw(HEADERS, 0x4 | 0x8, 3, bytes([len(BLOCK) + 1]) + BLOCK),
        PROTOCOL,
        1,
    ),
    (
        "headers-priority-and-padding-too-long",
        {},
        # The padding fits the frame, but not beside the 5 bytes of priority.
        raw(HEADERS, 0x4 | 0x8 | 0x20, 3, bytes([len(BLOCK) + 1]) + bytes(5) + BLOCK),
        PROTOCOL,
        1,
    ),
]


@pytest.mark.parametrize(
    ("options", "data", "code", "last_stream_id"),
    [pytest.param(*case[1:], id=case[0]) for case in CONNECTION_ERRORS],
)
def test_connection_error(
    options: dict[str, int], data: bytes, code: ErrorCode, last_stream_id: int
) -> None:
    conn, recorder = raw_server(**options)
    assert_connection_error(conn, recorder, data, code, last_stream_id)


def test_frame_too_large_refused_on_its_head_alone() -> None:
    conn, recorder = raw_server()
    head = struct.pack(">HBBBL", 16_385 >> 8, 16_385 & 0xFF, DATA, 0, 1)  # no body follows
    assert_connection_error(conn, recorder, head, ErrorCode.FRAME_SIZE_ERROR, 1)


def test_too_many_streams_accepts_the_allowed_ones() -> None:
    conn, recorder = raw_server(max_concurrent_streams=2)
    with pytest.raises(H2ProtocolError):
        conn.receive_data(headers_frame(3) + headers_frame(5))
    assert recorder.calls == [("request", 3, REQUEST, False)]
    assert output(conn) == [goaway(3, ErrorCode.PROTOCOL_ERROR)]


def test_a_closed_stream_frees_its_concurrency_slot() -> None:
    conn, recorder = raw_server(max_concurrent_streams=1)
    conn.send_headers(1, header_block(RESPONSE), end_stream=True)
    conn.receive_data(data_frame(1, b"", end=True) + headers_frame(3))
    assert recorder.calls[-1] == ("request", 3, REQUEST, False)
    assert not conn.closed


# -- 7. stream errors -----------------------------------------------------------------------------


def test_data_after_end_stream_resets_the_stream() -> None:
    conn, recorder = raw_server(streams=())
    conn.receive_data(headers_frame(1, flags=("END_STREAM",)))
    conn.data_to_send()
    conn.receive_data(data_frame(1, b"more"))
    assert output(conn) == [rst(1, ErrorCode.STREAM_CLOSED)]
    assert recorder.calls == [("request", 1, REQUEST, True), ("reset", 1)]
    assert conn.open_streams == 0
    assert not conn.closed


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(WindowUpdateFrame(1, 0).serialize(), ErrorCode.PROTOCOL_ERROR, id="zero-wu"),
        pytest.param(
            WindowUpdateFrame(1, 2**31 - 65_535).serialize(),
            ErrorCode.FLOW_CONTROL_ERROR,
            id="wu-beyond-maximum",
        ),
        pytest.param(raw(PRIORITY, 0, 1, bytes(4)), ErrorCode.FRAME_SIZE_ERROR, id="priority-4"),
        pytest.param(raw(PRIORITY, 0, 1, bytes(6)), ErrorCode.FRAME_SIZE_ERROR, id="priority-6"),
    ],
)
def test_stream_error_resets_the_stream(frame: bytes, code: ErrorCode) -> None:
    conn, recorder = raw_server(streams=(1, 3))
    conn.receive_data(frame + data_frame(3, b"ok"))
    assert output(conn) == [rst(1, code)]
    assert recorder.calls == [("reset", 1), ("data", 3, b"ok", False)]
    assert conn.open_streams == 1
    conn.receive_data(ping_frame())
    assert output(conn) == [("PING", ACK, b"12345678")]


def test_headers_on_a_closed_stream_is_stream_closed() -> None:
    conn, recorder = raw_server(streams=())
    conn.receive_data(headers_frame(1, flags=("END_STREAM",)))
    conn.send_headers(1, header_block(RESPONSE), end_stream=True)
    assert conn.open_streams == 0
    conn.data_to_send()
    recorder.calls.clear()
    conn.receive_data(headers_frame(1, flags=("END_STREAM",)))
    assert output(conn) == [rst(1, ErrorCode.STREAM_CLOSED)]
    assert recorder.calls == []
    assert not conn.closed


# -- 8. control frames ----------------------------------------------------------------------------


def test_ping_is_acknowledged_with_the_same_bytes() -> None:
    conn, recorder = raw_server()
    conn.receive_data(ping_frame(b"\x00\xffabc\x01\x02\x03"))
    assert output(conn) == [("PING", ACK, b"\x00\xffabc\x01\x02\x03")]
    assert recorder.calls == []


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(ping_frame(ack=True), id="ping-ack"),
        pytest.param(SettingsFrame(0, flags=("ACK",)).serialize(), id="settings-ack"),
        pytest.param(raw(0xFA, 0, 0, b"whatever"), id="unknown-type-stream-0"),
        pytest.param(raw(0xFA, 0xFF, 1, b"whatever"), id="unknown-type-stream-1"),
        pytest.param(raw(0x10, 0, 7, b""), id="unknown-type-idle-stream"),
        pytest.param(PriorityFrame(1, depends_on=0, stream_weight=5).serialize(), id="priority"),
        pytest.param(PriorityFrame(9, depends_on=1).serialize(), id="priority-idle-stream"),
        pytest.param(WindowUpdateFrame(1, 10).serialize(), id="stream-window-update"),
    ],
)
def test_frames_that_need_no_answer(frame: bytes) -> None:
    conn, recorder = raw_server()
    conn.receive_data(frame)
    assert conn.data_to_send() == b""
    assert recorder.calls == []
    assert conn.open_streams == 1
    assert not conn.closed
    # The connection goes on; a PRIORITY for an idle stream did not open it.
    conn.receive_data(headers_frame(9) + data_frame(1, b"x"))
    assert recorder.calls == [("request", 9, REQUEST, False), ("data", 1, b"x", False)]


def test_unknown_setting_is_ignored() -> None:
    conn, _ = raw_server()
    conn.receive_data(settings_frame({0x99: 12345, 0x1: 100, 0x3: 1, 0x6: 10}))
    assert output(conn) == [("SETTINGS", ACK, {})]
    assert conn.max_outbound_frame_size == 16_384
    assert conn.send_window(1) == 65_535


# -- 9. peer resets -------------------------------------------------------------------------------


def test_rst_stream_from_the_peer() -> None:
    conn, recorder = raw_server(streams=(1, 3), connection_window=100_000)
    conn.receive_data(RstStreamFrame(1, error_code=ErrorCode.CANCEL).serialize())
    assert recorder.calls == [("reset", 1)]
    assert conn.open_streams == 1
    assert conn.data_to_send() == b""
    # Late DATA for it: dropped silently, but it counts against the connection window (half of
    # 100,000 is credited back once 50,000 bytes came, whichever stream they were for).
    conn.receive_data(data_frame(1, b"a" * 16_384) * 3)
    assert conn.data_to_send() == b""
    assert recorder.calls == [("reset", 1)]
    conn.receive_data(data_frame(1, b"a" * 848, end=True))
    assert output(conn) == [("WINDOW_UPDATE", 0, 50_000)]
    assert recorder.calls == [("reset", 1)]
    # A second RST_STREAM for it is no news.
    conn.receive_data(RstStreamFrame(1, error_code=ErrorCode.CANCEL).serialize())
    assert recorder.calls == [("reset", 1)]
    assert conn.data_to_send() == b""


def test_rst_stream_from_h2_client() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST)
    pair.client.reset_stream(1, error_code=ErrorCode.CANCEL)
    pair.to_server()
    assert pair.recorder.calls == [("request", 1, REQUEST, False), ("reset", 1)]
    assert pair.server.open_streams == 0
    # Our late response goes nowhere.
    pair.server.send_headers(1, header_block(RESPONSE))
    assert pair.server.send_data(1, b"late", end_stream=True) == 4
    assert pair.server.data_to_send() == b""


def test_goaway_from_the_peer() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST)
    pair.client.close_connection()
    pair.to_server()
    assert pair.recorder.calls == [("request", 1, REQUEST, False), ("goaway",)]
    assert pair.server.data_to_send() == b""
    assert not pair.server.closed


# -- 10. trailers ---------------------------------------------------------------------------------


def test_trailers_end_the_stream() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST)
    pair.client.send_data(1, b"body")
    pair.client.send_headers(1, [(b"x-trailer", b"1")], end_stream=True)
    pair.to_server()
    assert pair.recorder.calls == [
        ("request", 1, REQUEST, False),
        ("data", 1, b"body", False),
        ("data", 1, b"", True),
    ]
    pair.server.send_headers(1, header_block(RESPONSE), end_stream=True)
    assert pair.server.open_streams == 0


def test_trailers_without_end_stream_reset_the_stream() -> None:
    conn, recorder = raw_server()
    conn.receive_data(headers_frame(1, header_block([(b"x-trailer", b"1")])))
    assert output(conn) == [rst(1, ErrorCode.PROTOCOL_ERROR)]
    assert recorder.calls == [("reset", 1)]
    assert conn.open_streams == 0


# -- 11. padding ----------------------------------------------------------------------------------


def test_data_padding_is_stripped() -> None:
    conn, recorder = raw_server(stream_window=100)
    padded = DataFrame(1, data=b"abc", pad_length=20, flags=("PADDED",)).serialize()
    conn.receive_data(padded)
    assert recorder.calls == [("data", 1, b"abc", False)]
    assert conn.data_to_send() == b""
    # The padding counts against the window: 24 bytes of 100 went, 26 more reach half of it.
    conn.receive_data(raw(DATA, 0x8, 1, b"\x19" + b"\x00" * 25))
    assert recorder.calls[-1] == ("data", 1, b"", False)  # padding one less than the frame
    assert output(conn) == [("WINDOW_UPDATE", 1, 50)]


def test_headers_padding_and_priority_are_stripped() -> None:
    conn, recorder = raw_server(streams=())
    frame = HeadersFrame(
        3,
        data=BLOCK,
        pad_length=17,
        depends_on=1,
        stream_weight=200,
        flags=("PADDED", "PRIORITY", "END_HEADERS", "END_STREAM"),
    ).serialize()
    conn.receive_data(PriorityFrame(1).serialize() + frame)
    conn.receive_data(HeadersFrame(5, data=BLOCK, pad_length=0, flags=("PADDED",)).serialize())
    conn.receive_data(ContinuationFrame(5, data=b"", flags=("END_HEADERS",)).serialize())
    assert recorder.calls == [("request", 3, REQUEST, True), ("request", 5, REQUEST, False)]
    assert conn.data_to_send() == b""


def test_header_block_across_continuations() -> None:
    conn, recorder = raw_server(streams=())
    conn.receive_data(
        HeadersFrame(1, data=BLOCK[:3], flags=("END_STREAM",)).serialize()
        + ContinuationFrame(1, data=BLOCK[3:10]).serialize()
        + ContinuationFrame(1, data=BLOCK[10:], flags=("END_HEADERS",)).serialize()
    )
    assert recorder.calls == [("request", 1, REQUEST, True)]


# -- 12. byte split -------------------------------------------------------------------------------


def test_any_byte_split_gives_the_same_calls() -> None:
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    client.initiate_connection()
    client.send_headers(1, REQUEST)
    client.send_data(1, b"x" * 1_000)
    client.send_headers(3, REQUEST, end_stream=True)
    client.send_data(1, b"y" * 10_000)
    client.send_data(1, b"y" * 10_000)
    client.ping(b"pingpong")
    client.send_headers(5, [*REQUEST, (b"x-extra", b"z" * 30_000)])  # with a CONTINUATION
    client.send_headers(5, [(b"x-trailer", b"t")], end_stream=True)
    client.send_data(1, b"", end_stream=True)
    stream = client.data_to_send()

    whole, by_byte = Recorder(), Recorder()
    conn_whole, conn_by_byte = make_server(whole), make_server(by_byte)
    conn_whole.receive_data(stream)
    for i in range(len(stream)):
        conn_by_byte.receive_data(stream[i : i + 1])
    assert by_byte.calls == whole.calls
    assert conn_by_byte.data_to_send() == conn_whole.data_to_send()
    assert [c[:2] for c in whole.calls] == [
        ("request", 1),
        ("data", 1),
        ("request", 3),
        ("data", 1),
        ("data", 1),
        ("request", 5),
        ("data", 5),
        ("data", 1),
    ]
    assert (
        b"".join(c[2] for c in whole.calls if c[:2] == ("data", 1)) == b"x" * 1_000 + b"y" * 20_000
    )
    assert whole.calls[-1] == ("data", 1, b"", True)


# -- 13. control bound ----------------------------------------------------------------------------


def test_a_peer_that_does_not_read_gets_enhance_your_calm() -> None:
    conn, _ = raw_server()
    conn.receive_data(ping_frame() * 5_000)
    conn.receive_data(ping_frame() * 5_000)  # 10,000 unread answers: still fine
    assert not conn.closed
    with pytest.raises(H2ProtocolError) as info:
        conn.receive_data(ping_frame())
    assert info.value.code == ErrorCode.ENHANCE_YOUR_CALM
    frames = output(conn)
    assert frames[-1] == goaway(1, ErrorCode.ENHANCE_YOUR_CALM)
    assert len(frames) > 10_000
    assert set(frames[:-1]) == {("PING", ACK, b"12345678")}
    conn.receive_data(ping_frame())
    assert conn.data_to_send() == b""


def test_data_to_send_resets_the_control_count() -> None:
    conn, _ = raw_server()
    for _ in range(3):
        conn.receive_data(ping_frame() * 10_000)
        assert len(output(conn)) == 10_000
    assert not conn.closed


def test_resets_count_as_control_frames() -> None:
    conn, _ = raw_server()
    conn.receive_data(ping_frame() * 10_000)
    with pytest.raises(H2ProtocolError) as info:
        conn.receive_data(raw(PRIORITY, 0, 1, bytes(4)))  # a stream error: RST_STREAM owed
    assert info.value.code == ErrorCode.ENHANCE_YOUR_CALM


# -- 14. reentrancy -------------------------------------------------------------------------------


def test_listener_refuses_a_stream_from_on_request() -> None:
    recorder = Recorder()
    pair = Pair(recorder)
    recorder.request_hook = lambda sid: (
        pair.server.reset_stream(sid, ErrorCode.REFUSED_STREAM) if sid == 1 else None
    )
    pair.client.send_headers(1, REQUEST)
    pair.client.send_data(1, b"refused body")
    pair.client.send_headers(3, REQUEST)
    pair.client.send_data(3, b"accepted body")
    pair.to_server()
    assert recorder.calls == [
        ("request", 1, REQUEST, False),
        ("request", 3, REQUEST, False),
        ("data", 3, b"accepted body", False),
    ]
    assert pair.server.open_streams == 1
    frames, events = pair.flush()
    assert frames == [rst(1, ErrorCode.REFUSED_STREAM)]
    assert [(type(e), e.stream_id, e.error_code) for e in events] == [
        (h2.events.StreamReset, 1, ErrorCode.REFUSED_STREAM)
    ]
    # More DATA the client had in flight for it: dropped.
    conn = pair.server
    conn.receive_data(data_frame(1, b"still coming", end=True))
    assert conn.data_to_send() == b""
    assert recorder.calls[-1] == ("data", 3, b"accepted body", False)
    assert not conn.closed


def test_listener_closes_the_connection_from_on_data() -> None:
    recorder = Recorder()
    conn, _ = raw_server(recorder=recorder)
    recorder.data_hook = lambda sid, data: conn.close_connection(ErrorCode.NO_ERROR)
    conn.receive_data(data_frame(1, b"first") + data_frame(1, b"second") + headers_frame(3))
    assert recorder.calls == [("data", 1, b"first", False)]
    assert output(conn) == [goaway(1, ErrorCode.NO_ERROR)]
    conn.receive_data(data_frame(1, b"third"))
    assert recorder.calls == [("data", 1, b"first", False)]
    assert conn.data_to_send() == b""


# -- 15. close ------------------------------------------------------------------------------------


def test_close_connection_sends_one_goaway() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST)
    pair.to_server()
    pair.server.close_connection(ErrorCode.NO_ERROR)
    pair.server.close_connection(ErrorCode.NO_ERROR)
    pair.server.close_connection(ErrorCode.INTERNAL_ERROR)
    pair.server.reset_stream(1, ErrorCode.CANCEL)
    frames, events = pair.flush()
    assert frames == [goaway(1, ErrorCode.NO_ERROR)]
    assert [(type(e), e.error_code, e.last_stream_id) for e in events] == [
        (h2.events.ConnectionTerminated, ErrorCode.NO_ERROR, 1)
    ]
    assert pair.server.closed
