"""The ASGI application: routing, discovery, identity, and invocation streams.

Two hypercorn behaviours shape this module (see ecosystem notes, hypercorn #329):

* hypercorn's HTTP/2 reader blocks the *whole connection* once one stream's receive queue is
  full, so every request body is drained (by the invocation's own task) until it ends, for
  the life of the stream;
* if the app finishes its response (or raises) while the peer's half of the stream is still
  open, a late DATA frame crashes hypercorn's trio server. So a response is only ended after the
  request body ended (or the client disconnected), error responses drain first, and the app
  never raises.

The router's limits apply here as on the builtin HTTP/2 server, within what ASGI can say: beyond
``max_invocations`` an invocation is answered 503 with ``Retry-After`` (Restate treats it as
rate limiting and retries after that delay); an invocation whose partial input would take the
process over ``max_buffered_input`` is failed with an ErrorMessage (Restate retries it), and so
is one whose StartMessage (or a journal entry it announced) has not arrived
``Router.start_timeout`` seconds after its request head (it would hold a ``max_invocations``
slot). ASGI cannot reset a stream, so a stream whose
invocation is over but whose peer keeps its half open stays until the peer ends it or the
connection closes; it no longer counts as in flight.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import cast

import trio

from .._context.invocation import Attempt
from .router import OVERLOADED, SERVER_HEADER, Invocation, Refused, Reply, Router

logger = logging.getLogger("restate_trio.transport")

Scope = MutableMapping[str, object]
Message = MutableMapping[str, object]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class RestateApp:
    """The ASGI-3 application of an :class:`~restate_trio.Endpoint`."""

    def __init__(self, router: Router) -> None:
        # The routing, identity and negotiation, shared with the builtin server (router.py).
        self.router = router

    @property
    def draining(self) -> bool:
        return self.router.draining

    def drain(self) -> None:
        """Graceful shutdown: every invocation that waits for the runtime suspends now (and
        new ones as soon as their journal has arrived), so the server can stop without
        Restate having to time the streams out."""
        self.router.drain()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            kind = scope.get("type")
            if kind == "http":
                await self._http(scope, receive, send)
            elif kind == "lifespan":
                await _lifespan(receive, send)
        except Exception:
            # Raising would make hypercorn close the stream early (see module docstring).
            logger.exception("restate_trio: unexpected error serving %s", scope.get("path"))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        http_11 = scope.get("http_version") in ("1.0", "1.1")
        router = self.router
        route = router.dispatch(path, _headers(scope), http_11=http_11)
        if isinstance(route, Reply):
            await _respond(receive, send, route)
        elif isinstance(route, Invocation):
            await self._invoke(route, receive, send)
        elif isinstance(route, Refused):
            await _respond(receive, send, OVERLOADED, route.retry_after_header)
        else:
            body = await _read_body(receive, router)
            reply = body if isinstance(body, Reply) else router.convert(route, body)
            await _respond(None, send, reply)

    async def _invoke(self, invocation: Invocation, receive: Receive, send: Send) -> None:
        attempt = invocation.attempt
        router = self.router
        try:  # dispatch counted the attempt: whatever happens, it is finished() below
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", invocation.content_type.encode()),
                        SERVER_HEADER,
                    ],
                }
            )
            router.started(attempt)
            # Two tasks, not three: this one drains the request body (it is the half that
            # ends last, so the nursery rarely waits), a child runs the attempt, and a writer
            # only exists while there is output to send (see _Writer).
            # Cancelled once the attempt is over: until then, a request body that ended early
            # (the runtime closes its half when it wants the attempt to suspend) is still
            # watched for the disconnect that says the runtime gave up on the attempt.
            running = trio.CancelScope()
            async with trio.open_nursery() as nursery:
                writer = _Writer(send, attempt, nursery)
                attempt.on_output(writer.notify)
                nursery.start_soon(self._run, attempt, running)
                await self._pump(receive, attempt, nursery.cancel_scope, running)
            writer.nursery = None
            # Both halves are done: the request body ended (the runtime closes its half once
            # it has read our terminal frame; ending ours first would expose hypercorn #329),
            # and the attempt's output is written. A cancelled nursery means the runtime went
            # away: there is nobody to end the response for.
            if not nursery.cancel_scope.cancel_called:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            router.finished(attempt)

    async def _run(self, attempt: Attempt, running: trio.CancelScope) -> None:
        try:
            await attempt.run()
        finally:
            running.cancel()
        # Over: it stops counting as in flight, even if the peer keeps the request open
        # (which keeps the stream, see the module docstring).
        self.router.finished(attempt)

    async def _pump(
        self,
        receive: Receive,
        attempt: Attempt,
        stream: trio.CancelScope,
        running: trio.CancelScope,
    ) -> None:
        """Drain the request body into the attempt until it ends or the client goes away;
        after its end, watch for the client going away while the attempt still runs."""
        router = self.router
        machine = attempt.machine
        held = 0  # input the attempt holds (a partial message), charged to the router
        queued = _queued(receive)
        deadline = trio.current_time() + router.start_timeout
        try:
            while True:
                message: Message | None = None
                if queued is not None:
                    try:
                        message = queued()
                    except trio.WouldBlock:
                        message = None
                if message is None:
                    if machine.waiting_journal:
                        with trio.move_on_at(deadline):
                            message = await receive()
                        if message is None:
                            router.log_no_start("invocation failed")
                            attempt.reject_input(_NO_START)
                            continue  # and drain on: the stream ends when the peer ends it
                    else:
                        message = await receive()
                kind = message.get("type")
                if kind == "http.request":
                    body = message.get("body", b"")
                    if body:
                        attempt.feed(bytes(body))  # type: ignore[call-overload]
                        now = machine.buffered_input
                        if now != held:
                            ok = router.buffer_input(now - held)
                            held = now
                            if not ok:
                                router.log_over_budget("invocation failed")
                                attempt.reject_input(_OVER_BUDGET)
                        if router.draining:
                            attempt.suspend_when_idle()
                    if not message.get("more_body", False):
                        attempt.feed_eof()
                        if not running.cancel_called:
                            await _watch_disconnect(receive, attempt, stream, running)
                        return
                elif kind == "http.disconnect":
                    attempt.abort()
                    stream.cancel()
                    return
        finally:
            router.buffer_input(-held)


async def _watch_disconnect(
    receive: Receive, attempt: Attempt, stream: trio.CancelScope, running: trio.CancelScope
) -> None:
    """The request body ended before the attempt did (it suspends once its running closures
    are done, say): a disconnect now means the runtime aborted the attempt, whose handler
    and closures must stop (not run on unseen until the endpoint shuts down)."""
    with running:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                attempt.abort()
                stream.cancel()
                return


class _Writer:
    """Writes an attempt's output to the response body, from a task that only exists while
    there is output to write: most invocations write once or a few times, each in answer to
    the runtime, so a writer task parked for the whole invocation cost a spawn plus a park and
    a wake per write; a task spawned on demand costs a spawn per burst of output, and output
    that appears while it sends joins its next write."""

    __slots__ = ("attempt", "busy", "nursery", "send")

    def __init__(self, send: Send, attempt: Attempt, nursery: trio.Nursery) -> None:
        self.send = send
        self.attempt = attempt
        self.nursery: trio.Nursery | None = nursery  # None once the invocation's nursery closed
        self.busy = False

    def notify(self) -> None:
        """The attempt's output listener: called synchronously by whichever task changed it."""
        if self.busy or self.nursery is None or not self.attempt.machine.has_output:
            return
        self.busy = True
        self.nursery.start_soon(self._flush)

    async def _flush(self) -> None:
        try:
            while True:
                data = self.attempt.take_output()[0]
                if not data:
                    return
                await self.send({"type": "http.response.body", "body": data, "more_body": True})
        finally:
            self.busy = False


_NO_START = (
    "restate_trio: the StartMessage and the journal it announced did not arrive within the "
    "endpoint's start timeout; this attempt was failed"
)
_OVER_BUDGET = (
    "restate_trio: the input buffered across this endpoint's streams would exceed "
    "max_buffered_input; this attempt was failed to stay within it"
)


def _queued(receive: Receive) -> Callable[[], Message] | None:
    """The non-blocking twin of ``receive`` when it is a trio memory channel's (hypercorn's
    trio worker queues each stream's messages in one). A request body reaches us as several
    messages, often queued together (its DATA frames, an empty one for END_STREAM, the end),
    and ``await receive()`` is a scheduler round trip even when a message is waiting: taking
    the waiting ones directly removed ~2.5 of the ~26 trio task steps of a no-op invocation
    under hypercorn. Any other server: None (always ``await receive()``)."""
    channel = getattr(receive, "__self__", None)
    if isinstance(channel, trio.MemoryReceiveChannel) and receive == channel.receive:
        return cast("Callable[[], Message]", channel.receive_nowait)
    return None


async def _read_body(receive: Receive, router: Router) -> bytes | Reply | None:
    """The whole request body: ``None`` if it exceeds ``max_message_size``, a 503 if the
    router's input budget ran out (the rest is drained in both cases). Its bytes count against
    the budget while they are read."""
    chunks: list[bytes] = []
    size = 0
    charged = 0
    try:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                break
            chunk = bytes(cast("bytes", message.get("body", b"")))
            size += len(chunk)
            more = message.get("more_body", False)
            outcome: Reply | None = None
            if size <= router.max_message_size:
                charged += len(chunk)
                if router.buffer_input(len(chunk)):
                    chunks.append(chunk)
                    if not more:
                        break
                    continue
                router.log_over_budget("serde request answered 503")
                outcome = OVERLOADED
            if more:
                await _drain(receive)
            return outcome
        return b"".join(chunks)
    finally:
        router.buffer_input(-charged)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect" or not message.get("more_body", False):
            return


async def _respond(
    receive: Receive | None, send: Send, reply: Reply, *extra: tuple[bytes, bytes]
) -> None:
    """Send a whole response (with ``extra`` headers); ``receive`` is drained first, unless
    the body was read already (``None``)."""
    # Answer at once (in bidi mode the runtime keeps its half open until it hears from us), but
    # only end the response after the request body ended (hypercorn #329, module docstring).
    body = reply.body
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [
                (b"content-type", reply.content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                SERVER_HEADER,
                *extra,
            ],
        }
    )
    if receive is None:
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    await send({"type": "http.response.body", "body": body, "more_body": True})
    await _drain(receive)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _headers(scope: Scope) -> dict[str, str]:
    raw = cast("Iterable[tuple[bytes, bytes]]", scope.get("headers") or ())
    return {bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in raw}


__all__ = ["RestateApp"]
