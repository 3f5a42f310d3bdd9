"""One HTTP/2 connection of the builtin server: a reader, a writer, and the invocations on it.

Shape (see the transport reference, §4 and §6)::

    H2ServerConnection.run ─ the connection's nursery
      ├─ reader (this task): socket → http2.ServerConnection → calls on this object; routes,
      │          feeds attempts
      ├─ writer: per wake-up, pulls the output of the streams that have some into the HTTP/2
      │          state (within the peer's windows) and writes all its frames in one send_all
      └─ per invocation: one task, attempt.run()

Why it is built this way:

* The reader never blocks on a stream (the connection window is shared: one stalled stream
  must not stall the others). Request bytes go straight into ``Attempt.feed``, which consumes
  them synchronously, so ``http2.ServerConnection`` returns connection and stream credit as
  bytes arrive (in batches of half the window); nothing waits in a queue.
* Only the writer calls ``send_all`` (trio allows one sender per stream), once per wake-up: all
  the frames that tasks produced since the last wake-up leave in one system call. An attempt
  only tells the connection it has output (``Attempt.on_output``); the writer pulls it when it
  runs, so what an invocation writes between two wake-ups leaves as one DATA frame, and no task
  or event per invocation stands between the handler and the socket (profiled: the per-stream
  output task and its nursery were ~8% of the SDK's CPU on the no-op workload).
* A response ends as soon as its attempt is over, on the last DATA frame (END_STREAM rides on
  it: no extra empty frame). Late DATA from the runtime after that is accepted, acknowledged
  and dropped; Restate closes its half once it has read our terminal message.
* A protocol error, an exception, or a peer that goes away ends this connection only: every
  attempt on it is aborted, a GOAWAY is written, and the socket is closed.

Limits (besides MAX_CONCURRENT_STREAMS and the frame size, which ``http2`` enforces with a
GOAWAY, the latter on a frame's head, before its body is buffered):

* Beyond the router's ``max_invocations`` a new invocation stream is answered REFUSED_STREAM
  (nothing is built for it; Restate retries the attempt).
* Input held for a stream (a partial protocol message, a serde body) counts against the
  router's process-wide ``max_buffered_input``; the stream that would exceed it is reset with
  ENHANCE_YOUR_CALM. What one stream may hold is bounded by ``max_message_size`` already.
* A stream whose response is complete while the peer keeps its half open is reset after a
  grace period (``_reap_lingering``): it would hold one of the connection's streams forever.
  So is an invocation stream whose StartMessage has not arrived by then (CANCEL): it would
  hold one of the router's ``max_invocations`` slots.
"""

from __future__ import annotations

import logging
from contextlib import suppress

import trio

from .._context.invocation import Attempt
from .http2 import ErrorCode, H2ProtocolError, ServerConnection, header_block
from .logs import RateLimitedWarning
from .router import SERVER_HEADER, Invocation, Refused, Reply, Router, Serde, request_path
from .serve import MAX_CONCURRENT_STREAMS

__all__ = ["H2ServerConnection"]

logger = logging.getLogger("restate_trio.transport")

# Receive windows. Request bytes are consumed as they arrive, so large windows cost no memory;
# they only spare WINDOW_UPDATE frames (credit is returned once half a window was used).
STREAM_WINDOW = 1 << 20
CONNECTION_WINDOW = 16 << 20
MAX_HEADER_LIST_SIZE = 64 << 10
# Header names and values decoded once per connection (see H2ServerConnection._text).
_MAX_SHARED_TEXTS = 64
# Output queued for one stream beyond the peer's window before the writer stops pulling more
# from the attempt (it waits in the attempt's machine meanwhile, as one buffer: joining a growing
# queue on every wake-up would copy it over and over).
_MAX_QUEUED_OUTPUT = 1 << 20
# How long the writer may spend delivering the last bytes (a GOAWAY) of a closing connection,
# and, within that, how long it waits for the peer to close its half after ours.
_CLOSE_FLUSH_TIMEOUT = 5.0
_LINGER = 2.0
# A stream whose response is complete and whose peer keeps its half open is reset after one to
# two sweeps of this many seconds. Restate closes its half as soon as it has read our terminal
# message (well under a second); a peer that does not would hold one of the connection's
# MAX_CONCURRENT_STREAMS forever. Read at every sweep (tests shorten it).
LINGER_SWEEP = 5.0

# The response header block of an invocation, per content type (a handful: one per protocol
# version), encoded once per process (http2.header_block).
_INVOCATION_BLOCKS: dict[str, bytes] = {}
# The socket is gone (the peer reset it, or our writer closed it).
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


class _Stream:
    """Our side of one HTTP/2 stream."""

    __slots__ = (
        "attempt",
        "body",
        "body_size",
        "buffered",
        "connection",
        "discarded",
        "finished",
        "id",
        "lingering",
        "local_closed",
        "out",
        "queued",
        "remote_closed",
        "reset",
        "serde",
        "unstarted",
    )

    def __init__(self, stream_id: int, connection: H2ServerConnection) -> None:
        self.id = stream_id
        self.connection = connection
        self.attempt: Attempt | None = None  # while the invocation runs
        self.serde: Serde | None = None  # while a serde request body is read
        self.body: list[bytes] = []
        self.body_size = 0
        self.out: list[bytes] = []  # output not yet handed to the HTTP/2 layer
        self.queued = 0  # bytes in out
        self.finished = False  # no more output will come: end the stream after ``out``
        self.local_closed = False  # END_STREAM sent
        self.remote_closed = False  # END_STREAM received
        self.reset = False
        self.discarded = 0  # bytes dropped since nobody reads them any more
        self.buffered = 0  # input held (partial message, serde body), charged to the router
        self.lingering = False  # seen complete-but-open by the last sweep (_reap_lingering)
        self.unstarted = False  # seen waiting for its StartMessage by the last sweep

    def has_output(self) -> None:
        """The attempt's output listener (a bound method: no closure per invocation)."""
        self.connection._has_output(self)  # pyright: ignore[reportPrivateUsage]


class H2ServerConnection:
    """Serve one accepted socket (HTTP/2 prior knowledge) until it closes."""

    def __init__(
        self,
        socket: trio.abc.HalfCloseableStream,
        router: Router,
        log_peer_error: RateLimitedWarning,
    ) -> None:
        self._socket = socket
        self._router = router
        self._log_peer_error = log_peer_error
        self._conn = ServerConnection(
            self,
            max_concurrent_streams=MAX_CONCURRENT_STREAMS,
            stream_window=STREAM_WINDOW,
            connection_window=CONNECTION_WINDOW,
            max_header_list_size=MAX_HEADER_LIST_SIZE,
        )
        self._streams: dict[int, _Stream] = {}
        self._sending: dict[int, _Stream] = {}  # streams with output or an end to hand on
        self._dirty = trio.Event()
        self._refusing = False
        self._closing = False
        self._nursery: trio.Nursery | None = None
        self._reaper: trio.CancelScope | None = None  # while _reap_lingering runs
        self._peer_gone = trio.Event()  # the reader saw the end of the peer's bytes
        self._texts: dict[bytes, str] = {}  # see _text
        # The bytes past which a stream whose body nobody reads is reset: as much as one
        # message may be, plus a frame.
        self._discard_limit = router.max_message_size + 16_384

    # ------------------------------------------------------------------ lifecycle

    async def run(self, received: bytes) -> None:
        """Serve until the peer goes away or the connection is closed; never raises (except
        ``trio.Cancelled``). ``received``: what the listener read to tell HTTP/2 from HTTP/1.x
        (server.py): the preface, or bytes answered with a GOAWAY."""
        try:
            self._start()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._write_loop)
                try:
                    self._receive(received)
                    await self._read_loop()
                finally:
                    self._abort_all()
                    if not self._closing:
                        nursery.cancel_scope.cancel()
        except Exception:
            logger.exception("restate_trio: HTTP/2 connection failed")
        finally:
            self._abort_all()
            with trio.CancelScope(shield=True):
                await self._socket.aclose()

    def shutdown(self) -> None:
        """Graceful shutdown: refuse new streams (REFUSED_STREAM: Restate retries them
        elsewhere), and close once the streams in flight are done."""
        self._refusing = True
        if not self._streams:
            self._close()

    def _close(self, error_code: ErrorCode = ErrorCode.NO_ERROR) -> None:
        """GOAWAY, then close once the writer delivered it."""
        if self._closing:
            return
        self._closing = True
        self._conn.close_connection(error_code)  # a no-op after our GOAWAY for an error
        self._abort_all()
        self._wake()

    def _abort_all(self) -> None:
        streams, self._streams = self._streams, {}
        self._sending.clear()
        if self._reaper is not None:
            self._reaper.cancel()
        for stream in streams.values():
            stream.reset = True
            self._release(stream)
            if stream.attempt is not None:
                stream.attempt.abort()

    # ------------------------------------------------------------------ reading

    def _start(self) -> None:
        self._conn.initiate()
        self._wake()

    async def _read_loop(self) -> None:
        try:
            while data := await self._socket.receive_some(1 << 16):
                if not self._closing:
                    self._receive(data)
                # Closing: what the peer still sends is read and dropped until it closes (or
                # the writer gives up, _LINGER), see _write_loop.
        except _GONE:
            pass
        finally:
            self._peer_gone.set()

    def _receive(self, data: bytes | bytearray) -> None:
        try:
            self._conn.receive_data(data)
        except H2ProtocolError as exc:
            # A GOAWAY is queued; only this connection ends.
            self._log_peer_error(
                "restate_trio: HTTP/2 protocol error from a peer, closing: %s", exc
            )
            self._close(exc.code)
            return
        # Only if there is something to write: what the runtime sends most (completions, acks,
        # its END_STREAM) wakes an attempt or nobody, and an attempt with output wakes the
        # writer itself (profiled at c=1: two of the ~7 trio passes per no-op invocation were
        # the writer woken by the runtime's END_STREAM, finding nothing to send). Blocked
        # output (``_sending``) is retried: a WINDOW_UPDATE may have come.
        if self._sending or self._conn.has_output:
            self._wake()

    # ------------------------------------------------------------------ http2.Listener

    def on_request(self, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        self._on_request(stream_id, headers)
        if ended:
            self._on_end(stream_id)

    def on_data(self, stream_id: int, data: bytes, ended: bool) -> None:
        self._on_data(stream_id, data)
        if ended:
            self._on_end(stream_id)

    def on_reset(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            self._forget(stream)

    def on_goaway(self) -> None:
        self._close()  # the peer is going away: nothing more will be asked of us

    def _on_request(self, stream_id: int, raw: list[tuple[bytes, bytes]]) -> None:
        conn = self._conn
        if self._refusing or self._closing:
            conn.reset_stream(stream_id, ErrorCode.REFUSED_STREAM)
            return
        path = ""
        headers: dict[str, str] = {}
        for name, value in raw:
            if name[:1] == b":":
                if name == b":path":
                    path = request_path(value.decode("latin-1"))
            else:
                headers[self._text(name)] = self._text(value)
        route = self._router.dispatch(path, headers, http_11=False)
        if isinstance(route, Refused):
            # Too many invocations in flight: nothing was built for it, and Restate retries a
            # refused stream (a whole attempt, with its backoff).
            conn.reset_stream(stream_id, ErrorCode.REFUSED_STREAM)
            return
        stream = self._streams[stream_id] = _Stream(stream_id, self)
        if self._reaper is None:
            self._start_reaper()
        if isinstance(route, Invocation):
            block = _INVOCATION_BLOCKS.get(route.content_type)
            if block is None:
                block = _INVOCATION_BLOCKS[route.content_type] = header_block(
                    [
                        (b":status", b"200"),
                        (b"content-type", route.content_type.encode()),
                        SERVER_HEADER,
                    ]
                )
            conn.send_headers(stream_id, block)
            attempt = stream.attempt = route.attempt
            self._router.started(attempt)
            assert self._nursery is not None
            attempt.on_output(stream.has_output)
            self._nursery.start_soon(self._invoke, stream, attempt)
        elif isinstance(route, Serde):
            stream.serde = route
        else:
            self._reply(stream, route)

    def _text(self, raw: bytes) -> str:
        """A header name or value as text, shared between the streams that repeat it.

        Every invocation keeps its headers, and Restate sends the same names and mostly the
        same values each time (content type, accept, host, cluster name): one ``str`` each
        instead of one per invocation (~0.3 KiB of every parked invocation). Bounded, and
        filled first come first served: the first request's headers are the common ones.
        """
        text = self._texts.get(raw)
        if text is None:
            text = raw.decode("latin-1")
            if len(self._texts) < _MAX_SHARED_TEXTS:
                self._texts[raw] = text
        return text

    def _on_data(self, stream_id: int, data: bytes) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # we reset it meanwhile
        attempt = stream.attempt
        if attempt is not None:
            attempt.feed(data)
            # Usually 0 before and after: Restate sends each message in one DATA frame.
            held = attempt.machine.buffered_input
            if held != stream.buffered and not self._hold(stream, held):
                return
            if self._router.draining:
                attempt.suspend_when_idle()
        elif stream.serde is not None:
            stream.body.append(data)
            stream.body_size += len(data)
            if stream.body_size > self._router.max_message_size:
                self._reply(stream, self._router.convert(stream.serde, None))
                self._hold(stream, 0)
            else:
                self._hold(stream, stream.body_size)
        else:
            # Nobody reads this any more (answered already, or the invocation is over). The
            # runtime's late acks are fine; a peer that keeps streaming is reset.
            stream.discarded += len(data)
            if stream.discarded > self._discard_limit:
                self._log_peer_error(
                    "restate_trio: stream %d kept sending after its response; reset", stream_id
                )
                self._conn.reset_stream(stream_id, ErrorCode.ENHANCE_YOUR_CALM)
                del self._streams[stream_id]
                self._forget(stream)

    def _on_end(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.remote_closed = True
        if stream.attempt is not None:
            stream.attempt.feed_eof()
        elif stream.serde is not None:
            self._reply(stream, self._router.convert(stream.serde, b"".join(stream.body)))
            self._hold(stream, 0)
        if stream.local_closed:
            self._done(stream)

    def _hold(self, stream: _Stream, held: int) -> bool:
        """``stream`` now holds ``held`` input bytes; False (and the stream is reset) if that
        takes the process over the router's ``max_buffered_input``."""
        delta = held - stream.buffered
        stream.buffered = held
        if self._router.buffer_input(delta):
            return True
        self._router.log_over_budget(f"stream {stream.id} reset (ENHANCE_YOUR_CALM)")
        self._conn.reset_stream(stream.id, ErrorCode.ENHANCE_YOUR_CALM)
        del self._streams[stream.id]
        self._forget(stream)  # aborts the attempt and gives the bytes back
        return False

    def _release(self, stream: _Stream) -> None:
        """Give the input ``stream`` holds back to the router's budget."""
        if stream.buffered:
            self._router.buffer_input(-stream.buffered)
            stream.buffered = 0

    def _start_reaper(self) -> None:
        assert self._nursery is not None
        self._reaper = trio.CancelScope()
        self._nursery.start_soon(self._reap_lingering, self._reaper)

    async def _reap_lingering(self, scope: trio.CancelScope) -> None:
        """While the connection has streams: reset the ones whose response is complete but
        whose peer still keeps its half open, once they were seen so by two sweeps in a row.
        RST_STREAM(NO_ERROR) is how HTTP/2 tells a client that a complete response needs no
        more of its request (RFC 9113 §8.1); a response stuck behind a window the peer never
        opens is CANCELled. Likewise an invocation whose StartMessage, or a journal entry it
        announced, two sweeps have not seen (Restate sends them with the request head):
        CANCELled, its attempt aborted, which frees its ``max_invocations`` slot. One task per
        connection, only while it has streams."""
        with scope:
            while self._streams:
                await trio.sleep(LINGER_SWEEP)
                for stream in list(self._streams.values()):
                    attempt = stream.attempt
                    if attempt is not None and attempt.machine.waiting_journal:
                        if not stream.unstarted:
                            stream.unstarted = True
                            continue
                        self._router.log_no_start(f"stream {stream.id} reset (CANCEL)")
                        self._conn.reset_stream(stream.id, ErrorCode.CANCEL)
                        del self._streams[stream.id]
                        self._forget(stream)
                        continue
                    if not stream.finished or stream.remote_closed:
                        continue
                    if not stream.lingering:
                        stream.lingering = True
                        continue
                    code = ErrorCode.NO_ERROR if stream.local_closed else ErrorCode.CANCEL
                    self._conn.reset_stream(stream.id, code)
                    del self._streams[stream.id]
                    self._forget(stream)
                self._wake()
        if self._reaper is scope:
            self._reaper = None

    # ------------------------------------------------------------------ streams

    def _reply(self, stream: _Stream, reply: Reply) -> None:
        """Answer a whole response at once (the runtime may keep its half open until it hears
        from us); the rest of the request body is dropped."""
        stream.serde = None
        stream.body = []
        block = header_block(
            [
                (b":status", str(reply.status).encode()),
                (b"content-type", reply.content_type.encode()),
                (b"content-length", str(len(reply.body)).encode()),
                SERVER_HEADER,
            ]
        )
        self._conn.send_headers(stream.id, block)
        self._queue(stream, reply.body, finished=True)

    def _queue(self, stream: _Stream, data: bytes, *, finished: bool = False) -> None:
        if data:
            stream.out.append(data)
            stream.queued += len(data)
        if finished:
            stream.finished = True
        self._sending[stream.id] = stream
        self._wake()

    def _done(self, stream: _Stream) -> None:
        """Both halves ended: forget the stream."""
        if self._streams.pop(stream.id, None) is not None:
            self._forget(stream)

    def _forget(self, stream: _Stream) -> None:
        stream.reset = True
        self._release(stream)
        self._sending.pop(stream.id, None)
        if stream.attempt is not None:
            stream.attempt.abort()  # the peer reset a running invocation
            stream.attempt = None
        if self._refusing and not self._streams:
            self._close()

    async def _invoke(self, stream: _Stream, attempt: Attempt) -> None:
        try:
            await attempt.run()
        except Exception:
            logger.exception("restate_trio: invocation stream %d failed", stream.id)
            if not stream.reset and not self._closing:
                stream.attempt = None
                self._conn.reset_stream(stream.id, ErrorCode.INTERNAL_ERROR)
                self._done(stream)
                self._wake()
        finally:
            self._router.finished(attempt)

    def _has_output(self, stream: _Stream) -> None:
        """What a stream's attempt calls when it has output: the writer pulls it (see
        :meth:`_pull`)."""
        if not stream.reset:
            self._sending[stream.id] = stream
            self._dirty.set()

    def _pull(self, stream: _Stream, attempt: Attempt) -> None:
        """Move what the attempt wrote into the stream's queue; once the attempt is over, the
        stream ends after it, and late request bytes are dropped from then on."""
        data, over = attempt.take_output()
        if data:
            stream.out.append(data)
            stream.queued += len(data)
        if over:
            stream.attempt = None
            stream.finished = True

    # ------------------------------------------------------------------ writing

    def _wake(self) -> None:
        self._dirty.set()

    async def _write_loop(self) -> None:
        socket = self._socket
        conn = self._conn
        while not self._closing:
            await self._dirty.wait()
            if not self._sending:
                # Woken by the reader (a new stream's response HEADERS, control frames): let
                # the tasks it woke together with us run first. The handler of a stream whose
                # HEADERS woke us usually has its first output ready one scheduling round
                # later, and then both leave in one send (profiled at c=1: 1.56 sends per
                # no-op invocation without this, since trio runs the writer and the handler
                # in random order). Woken by an attempt's output, we run one round after it
                # (and after every task of its round) already.
                await trio.lowlevel.cancel_shielded_checkpoint()
            self._dirty = trio.Event()
            if self._sending:
                self._hand_to_http2()
            data = conn.data_to_send()
            if data:
                try:
                    await socket.send_all(data)
                except _GONE:
                    self._close()
                    break
        else:
            # Closing: deliver the GOAWAY (and whatever precedes it), within limits. Then end
            # our half and let the peer end its own: closing a socket with unread bytes makes
            # the kernel answer with a TCP reset, which can destroy the GOAWAY in flight (a peer
            # that floods us would never learn why). The reader drops what still arrives.
            with trio.move_on_after(_CLOSE_FLUSH_TIMEOUT), suppress(*_GONE):
                data = conn.data_to_send()
                if data:
                    await socket.send_all(data)
                await socket.send_eof()
                with trio.move_on_after(_LINGER):
                    await self._peer_gone.wait()
        with trio.CancelScope(shield=True):
            await socket.aclose()  # ends the reader's receive_some

    def _hand_to_http2(self) -> None:
        """Move queued output into the HTTP/2 state, as far as the peer's windows allow.
        Streams that are blocked stay queued and are retried on the next wake-up (every
        received chunk wakes us, WINDOW_UPDATEs included)."""
        conn = self._conn
        for stream_id, stream in list(self._sending.items()):
            if stream.reset:
                del self._sending[stream_id]
                continue
            attempt = stream.attempt
            if attempt is not None and stream.queued <= _MAX_QUEUED_OUTPUT:
                self._pull(stream, attempt)
            if stream.queued:
                data = stream.out[0] if len(stream.out) == 1 else b"".join(stream.out)
                sent = conn.send_data(stream_id, data, end_stream=stream.finished)
                if sent < len(data):
                    rest = data[sent:]
                    stream.out = [rest]
                    stream.queued = len(rest)
                    continue  # blocked on the peer's window (or pulling paused)
                stream.out = []
                stream.queued = 0
                if stream.finished:
                    stream.local_closed = True
            elif stream.finished:
                conn.send_data(stream_id, b"", end_stream=True)  # the last output went earlier
                stream.local_closed = True
            del self._sending[stream_id]
            if stream.local_closed and stream.remote_closed:
                self._done(stream)
