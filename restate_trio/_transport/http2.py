"""The server side of one HTTP/2 connection, sans-I/O: frames, header blocks, streams and flow
control (RFC 9113; header compression, RFC 7541, with hpack's tables).

Bytes in (:meth:`ServerConnection.receive_data`) become calls on a :class:`Listener`; calls
out (:meth:`~ServerConnection.send_headers`, :meth:`~ServerConnection.send_data`, ...) become
bytes (:meth:`~ServerConnection.data_to_send`). No I/O, no trio, no clock.

Why not h2's ``H2Connection``: h2 is a complete, general HTTP/2 machine for both sides, and on
Restate's traffic its generality was over half of the builtin server's CPU when nothing else
runs (profiled on the benchmark's floor side: ``receive_data`` 41%, ``send_headers`` 10%): a
state machine transition object per frame and event, an event object per frame, a priority
tree, a ``repr`` of every frame for a trace log that does nothing, a header block encoded per
response. ``bench/h2cost.py`` measures both on the same Restate-shaped streams. This covers
exactly what a server of prior-knowledge h2c needs, the way restate-server uses it (one
long-lived connection, many concurrent bidirectional streams), and treats everything else by
the RFC's rules:

* Server push is never sent, and the client may not push (PROTOCOL_ERROR).
* Priority (frames and HEADERS fields) is parsed and ignored: RFC 9113 deprecates the scheme,
  and one invocation's stream never waits for another's.
* Response header blocks are encoded without the dynamic table, so one block per distinct
  header list is encoded once and reused (``header_block``): our responses carry three fixed
  headers.
* Request headers are decoded by ``hpackdecoder`` (on hpack's tables), and neither validated
  nor normalised: a request missing a pseudo-header simply gets no route.
* Received bytes are credited back at once (connection and stream, in batches of half the
  window): the transport hands them to their consumer synchronously and bounds what consumers
  hold itself, so credit is no back-pressure signal here.
* Errors that concern one stream reset that stream (RST_STREAM); errors that concern the
  connection queue a GOAWAY and raise :class:`H2ProtocolError` from ``receive_data``, after which
  the connection accepts nothing more.
* DATA on a stream that is closed is dropped (RFC 9113 §5.1 requires ignoring frames after our
  RST_STREAM, and restate-server's late acknowledgements arrive after our END_STREAM); HEADERS
  on one is answered RST_STREAM(STREAM_CLOSED). Telling a stream we reset from one that ended
  (where the RFC asks for a connection error) would mean remembering every stream; this way
  both cost the peer that stream only.
* More concurrent streams than advertised close the connection (GOAWAY), as h2 does: a peer
  that ignores our SETTINGS is not Restate (transport reference §1).
"""

from __future__ import annotations

import enum
import struct
from typing import Protocol

import hpack

from .hpackdecoder import HeaderDecodeError, HeaderDecoder, HeaderListTooLarge

__all__ = [
    "ErrorCode",
    "H2ProtocolError",
    "Listener",
    "PREFACE",
    "ServerConnection",
    "header_block",
]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class ErrorCode(enum.IntEnum):
    """RFC 9113 §7."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


class H2ProtocolError(Exception):
    """The peer broke the protocol; a GOAWAY with ``code`` is queued and the connection is
    closed for input."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code


class Listener(Protocol):
    """What a connection tells its owner, synchronously, from inside ``receive_data``. It may
    call back into the connection (send, reset, close) from any of these."""

    def on_request(self, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        """A new stream's request headers (``ended``: the request has no body)."""

    def on_data(self, stream_id: int, data: bytes, ended: bool) -> None:
        """Body bytes of an open stream (``ended``: the last; trailers end with ``b""``)."""

    def on_reset(self, stream_id: int) -> None:
        """The stream is gone: the peer reset it, or broke the protocol on it (we reset it)."""

    def on_goaway(self) -> None:
        """The peer sent GOAWAY."""


# Frame types and flags (RFC 9113 §6).
_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS, _PUSH_PROMISE = 0, 1, 2, 3, 4, 5
_PING, _GOAWAY, _WINDOW_UPDATE, _CONTINUATION = 6, 7, 8, 9
_END_STREAM = 0x1
_ACK = 0x1
_END_HEADERS = 0x4
_PADDED = 0x8
_PRIORITY_FLAG = 0x20

# Settings (RFC 9113 §6.5.2).
_SET_ENABLE_PUSH, _SET_MAX_CONCURRENT_STREAMS = 0x2, 0x3
_SET_INITIAL_WINDOW_SIZE, _SET_MAX_FRAME_SIZE, _SET_MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6

_DEFAULT_WINDOW = 65_535
_MAX_WINDOW = 2**31 - 1
_MIN_FRAME_SIZE = 16_384
_MAX_FRAME_SIZE = 2**24 - 1
# Control frames we owe the peer (SETTINGS and PING acknowledgements, resets) that have not been
# taken by data_to_send: a peer that keeps asking while it does not read gets ENHANCE_YOUR_CALM
# instead of our memory.
_MAX_PENDING_CONTROL = 10_000

# length (24 bits, as 16 + 8), type, flags, stream id: one unpack per frame.
_HEAD = struct.Struct(">HBBBL")
_U32 = struct.Struct(">L")
_SETTING = struct.Struct(">HL")
_GOAWAY_BODY = struct.Struct(">LL")


def _frame_head(length: int, ftype: int, flags: int, stream_id: int) -> bytes:
    return _HEAD.pack(length >> 8, length & 0xFF, ftype, flags, stream_id)


def header_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """An HPACK block of ``headers`` that does not depend on (nor change) any dynamic table:
    static-table references and never-indexed literals only, so it can be sent on any
    connection, any number of times."""
    encoder = hpack.Encoder()  # a fresh one: nothing in its dynamic table to refer to
    return encoder.encode([hpack.NeverIndexedHeaderTuple(name, value) for name, value in headers])


class _Stream:
    __slots__ = ("local_closed", "recv_window", "remote_closed", "send_window", "unacked")

    def __init__(self, send_window: int, recv_window: int) -> None:
        self.send_window = send_window  # what the peer lets us send
        self.recv_window = recv_window  # what we let the peer send
        self.unacked = 0  # received, not credited back yet
        self.local_closed = False
        self.remote_closed = False


class ServerConnection:
    """One HTTP/2 connection, server side, after (or including) the client's preface."""

    def __init__(
        self,
        listener: Listener,
        *,
        max_concurrent_streams: int,
        stream_window: int,
        # What we grant; below 65,535 (the protocol's initial window, which no WINDOW_UPDATE
        # can shrink) we would enforce less than the peer believes it has: tests only.
        connection_window: int,
        max_header_list_size: int,
    ) -> None:
        self._listener = listener
        self._max_streams = max_concurrent_streams
        self._stream_window = stream_window
        self._connection_window = connection_window
        self._max_header_list = max_header_list_size
        self._decoder = HeaderDecoder(max_header_list_size=max_header_list_size)
        self._streams: dict[int, _Stream] = {}
        self._last_stream_id = 0  # the highest the peer opened
        self._out: list[bytes] = []
        self._pending_control = 0
        self._buffer: bytes = b""  # an incomplete frame (or preface)
        self._preface = True  # the client's preface and first SETTINGS are still due
        self._settings_due = True
        self._closed = False  # GOAWAY sent (or owed): input is ignored
        # Flow control, connection level.
        self._recv_window = connection_window
        self._unacked = 0
        self._send_window = _DEFAULT_WINDOW
        # The peer's settings that bind what we send.
        self._peer_initial_window = _DEFAULT_WINDOW
        self.max_outbound_frame_size = _MIN_FRAME_SIZE
        self.max_inbound_frame_size = _MIN_FRAME_SIZE
        # An open header block: HEADERS without END_HEADERS, waiting for CONTINUATIONs.
        self._block: list[bytes] | None = None
        self._block_stream = 0
        self._block_ended = False
        self._block_size = 0

    # ------------------------------------------------------------------ state

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def has_output(self) -> bool:
        """Whether :meth:`data_to_send` has bytes."""
        return bool(self._out)

    # ------------------------------------------------------------------ output

    def initiate(self) -> None:
        """Our SETTINGS (the server's preface), and the connection window we grant."""
        body = b"".join(
            [
                _SETTING.pack(_SET_MAX_CONCURRENT_STREAMS, self._max_streams),
                _SETTING.pack(_SET_INITIAL_WINDOW_SIZE, self._stream_window),
                _SETTING.pack(_SET_MAX_HEADER_LIST_SIZE, self._max_header_list),
            ]
        )
        self._out.append(_frame_head(len(body), _SETTINGS, 0, 0) + body)
        if self._connection_window > _DEFAULT_WINDOW:
            self._window_update(0, self._connection_window - _DEFAULT_WINDOW)

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        self._out = []
        self._pending_control = 0
        return out[0] if len(out) == 1 else b"".join(out)

    def send_headers(self, stream_id: int, block: bytes, *, end_stream: bool = False) -> None:
        """Send a header block made by :func:`header_block` (small: one frame)."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.local_closed:
            return  # reset meanwhile
        assert len(block) <= _MIN_FRAME_SIZE
        flags = _END_HEADERS
        if end_stream:
            flags |= _END_STREAM
        self._out.append(_frame_head(len(block), _HEADERS, flags, stream_id))
        self._out.append(block)
        if end_stream:
            self._local_end(stream_id, stream)

    def send_window(self, stream_id: int) -> int:
        """How many bytes of DATA the peer's windows let us send on the stream now."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return 0
        return max(0, min(stream.send_window, self._send_window))

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> int:
        """Send as much of ``data`` as the windows allow, in frames of the peer's maximal size;
        END_STREAM rides on the last frame if all of it went. Returns the bytes sent (all of
        them for a stream that is gone: there is nobody to send them to)."""
        stream = self._streams.get(stream_id)
        size = len(data)
        if stream is None or stream.local_closed:
            return size
        allowed = min(size, stream.send_window, self._send_window)
        out = self._out
        max_frame = self.max_outbound_frame_size
        sent = 0
        while sent < allowed:
            chunk = min(allowed - sent, max_frame)
            flags = _END_STREAM if end_stream and sent + chunk == size else 0
            out.append(_frame_head(chunk, _DATA, flags, stream_id))
            out.append(data if chunk == size else data[sent : sent + chunk])
            sent += chunk
        stream.send_window -= sent
        self._send_window -= sent
        if end_stream and sent == size:
            if not size:
                out.append(_frame_head(0, _DATA, _END_STREAM, stream_id))
            self._local_end(stream_id, stream)
        return sent

    def reset_stream(self, stream_id: int, code: ErrorCode) -> None:
        """RST_STREAM, if the stream is still open; it is forgotten at once."""
        if self._streams.pop(stream_id, None) is not None and not self._closed:
            self._control(_frame_head(4, _RST_STREAM, 0, stream_id) + _U32.pack(code))

    def close_connection(self, code: ErrorCode = ErrorCode.NO_ERROR) -> None:
        """GOAWAY (once); input is ignored from now on."""
        if self._closed:
            return
        self._closed = True
        self._block = None
        body = _GOAWAY_BODY.pack(self._last_stream_id, code)
        self._out.append(_frame_head(len(body), _GOAWAY, 0, 0) + body)

    def _local_end(self, stream_id: int, stream: _Stream) -> None:
        stream.local_closed = True
        if stream.remote_closed:
            del self._streams[stream_id]

    def _window_update(self, stream_id: int, increment: int) -> None:
        self._out.append(_frame_head(4, _WINDOW_UPDATE, 0, stream_id) + _U32.pack(increment))

    def _control(self, frame: bytes) -> None:
        self._out.append(frame)
        self._pending_control += 1
        if self._pending_control > _MAX_PENDING_CONTROL:
            raise self._error(ErrorCode.ENHANCE_YOUR_CALM, "the peer does not read our answers")

    # ------------------------------------------------------------------ input

    def receive_data(self, received: bytes | bytearray) -> None:
        """Take bytes from the peer; the listener hears about them before this returns.

        Raises :class:`H2ProtocolError` if they break the protocol for the connection (a
        GOAWAY is queued then)."""
        if self._closed:
            return
        # Payloads are handed on as bytes (slices of this).
        data = bytes(received) if isinstance(received, bytearray) else received
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        pos = 0
        if self._preface:
            if len(data) < len(PREFACE):
                if not PREFACE.startswith(data):
                    raise self._error(ErrorCode.PROTOCOL_ERROR, "invalid connection preface")
                self._buffer = data
                return
            if not data.startswith(PREFACE):
                raise self._error(ErrorCode.PROTOCOL_ERROR, "invalid connection preface")
            self._preface = False
            pos = len(PREFACE)
        end = len(data)
        max_inbound = self.max_inbound_frame_size
        unpack = _HEAD.unpack_from
        while end - pos >= 9:
            high, low, ftype, flags, stream_id = unpack(data, pos)
            length = high << 8 | low
            if length > max_inbound:
                # Checked on the frame's head: its body is never buffered.
                raise self._error(ErrorCode.FRAME_SIZE_ERROR, f"a frame of {length} bytes")
            stop = pos + 9 + length
            if stop > end:
                break
            payload = data[pos + 9 : stop]
            pos = stop
            stream_id &= _MAX_WINDOW  # the reserved bit is ignored
            if self._settings_due:
                if ftype != _SETTINGS or flags & _ACK:
                    raise self._error(ErrorCode.PROTOCOL_ERROR, "the preface lacks SETTINGS")
                self._settings_due = False
            if self._block is not None and ftype != _CONTINUATION:
                raise self._error(ErrorCode.PROTOCOL_ERROR, "a header block was interrupted")
            if ftype == _DATA:
                self._on_data(stream_id, flags, payload)
            elif ftype == _HEADERS:
                self._on_headers(stream_id, flags, payload)
            elif ftype == _WINDOW_UPDATE:
                self._on_window_update(stream_id, payload)
            elif ftype == _RST_STREAM:
                self._on_rst_stream(stream_id, payload)
            elif ftype == _SETTINGS:
                self._on_settings(stream_id, flags, payload)
            elif ftype == _PING:
                self._on_ping(stream_id, flags, payload)
            elif ftype == _CONTINUATION:
                self._on_continuation(stream_id, flags, payload)
            elif ftype == _PRIORITY:
                self._on_priority(stream_id, payload)
            elif ftype == _GOAWAY:
                self._on_goaway(stream_id, payload)
            elif ftype == _PUSH_PROMISE:
                raise self._error(ErrorCode.PROTOCOL_ERROR, "a client may not push")
            # Unknown frame types are ignored (RFC 9113 §5.5).
            if self.closed:  # a GOAWAY went out (maybe by the listener): the rest is ignored
                return
        if pos < end:
            self._buffer = data[pos:]

    def _error(self, code: ErrorCode, message: str) -> H2ProtocolError:
        self.close_connection(code)
        return H2ProtocolError(code, message)

    def _stream_error(self, stream_id: int, code: ErrorCode) -> None:
        known = self._streams.pop(stream_id, None) is not None
        self._control(_frame_head(4, _RST_STREAM, 0, stream_id) + _U32.pack(code))
        if known:
            self._listener.on_reset(stream_id)

    def _check_stream_id(self, stream_id: int) -> None:
        if stream_id == 0:
            raise self._error(ErrorCode.PROTOCOL_ERROR, "a stream frame on stream 0")

    def _idle(self, stream_id: int) -> bool:
        return stream_id > self._last_stream_id

    def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        self._check_stream_id(stream_id)
        flow = len(payload)
        if flags & _PADDED:
            if not flow or payload[0] >= flow:
                raise self._error(ErrorCode.PROTOCOL_ERROR, "padding as long as the frame")
            payload = payload[1 : flow - payload[0]]
        # The connection's window: whatever the stream's state.
        self._recv_window -= flow
        if self._recv_window < 0:
            raise self._error(ErrorCode.FLOW_CONTROL_ERROR, "the connection window overrun")
        self._unacked += flow
        if self._unacked >= self._connection_window // 2:
            self._window_update(0, self._unacked)
            self._recv_window += self._unacked
            self._unacked = 0
        stream = self._streams.get(stream_id)
        if stream is None:
            if self._idle(stream_id):
                raise self._error(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream")
            return  # closed: dropped
        if stream.remote_closed:
            self._stream_error(stream_id, ErrorCode.STREAM_CLOSED)
            return
        stream.recv_window -= flow
        if stream.recv_window < 0:
            self._stream_error(stream_id, ErrorCode.FLOW_CONTROL_ERROR)
            return
        ended = bool(flags & _END_STREAM)
        if ended:
            stream.remote_closed = True
        else:
            stream.unacked += flow
            if stream.unacked >= self._stream_window // 2:
                self._window_update(stream_id, stream.unacked)
                stream.recv_window += stream.unacked
                stream.unacked = 0
        self._listener.on_data(stream_id, payload, ended)
        if ended and stream.local_closed:
            self._streams.pop(stream_id, None)

    def _on_headers(self, stream_id: int, flags: int, payload: bytes) -> None:
        self._check_stream_id(stream_id)
        if not stream_id & 1:
            raise self._error(ErrorCode.PROTOCOL_ERROR, "a client stream with an even id")
        start, stop = 0, len(payload)
        if flags & _PADDED:
            if not stop:
                raise self._error(ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short")
            start, stop = 1, stop - payload[0]
        if flags & _PRIORITY_FLAG:
            start += 5  # stream dependency and weight: ignored (see the module's docstring)
        if stop < start:
            raise self._error(ErrorCode.PROTOCOL_ERROR, "HEADERS padding or priority too long")
        fragment = payload[start:stop]
        ended = bool(flags & _END_STREAM)
        if flags & _END_HEADERS:
            self._on_header_block(stream_id, ended, fragment)
        else:
            self._block = [fragment]
            self._block_stream = stream_id
            self._block_ended = ended
            self._block_size = len(fragment)

    def _on_continuation(self, stream_id: int, flags: int, payload: bytes) -> None:
        block = self._block
        if block is None or stream_id != self._block_stream:
            raise self._error(ErrorCode.PROTOCOL_ERROR, "CONTINUATION outside a header block")
        block.append(payload)
        self._block_size += len(payload)
        if self._block_size > self._max_header_list:
            # Compressed beyond the decoded size we accept (a CONTINUATION flood).
            raise self._error(ErrorCode.ENHANCE_YOUR_CALM, "a header block too large")
        if flags & _END_HEADERS:
            self._block = None
            self._on_header_block(stream_id, self._block_ended, b"".join(block))

    def _on_header_block(self, stream_id: int, ended: bool, block: bytes) -> None:
        # Always decoded, even for a stream about to be refused: the decoder's dynamic table
        # must follow every block the peer's encoder produced.
        try:
            headers = self._decoder.decode(block)
        except HeaderListTooLarge:
            raise self._error(ErrorCode.ENHANCE_YOUR_CALM, "a header list too large") from None
        except HeaderDecodeError as exc:
            raise self._error(ErrorCode.COMPRESSION_ERROR, f"a header block: {exc}") from None
        stream = self._streams.get(stream_id)
        if stream is not None:
            # Trailers: they end the request.
            if stream.remote_closed:
                self._stream_error(stream_id, ErrorCode.STREAM_CLOSED)
            elif not ended:
                self._stream_error(stream_id, ErrorCode.PROTOCOL_ERROR)
            else:
                stream.remote_closed = True
                self._listener.on_data(stream_id, b"", True)
                if stream.local_closed:
                    self._streams.pop(stream_id, None)
            return
        if not self._idle(stream_id):
            self._control(
                _frame_head(4, _RST_STREAM, 0, stream_id) + _U32.pack(ErrorCode.STREAM_CLOSED)
            )
            return
        if len(self._streams) >= self._max_streams:
            raise self._error(
                ErrorCode.PROTOCOL_ERROR, f"more than {self._max_streams} concurrent streams"
            )
        self._last_stream_id = stream_id
        stream = self._streams[stream_id] = _Stream(self._peer_initial_window, self._stream_window)
        stream.remote_closed = ended
        self._listener.on_request(stream_id, headers, ended)

    def _on_priority(self, stream_id: int, payload: bytes) -> None:
        self._check_stream_id(stream_id)
        if len(payload) != 5:
            if self._idle(stream_id):  # no RST_STREAM for an idle stream (RFC 9113 §6.4)
                raise self._error(ErrorCode.FRAME_SIZE_ERROR, "PRIORITY of the wrong size")
            self._stream_error(stream_id, ErrorCode.FRAME_SIZE_ERROR)

    def _on_rst_stream(self, stream_id: int, payload: bytes) -> None:
        self._check_stream_id(stream_id)
        if len(payload) != 4:
            raise self._error(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size")
        if self._idle(stream_id):
            raise self._error(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream")
        if self._streams.pop(stream_id, None) is not None:
            self._listener.on_reset(stream_id)

    def _on_settings(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id:
            raise self._error(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & _ACK:
            if payload:
                raise self._error(ErrorCode.FRAME_SIZE_ERROR, "a SETTINGS ack with a body")
            return
        if len(payload) % 6:
            raise self._error(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS of the wrong size")
        for offset in range(0, len(payload), 6):
            setting, value = _SETTING.unpack_from(payload, offset)
            if setting == _SET_INITIAL_WINDOW_SIZE:
                if value > _MAX_WINDOW:
                    raise self._error(ErrorCode.FLOW_CONTROL_ERROR, "a window beyond 2^31-1")
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                for stream in self._streams.values():
                    stream.send_window += delta
                    if stream.send_window > _MAX_WINDOW:  # RFC 9113 §6.9.2
                        raise self._error(ErrorCode.FLOW_CONTROL_ERROR, "a window beyond 2^31-1")
            elif setting == _SET_MAX_FRAME_SIZE:
                if not _MIN_FRAME_SIZE <= value <= _MAX_FRAME_SIZE:
                    raise self._error(ErrorCode.PROTOCOL_ERROR, "an invalid MAX_FRAME_SIZE")
                self.max_outbound_frame_size = value
            elif setting == _SET_ENABLE_PUSH and value > 1:
                raise self._error(ErrorCode.PROTOCOL_ERROR, "an invalid ENABLE_PUSH")
            # HEADER_TABLE_SIZE bounds the peer's decoder, which our blocks never add to;
            # MAX_CONCURRENT_STREAMS bounds pushes; MAX_HEADER_LIST_SIZE is advisory; unknown
            # settings are ignored (RFC 9113 §6.5.2).
        self._control(_frame_head(0, _SETTINGS, _ACK, 0))

    def _on_ping(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id:
            raise self._error(ErrorCode.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise self._error(ErrorCode.FRAME_SIZE_ERROR, "PING of the wrong size")
        if not flags & _ACK:
            self._control(_frame_head(8, _PING, _ACK, 0) + payload)

    def _on_goaway(self, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise self._error(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            raise self._error(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY too short")
        self._listener.on_goaway()

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise self._error(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size")
        increment = _U32.unpack(payload)[0] & _MAX_WINDOW
        if not stream_id:
            if not increment:
                raise self._error(ErrorCode.PROTOCOL_ERROR, "a zero WINDOW_UPDATE")
            self._send_window += increment
            if self._send_window > _MAX_WINDOW:
                raise self._error(ErrorCode.FLOW_CONTROL_ERROR, "the window beyond 2^31-1")
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            if self._idle(stream_id):
                raise self._error(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream")
            return
        if not increment:
            self._stream_error(stream_id, ErrorCode.PROTOCOL_ERROR)
            return
        stream.send_window += increment
        if stream.send_window > _MAX_WINDOW:
            self._stream_error(stream_id, ErrorCode.FLOW_CONTROL_ERROR)
