"""Floor sides of the benchmark: each transport with a canned responder, no SDK work.

A floor side answers ``POST /invoke/Greeter/greet`` the way a real SDK would for
``greet("bob")``: 200 with the negotiated ``application/vnd.restate.invocation.vN`` content type,
then, once the request's Input command has arrived, the bytes restate-trio's own state machine
writes for that invocation (an OutputCommandMessage carrying ``"Hello bob!"``, then an
EndMessage), then the end of the response after the runtime ended its half. No protocol core,
no context, no handler, no codec runs per request: only the frame headers of the request body
are read, to know when the Input command is complete.

So a floor side measures the transport's cost alone on the no-op workload: its SDK CPU per
request is the lower bound an SDK on that transport can reach (whatever the SDK does, it pays
at least this), its req/s the upper bound the transport allows on this machine. Paired with the
official SDK like every other side, the floors say how much of each side's cost is transport:

* ``floor-builtin``: restate-trio's builtin server (``restate_trio/_transport/server.py`` and
  ``h2connection.py``, the real connection code and the real :class:`Router` for discovery),
  with :class:`FloorRouter` handing the connection a :class:`CannedAttempt` instead of an
  ``Attempt`` (``bench/floor_serve.py``);
* ``floor-hypercorn-trio`` / ``floor-hypercorn-asyncio``: :func:`app` (ASGI) on hypercorn's
  trio or asyncio worker, with ``bench/hypercorn.toml`` as the ``restate-trio-hypercorn`` and
  ``restate-sdk`` sides. The app sends the ASGI messages restate-trio's own ASGI app sends for
  greet (response start, one body with the output, the empty last body), and uses nothing
  from trio, so it runs on both workers.

Every other request (discovery, health) goes to the real router of the benchmark endpoint
(``bench/trio_app.py``), so registration is the real one; invocations of other handlers get a
404 (floor sides take part in the ``greet`` workload only; ``bench/run.py`` skips the others).
"""

import struct
from collections.abc import Callable, Mapping

import trio

from bench import trio_app
from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import encode_frame
from restate_trio._protocol.identity import IdentityVerifier
from restate_trio._protocol.machine import StateMachine
from restate_trio._protocol.types import Success
from restate_trio._protocol.versions import (
    MAX_PROTOCOL_VERSION,
    MIN_PROTOCOL_VERSION,
    negotiate_invocation_version,
)
from restate_trio._transport.asgi import (
    Receive,
    Scope,
    Send,
    _headers,
    _lifespan,
    _respond,
)
from restate_trio._transport.router import (
    SERVER_HEADER,
    Invocation,
    Refused,
    Reply,
    Router,
    Serde,
)
from restate_trio.codecs import JsonCodec

GREET = "/invoke/Greeter/greet"
_INPUT = int(m.MessageType.INPUT_COMMAND)
_FRAME_HEADER = struct.Struct(">HHI")  # type u16, flags u16, payload length u32
_ONLY_GREET = Reply(404, b"floor side: only Greeter/greet is answered")


def _machine_output(version: int) -> bytes:
    """What restate-trio's state machine writes for ``greet("bob")`` in protocol ``version``:
    driven once, at import, through a made-up Start and Input, exactly as a real attempt drives
    it (the input is read, the output journaled, the attempt ended)."""
    machine = StateMachine(version)
    start = m.StartMessage(id=b"floor", debug_id="floor", known_entries=1)
    argument = m.InputCommandMessage(value=m.Value(content=b'"bob"'))
    machine.feed(encode_frame(*m.encode(start)) + encode_frame(*m.encode(argument)))
    machine.sys_input()
    machine.sys_write_output(Success(JsonCodec().encode("Hello bob!", str)))
    machine.sys_end()
    assert machine.closed
    return machine.take_output()


#: The canned response body per protocol version.
CANNED = {v: _machine_output(v) for v in range(MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION + 1)}


class InputScanner:
    """Reads the frame headers of a request body until the Input command is complete (the
    runtime sends Start and Input first; their payloads are skipped, not decoded)."""

    __slots__ = ("_pending", "done")

    def __init__(self) -> None:
        self._pending = b""  # an incomplete frame (Restate usually sends whole messages)
        self.done = False

    def feed(self, data: bytes) -> bool:
        """Add request bytes; True once the Input command has fully arrived."""
        if self.done:
            return True
        buffer = self._pending + data if self._pending else data
        offset = 0
        while len(buffer) - offset >= _FRAME_HEADER.size:
            type_id, _flags, length = _FRAME_HEADER.unpack_from(buffer, offset)
            end = offset + _FRAME_HEADER.size + length
            if end > len(buffer):
                break
            if type_id == _INPUT:
                self.done = True
                self._pending = b""
                return True
            offset = end
        self._pending = buffer[offset:]
        return False


# ---------------------------------------------------------------------------
# floor-builtin: the h2 server's connection code with a canned attempt
# ---------------------------------------------------------------------------


class CannedAttempt:
    """Stands in for ``restate_trio._context.invocation.Attempt`` in ``h2connection.py``, with
    the part of its interface that the connection calls (``run``, ``feed``, ``feed_eof``,
    ``abort``, ``on_output``, ``take_output``, ``suspend_when_idle``, ``machine.buffered_input``).

    Like a real attempt, the output is produced by the invocation's own task (``run``, which
    the connection starts per stream) once the input is there, and announced to the connection's
    writer through the output listener; nothing else happens per invocation."""

    __slots__ = ("_canned", "_listener", "_out", "_over", "_scanner", "_waiting", "machine")

    # The connection reads ``attempt.machine.buffered_input`` (input held for a partial
    # message, charged to the router's budget): the scanner holds at most one frame header.
    buffered_input = 0

    def __init__(self, canned: bytes) -> None:
        self.machine = self
        self._canned = canned
        self._scanner = InputScanner()
        self._out = b""
        self._over = False
        self._listener: Callable[[], None] | None = None
        # Only when run() must wait (the input arrives after the task started): usually the
        # HEADERS and the DATA frame with Start and Input come in one read, before it runs.
        self._waiting: trio.Event | None = None

    def _wake(self) -> None:
        if self._waiting is not None:
            self._waiting.set()

    def feed(self, data: bytes) -> None:
        if self._scanner.feed(data):
            self._wake()

    def feed_eof(self) -> None:
        self._wake()

    def suspend_when_idle(self) -> None:
        pass  # nothing waits for the runtime beyond the input

    def abort(self) -> None:
        self._over = True
        self._out = b""
        self._wake()

    def on_output(self, listener: Callable[[], None]) -> None:
        self._listener = listener
        if self._out or self._over:
            listener()

    def take_output(self) -> tuple[bytes, bool]:
        data, self._out = self._out, b""
        return data, self._over

    async def run(self) -> None:
        if not self._scanner.done and not self._over:
            self._waiting = trio.Event()
            await self._waiting.wait()  # set by feed (Input), feed_eof or abort
        if not self._over and self._scanner.done:
            self._out = self._canned
        self._over = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener()


class FloorRouter(Router):
    """The endpoint's router, except that greet is answered by a :class:`CannedAttempt`."""

    def dispatch(
        self, path: str, headers: Mapping[str, str], *, http_11: bool
    ) -> Reply | Invocation | Serde | Refused:
        if path.endswith(GREET):
            content_type = headers.get("content-type", "")
            version = negotiate_invocation_version(content_type)
            if version is not None:
                # The connection only calls the Attempt methods CannedAttempt has.
                return Invocation(CannedAttempt(CANNED[version]), content_type)  # type: ignore[arg-type]
        elif "/invoke/" in path:
            return _ONLY_GREET
        return super().dispatch(path, headers, http_11=http_11)  # discovery, health, 415


router = FloorRouter(
    {service.name: service for service in trio_app.endpoint.services},
    identity=IdentityVerifier(),
)


# ---------------------------------------------------------------------------
# floor-hypercorn-*: an ASGI app (no trio in it: it runs on both workers)
# ---------------------------------------------------------------------------


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope.get("type")
    if kind == "lifespan":
        await _lifespan(receive, send)
        return
    if kind != "http":
        return
    path = str(scope.get("path", ""))
    headers = _headers(scope)
    if path.endswith(GREET):
        content_type = headers.get("content-type", "")
        version = negotiate_invocation_version(content_type)
        if version is not None:
            await _greet(CANNED[version], content_type, receive, send)
            return
    route = router.dispatch(path, headers, http_11=scope.get("http_version") in ("1.0", "1.1"))
    await _respond(receive, send, route if isinstance(route, Reply) else _ONLY_GREET)


async def _greet(canned: bytes, content_type: str, receive: Receive, send: Send) -> None:
    """Answer at once (the runtime waits for our headers), write the output once the Input
    command is in, and end the response only after the request body ended, as restate-trio's
    ASGI app does (ending first exposes hypercorn #329 on its trio worker)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", content_type.encode()), SERVER_HEADER],
        }
    )
    scanner = InputScanner()
    written = False
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return
        body = message.get("body", b"")
        if not written and body and scanner.feed(bytes(body)):  # type: ignore[call-overload]
            written = True
            await send({"type": "http.response.body", "body": canned, "more_body": True})
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.body", "body": b"", "more_body": False})
