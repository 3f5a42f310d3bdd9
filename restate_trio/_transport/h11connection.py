"""One HTTP/1.1 connection of the builtin server: sequential keep-alive requests on ``h11``.

Restate speaks HTTP/1.1 to deployments registered with ``--use-http1.1``, in its
request/response protocol mode: the request body is the whole journal (the runtime ends it
before it reads our answer), and the response is what the attempt produced until it ended
(completed, failed, or suspended for lack of input). Everything else (discovery, health, serde,
the 401/404/413/415 answers) comes from the same :class:`Router` as over HTTP/2.

How bytes move:

* Request bytes go straight into ``Attempt.feed`` as they arrive, as over HTTP/2: nothing
  waits in a buffer of ours. What we do buffer is bounded: a request head by
  ``MAX_HEAD_SIZE`` (h11's ``max_incomplete_event_size``; past it: 431 and close), a serde
  body by ``Router.max_message_size`` (413) and, while it is read, by the router's
  process-wide ``max_buffered_input`` (503), as over HTTP/2, and a body nobody reads (after an
  error reply, or after the attempt ended) is dropped up to ``max_message_size`` plus a frame,
  past which the connection closes. It closes too (its attempt aborted) when an invocation's
  StartMessage (or a journal entry it announced) has not arrived ``Router.start_timeout``
  seconds after its head: it would hold a ``max_invocations`` slot.
* The response is streamed (chunked transfer-encoding), not buffered: an attempt's output has
  no size bound of ours, and the runtime reads it as it comes. The head waits for the
  attempt's first output, and output is held back while the attempt is already over, so a
  short invocation (the usual case) leaves in one ``send_all``: head, body chunk, terminator.
* A malformed request gets a 400 (h11's status hint: 431 for an oversized head, 501 for an
  unknown transfer-coding) and its connection is closed; an exception or a peer that goes away
  ends this connection only.

Graceful shutdown (:meth:`H11Connection.shutdown`): an idle connection (no byte of a next
request received) closes at once; otherwise the request in flight is finished, its response
says ``Connection: close`` if its head has not left yet, and the connection closes after it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial
from http import HTTPStatus

import h11
import trio

from .._context.invocation import Attempt
from .logs import RateLimitedWarning
from .router import (
    OVERLOADED,
    SERVER_HEADER,
    Invocation,
    Refused,
    Reply,
    Router,
    Serde,
    request_path,
)

__all__ = ["MAX_HEAD_SIZE", "H11Connection"]

logger = logging.getLogger("restate_trio.transport")

# The largest request head (request line and headers) we buffer: as much as HTTP/2 accepts
# (h2connection.MAX_HEADER_LIST_SIZE).
MAX_HEAD_SIZE = 64 << 10
# How long we may spend writing an error answer to a peer that is closing anyway.
_CLOSE_FLUSH_TIMEOUT = 5.0
_RECEIVE_SIZE = 1 << 16
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


class _Gone(Exception):
    """The peer closed or reset the connection."""


class H11Connection:
    """Serve one accepted socket (HTTP/1.x) until it closes."""

    def __init__(
        self, socket: trio.abc.Stream, router: Router, log_peer_error: RateLimitedWarning
    ) -> None:
        self._socket = socket
        self._router = router
        self._log_peer_error = log_peer_error
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_SIZE)
        self._stopping = False
        # Cancels the wait for the next request while nothing of it has arrived (shutdown).
        self._idle: trio.CancelScope | None = None
        # The watch for a peer that leaves while its invocation runs (_watch).
        self._watching = trio.CancelScope()
        # As over HTTP/2: bytes nobody reads are dropped up to one message plus a frame.
        self._discard_limit = router.max_message_size + 16_384

    # ------------------------------------------------------------------ lifecycle

    async def run(self, received: bytes) -> None:
        """Serve until the peer goes away or the connection is closed; never raises (except
        ``trio.Cancelled``). ``received``: the bytes the listener read to tell the protocol
        (server.py)."""
        conn = self._conn
        try:
            conn.receive_data(received)
            while await self._serve_one():
                conn.start_next_cycle()
        except _Gone:
            pass
        except h11.RemoteProtocolError as exc:
            await self._bad_request(exc)
        except Exception:
            logger.exception("restate_trio: HTTP/1.1 connection failed")
        finally:
            with trio.CancelScope(shield=True):
                await self._socket.aclose()

    def shutdown(self) -> None:
        """Graceful shutdown: close now if idle, else after the response in flight."""
        self._stopping = True
        if self._idle is not None:
            self._idle.cancel()

    async def _bad_request(self, exc: h11.RemoteProtocolError) -> None:
        status = exc.error_status_hint
        self._log_peer_error(
            "restate_trio: malformed HTTP/1.1 request from a peer, answered %d and closed: %s",
            status,
            exc,
        )
        if self._conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # our response has begun: closing is all that is left
        body = f"malformed request: {exc}\n".encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: text/plain\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        with trio.move_on_after(_CLOSE_FLUSH_TIMEOUT), suppress(*_GONE):
            await self._socket.send_all(head.encode() + body)

    # ------------------------------------------------------------------ reading

    async def _receive(self) -> None:
        try:
            data = await self._socket.receive_some(_RECEIVE_SIZE)
        except _GONE as exc:
            raise _Gone from exc
        # b"": the peer closed its half; h11 says what that means here.
        self._conn.receive_data(data if isinstance(data, bytes) else bytes(data))

    async def _next_event(self) -> h11.Event:
        """The next event of the request in flight (raises ``h11.RemoteProtocolError``)."""
        conn = self._conn
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                await self._receive()
            elif event is h11.PAUSED:  # pragma: no cover - only after the request's end
                raise RuntimeError("h11 paused mid-request")
            else:
                return event  # type: ignore[return-value]

    async def _next_request(self) -> h11.Request | None:
        """The next request's head; ``None`` if the connection is to close (the peer closed it
        between requests, or shutdown found it idle)."""
        conn = self._conn
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                return event
            if event is not h11.NEED_DATA:
                return None  # ConnectionClosed
            idle = not conn.trailing_data[0]  # not a byte of the next request yet
            if idle and self._stopping:
                return None
            with trio.CancelScope() as scope:
                if idle:
                    self._idle = scope
                try:
                    await self._receive()
                finally:
                    self._idle = None
            if scope.cancelled_caught:
                return None  # shut down while idle (a cancelled receive consumed nothing)

    # ------------------------------------------------------------------ requests

    async def _serve_one(self) -> bool:
        """Serve one request; whether the connection may carry another."""
        request = await self._next_request()
        if request is None:
            return False
        conn = self._conn
        path = request_path(request.target.decode("latin-1"))
        # h11 lowercases header names; a repeated header keeps its last value (as over ASGI).
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in request.headers
        }
        route = self._router.dispatch(path, headers, http_11=True)
        if isinstance(route, Invocation):
            if not await self._invoke(route):
                return False
        elif isinstance(route, Serde):
            body = await self._read_body(self._router.max_message_size)
            if isinstance(body, Reply):
                await self._reply(body, request)
            else:  # converted before anything else runs: as if its bytes were still held
                await self._reply(self._router.convert(route, body), request)
        elif isinstance(route, Refused):
            # Too many invocations in flight; Restate treats 503 as rate limiting and retries.
            await self._reply(OVERLOADED, request, route.retry_after_header)
        else:
            await self._reply(route, request)
        if conn.their_state is h11.SEND_BODY and not await self._discard_body():
            return False
        return not self._stopping and conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _continue(self) -> None:
        """Before reading a body the peer holds back until we ask (``Expect: 100-continue``)."""
        if self._conn.they_are_waiting_for_100_continue:
            await self._send(self._encode(h11.InformationalResponse(status_code=100, headers=[])))

    async def _read_body(self, limit: int) -> bytes | Reply | None:
        """The whole request body; ``None`` once it exceeds ``limit``, a 503 once it would
        take the process over the router's ``max_buffered_input`` (the rest is left to
        :meth:`_discard_body` in both cases). Its bytes count against that budget while they
        are read, and are given back however this ends (a peer that goes away included)."""
        await self._continue()
        router = self._router
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                event = await self._next_event()
                if isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > limit:
                        return None
                    chunk = bytes(event.data)
                    chunks.append(chunk)
                    if not router.buffer_input(len(chunk)):
                        router.log_over_budget("HTTP/1.1 serde request answered 503")
                        return OVERLOADED
                elif isinstance(event, h11.EndOfMessage):
                    return b"".join(chunks)
                else:
                    raise _Gone
        finally:
            router.buffer_input(-sum(map(len, chunks)))

    async def _discard_body(self) -> bool:
        """Drop the rest of a request body nobody reads, within the discard limit; whether it
        ended within it."""
        if self._conn.they_are_waiting_for_100_continue:
            return False  # never asked for: it may never come; close instead
        dropped = 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                dropped += len(event.data)
                if dropped > self._discard_limit:
                    self._log_peer_error(
                        "restate_trio: an HTTP/1.1 request body nobody reads exceeded %d "
                        "bytes; closing the connection",
                        self._discard_limit,
                    )
                    return False
            elif isinstance(event, h11.EndOfMessage):
                return True
            else:
                raise _Gone

    async def _reply(self, reply: Reply, request: h11.Request, *extra: tuple[bytes, bytes]) -> None:
        """A whole response at once (before the request body was read, as over HTTP/2)."""
        conn = self._conn
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(reply.body)).encode()),
            SERVER_HEADER,
            *extra,
        ]
        if self._stopping or conn.they_are_waiting_for_100_continue:
            headers.append((b"connection", b"close"))
        reason = HTTPStatus(reply.status).phrase.encode()
        data = self._encode(h11.Response(status_code=reply.status, headers=headers, reason=reason))
        if request.method != b"HEAD":
            data += self._encode(h11.Data(data=reply.body))
        await self._send(data + self._encode(h11.EndOfMessage()))

    # ------------------------------------------------------------------ invocations

    async def _invoke(self, invocation: Invocation) -> bool:
        """Run the invocation: the body feeds the attempt while its output is written.
        Whether the connection is still usable."""
        attempt = invocation.attempt
        router = self._router
        router.started(attempt)
        # The first failure of either half (its exception), after which the connection closes.
        failure: list[BaseException] = []
        over = trio.Event()  # the attempt's output is all written (late input is dropped)
        try:
            async with trio.open_nursery() as nursery:

                async def guarded(half: Callable[[], Awaitable[None]]) -> None:
                    try:
                        await half()
                    except (_Gone, h11.RemoteProtocolError) as exc:
                        failure.append(exc)
                        attempt.abort()
                        nursery.cancel_scope.cancel()

                write = partial(self._write, attempt, invocation.content_type, over)
                nursery.start_soon(guarded, partial(self._feed, attempt, over))
                nursery.start_soon(guarded, write)
                await attempt.run()
        finally:
            router.finished(attempt)
        if failure:
            if isinstance(failure[0], h11.RemoteProtocolError):
                raise failure[0]  # run() answers 400 if our response has not begun
            return False
        return True

    async def _feed(self, attempt: Attempt, over: trio.Event) -> None:
        router = self._router
        deadline = trio.current_time() + router.start_timeout
        await self._continue()
        machine = attempt.machine
        dropped = 0
        while True:
            if machine.waiting_journal:
                # A cancelled receive consumes nothing, so the wait can be given up safely.
                event: h11.Event | None = None
                with trio.move_on_at(deadline):
                    event = await self._next_event()
                if event is None:
                    router.log_no_start("HTTP/1.1 connection closed")
                    raise _Gone  # the attempt is aborted and the connection closes
            else:
                event = await self._next_event()
            if isinstance(event, h11.Data):
                if not over.is_set():
                    attempt.feed(bytes(event.data))
                    if router.draining:
                        attempt.suspend_when_idle()
                    continue
                # The attempt is over: drop the rest, within limits.
                dropped += len(event.data)
                if dropped > self._discard_limit:
                    self._log_peer_error(
                        "restate_trio: an HTTP/1.1 request body kept coming after its "
                        "invocation ended; closing the connection"
                    )
                    raise _Gone
            elif isinstance(event, h11.EndOfMessage):
                if not over.is_set():
                    attempt.feed_eof()
                    with trio.CancelScope() as self._watching:
                        await self._watch()
                return
            else:
                raise _Gone

    async def _watch(self) -> None:
        """While the response is written: notice a peer that goes away, so that its attempt
        stops (nothing else reads the socket until the next request). One read: the bytes of
        a pipelined next request wait in h11 until this response is done."""
        try:
            data = await self._socket.receive_some(_RECEIVE_SIZE)
        except _GONE as exc:
            raise _Gone from exc
        if not data:
            raise _Gone  # closed: nobody is left to answer
        self._conn.receive_data(data if isinstance(data, bytes) else bytes(data))

    async def _write(self, attempt: Attempt, content_type: str, over: trio.Event) -> None:
        """Stream the attempt's output as the response body, then end the response."""
        pending = b""
        started = False
        while (data := await attempt.next_output()) is not None:
            if not started:
                pending = self._head(content_type, chunked=True)
                started = True
            pending += self._encode(h11.Data(data=data))
            if not attempt.machine.closed:
                # More output will come: deliver this now. Once the attempt is over, the next
                # next_output() returns at once and the terminator joins this write.
                await self._send(pending)
                pending = b""
        if not started:  # ended without output (aborted): an empty response
            pending = self._head(content_type, chunked=False)
        over.set()
        self._watching.cancel()  # a cancelled receive consumed nothing
        await self._send(pending + self._encode(h11.EndOfMessage()))

    def _head(self, content_type: str, *, chunked: bool) -> bytes:
        headers = [(b"content-type", content_type.encode()), SERVER_HEADER]
        if not chunked:
            headers.append((b"content-length", b"0"))
        # Decided when the head leaves, not when the request came: a shutdown meanwhile
        # still reaches the peer.
        if self._stopping:
            headers.append((b"connection", b"close"))
        return self._encode(h11.Response(status_code=200, headers=headers, reason=b"OK"))

    # ------------------------------------------------------------------ writing

    def _encode(self, event: h11.Event) -> bytes:
        return self._conn.send(event) or b""

    async def _send(self, data: bytes) -> None:
        try:
            await self._socket.send_all(data)
        except _GONE as exc:
            raise _Gone from exc
