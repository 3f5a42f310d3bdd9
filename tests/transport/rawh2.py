"""A minimal HTTP/2 (prior knowledge, cleartext) client on trio, for poking at the endpoint.

It exposes what a normal client hides: when exactly a response stream ends, sending DATA after
the response, resetting a stream. One background task reads the connection and records, per
stream, the response headers, the body bytes and the end/reset events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import trio

from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import FrameDecoder, encode_frame

INVOCATION_V6 = "application/vnd.restate.invocation.v6"


@dataclass
class StreamState:
    stream_id: int
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    ended: trio.Event = field(default_factory=trio.Event)
    reset: trio.Event = field(default_factory=trio.Event)
    reset_code: int | None = None
    changed: trio.Event = field(default_factory=trio.Event)

    def notify(self) -> None:
        event, self.changed = self.changed, trio.Event()
        event.set()

    def frames(self) -> list[tuple[int, object]]:
        """The body decoded as Restate protocol frames: ``(type id, message)``."""
        decoder = FrameDecoder()
        out: list[tuple[int, object]] = []
        for frame in decoder.feed(bytes(self.body)):
            out.append((frame.type, m.decode(frame.type, frame.payload)))
        assert decoder.pending == 0, "response body ends in the middle of a frame"
        return out


class H2Client:
    """One HTTP/2 connection. Use :func:`connect`."""

    def __init__(self, stream: trio.SocketStream, authority: str) -> None:
        self._socket = stream
        self._authority = authority
        self._conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="latin-1")
        )
        self._send_lock = trio.Lock()
        self.streams: dict[int, StreamState] = {}
        self.terminated = trio.Event()
        self.goaway_code: int | None = None
        self.closed = trio.Event()
        self._window_opened = trio.Event()

    async def _flush(self) -> None:
        data = self._conn.data_to_send()
        if data:
            async with self._send_lock:
                await self._socket.send_all(data)

    async def _reader(self) -> None:
        try:
            while True:
                data = await self._socket.receive_some(65536)
                if not data:
                    break
                for event in self._conn.receive_data(data):
                    self._on_event(event)
                await self._flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.closed.set()
            for state in self.streams.values():
                state.notify()

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            state = self.streams[event.stream_id]
            for name, value in event.headers:
                if name == ":status":
                    state.status = int(value)
                else:
                    state.headers[name] = value
            state.notify()
        elif isinstance(event, h2.events.DataReceived):
            state = self.streams[event.stream_id]
            state.body += event.data
            self._conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            state.notify()
        elif isinstance(event, h2.events.StreamEnded):
            state = self.streams[event.stream_id]
            state.ended.set()
            state.notify()
        elif isinstance(event, h2.events.StreamReset):
            state = self.streams.get(event.stream_id)
            if state is not None:
                state.reset_code = event.error_code
                state.reset.set()
                state.notify()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway_code = event.error_code
            self.terminated.set()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            event, self._window_opened = self._window_opened, trio.Event()
            event.set()

    async def request(
        self,
        path: str,
        *,
        method: str = "POST",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        end: bool = True,
    ) -> StreamState:
        """Open a stream; send headers and ``body``; half-close it if ``end``."""
        stream_id = self._conn.get_next_available_stream_id()
        state = self.streams[stream_id] = StreamState(stream_id)
        all_headers = [
            (":method", method),
            (":scheme", "http"),
            (":authority", self._authority),
            (":path", path),
            *headers,
        ]
        self._conn.send_headers(stream_id, all_headers, end_stream=end and not body)
        if body:
            self._conn.send_data(stream_id, body, end_stream=end)
        await self._flush()
        return state

    async def send(self, state: StreamState, data: bytes, *, end: bool = False) -> None:
        self._conn.send_data(state.stream_id, data, end_stream=end)
        await self._flush()

    async def send_within_windows(self, state: StreamState, data: bytes) -> None:
        """Send ``data`` as the server's flow-control windows allow (waiting for its
        WINDOW_UPDATEs), in frames of at most the allowed size."""
        view = memoryview(data)
        while view:
            window = self._conn.local_flow_control_window(state.stream_id)
            size = min(len(view), window, self._conn.max_outbound_frame_size)
            if size == 0:
                if self.closed.is_set() or state.reset.is_set():
                    raise AssertionError("the stream or connection closed while sending")
                await self._window_opened.wait()
                continue
            self._conn.send_data(state.stream_id, bytes(view[:size]))
            view = view[size:]
            await self._flush()

    async def end(self, state: StreamState) -> None:
        self._conn.end_stream(state.stream_id)
        await self._flush()

    async def reset(self, state: StreamState) -> None:
        self._conn.reset_stream(state.stream_id, h2.errors.ErrorCodes.CANCEL)
        await self._flush()

    async def ping(self) -> None:
        self._conn.ping(b"12345678")
        await self._flush()

    async def wait_for(self, state: StreamState, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds (checked after every event on the stream)."""
        while not predicate():
            if self.closed.is_set():
                raise AssertionError("the connection closed while waiting")
            await state.changed.wait()

    async def response(self, state: StreamState) -> StreamState:
        """Wait until the response stream ended (or was reset)."""
        await self.wait_for(state, lambda: state.ended.is_set() or state.reset.is_set())
        return state


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[H2Client]:
    """Open an h2c prior-knowledge connection to ``http://host:port``."""
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    client = H2Client(stream, hostport)
    client._conn.initiate_connection()
    await client._flush()
    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(client._reader)
        try:
            yield client
        finally:
            nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- frames


def start_frame(
    *, key: str = "", known_entries: int = 1, debug_id: str = "inv_1rawh2testinvocation"
) -> bytes:
    start = m.StartMessage(
        id=bytes(range(24)),
        debug_id=debug_id,
        known_entries=known_entries,
        partial_state=not key,
        key=key,
    )
    return encode_frame(*m.encode(start))


def input_frame(payload: bytes) -> bytes:
    return encode_frame(*m.encode(m.InputCommandMessage(value=m.Value(content=payload))))


def invocation_headers(content_type: str = INVOCATION_V6) -> list[tuple[str, str]]:
    return [("content-type", content_type), ("accept", content_type)]
