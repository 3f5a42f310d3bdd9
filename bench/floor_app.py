"""Floor sides of the benchmark: each transport with a canned responder, no SDK work.

A floor side answers every benchmark invocation (``Greeter/greet``, ``Counter/add``,
``Runner/run1``, ``Runner/steps10``, ``Proxy/greet``) the way restate-trio does, with its
bytes and none of its work: 200 with the negotiated ``application/vnd.restate.invocation.vN``
content type, then a fixed *script* per handler and protocol version. Each step of a script
waits for a message type from the runtime (the Input command first; then, for a ``ctx.run``,
its completion or V7 ack; for a call, the call's result) and answers with the bytes
restate-trio's own state machine writes at that point of the invocation. The scripts are
recorded at import by driving a real :class:`StateMachine` through each handler, exactly as
an attempt drives it. Per request only frame headers of the request body are read; no protocol
core, context, handler or codec runs. (Answers are the handlers' for the benchmark's request
bodies: ``Counter/add`` always answers 1 and sets the count to 1.)

So a floor side measures the transport's cost alone on each workload, with the same frames
and round trips per invocation as restate-trio: its SDK CPU per request is the lower bound an
SDK on that transport can reach (whatever the SDK does, it pays at least this), its req/s the
upper bound the transport allows on this machine. Paired with the official SDK like every
other side, the floors say how much of each side's cost is transport:

* ``floor-builtin``: restate-trio's builtin server (``restate_trio/_transport/server.py`` and
  ``h2connection.py``, the real connection code and the real :class:`Router` for discovery),
  with :class:`FloorRouter` handing the connection a :class:`CannedAttempt` instead of an
  ``Attempt`` (``bench/floor_serve.py``);
* ``floor-hypercorn-trio`` / ``floor-hypercorn-asyncio``: :func:`app` (ASGI) on hypercorn's
  trio or asyncio worker, with ``bench/hypercorn.toml`` as the ``restate-trio-hypercorn`` and
  ``restate-sdk`` sides. The app sends the ASGI messages restate-trio's own ASGI app sends
  (response start, one body per script step, the empty last body), and uses nothing from trio,
  so it runs on both workers.

Every other request (discovery, health) goes to the real router of the benchmark endpoint
(``bench/trio_app.py``), so registration is the real one; the memory point's ``Waiter``
invocations get a 404 (floor sides have no memory point).
"""

import struct
from collections.abc import Callable, Mapping

import trio

from bench import trio_app
from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import encode_frame
from restate_trio._protocol.futures import Leaf
from restate_trio._protocol.identity import IdentityVerifier
from restate_trio._protocol.machine import Progress, StateMachine
from restate_trio._protocol.types import NotificationId, Success
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

_FRAME_HEADER = struct.Struct(">HHI")  # type u16, flags u16, payload length u32
_NOT_SCRIPTED = Reply(404, b"floor side: this handler has no script")
_JSON = JsonCodec()

#: One step: the message types of which one must arrive, then the bytes to write.
Step = tuple[frozenset[int], bytes]
Script = tuple[Step, ...]

_INPUT = frozenset({int(m.MessageType.INPUT_COMMAND)})
_RUN_DONE = frozenset(
    {int(m.MessageType.RUN_COMPLETION), int(m.MessageType.PROPOSE_RUN_COMPLETION_ACK)}
)
_CALL_DONE = frozenset({int(m.MessageType.CALL_COMPLETION)})


class _Recorder:
    """Drives a :class:`StateMachine` through one handler and records what it writes between
    the runtime's messages: the script of a floor side."""

    def __init__(self, version: int, argument: bytes, state: Mapping[str, bytes] = {}) -> None:
        self.machine = StateMachine(version)
        start = m.StartMessage(
            id=b"floor",
            debug_id="floor",
            known_entries=1,
            key="k" if state else "",
            state_map=[
                m.StartMessage.StateEntry(key=k.encode(), value=v) for k, v in state.items()
            ],
        )
        self.machine.feed(
            encode_frame(*m.encode(start))
            + encode_frame(*m.encode(m.InputCommandMessage(value=m.Value(content=argument))))
        )
        self.machine.sys_input()
        self.steps: list[Step] = []
        self._waiting_for = _INPUT

    def _cut(self, next_wait: frozenset[int], *notifications: object) -> None:
        self.steps.append((self._waiting_for, self.machine.take_output()))
        self._waiting_for = next_wait
        self.machine.feed(b"".join(encode_frame(*m.encode(n)) for n in notifications))  # type: ignore[arg-type]

    def run(self, value: object) -> None:
        """A ``ctx.run`` whose closure returns ``value``, awaited."""
        machine = self.machine
        nid, execute = machine.sys_run("step")
        assert execute
        machine.run_started(nid)
        result = Success(_JSON.encode(value, type(value)))
        machine.propose_run_completion(nid, result)
        cid = int(nid.value)
        if machine.version >= 7:
            done: object = m.ProposeRunCompletionAckMessage(completion_id=cid)
        else:
            done = m.RunCompletionNotificationMessage(
                completion_id=cid, value=m.Value(content=result.value)
            )
        self._cut(_RUN_DONE, done)
        assert machine.do_progress(Leaf(nid)) is Progress.RESOLVED

    def call(self, service: str, handler: str, argument: bytes, answer: bytes) -> None:
        """A request-response call, awaited."""
        id_nid, result_nid = self.machine.sys_call(service, handler, argument)
        self._cut(
            _CALL_DONE,
            m.CallInvocationIdCompletionNotificationMessage(
                completion_id=int(id_nid.value), invocation_id="inv_floor"
            ),
            m.CallCompletionNotificationMessage(
                completion_id=int(result_nid.value), value=m.Value(content=answer)
            ),
        )
        assert self.machine.do_progress(Leaf(result_nid)) is Progress.RESOLVED

    def finish(self, value: object) -> Script:
        self.machine.sys_write_output(Success(_JSON.encode(value, type(value))))
        self.machine.sys_end()
        assert self.machine.closed
        self.steps.append((self._waiting_for, self.machine.take_output()))
        return tuple(self.steps)


def _greet(version: int) -> Script:
    return _Recorder(version, b'"bob"').finish("Hello bob!")


def _counter_add(version: int) -> Script:
    recorder = _Recorder(version, b"1", state={"count": b"0"})
    machine = recorder.machine
    current = machine.sys_get_state("count")  # eager: the state came with Start
    assert not isinstance(current, NotificationId)
    machine.sys_set_state("count", b"1")
    return recorder.finish(1)


def _run1(version: int) -> Script:
    recorder = _Recorder(version, b'"bob"')
    recorder.run("Hello bob!")
    return recorder.finish("Hello bob!")


def _steps10(version: int) -> Script:
    recorder = _Recorder(version, b'"bob"')
    for _ in range(10):
        recorder.run(1)
    return recorder.finish(10)


def _proxy(version: int) -> Script:
    recorder = _Recorder(version, b'"bob"')
    recorder.call("Greeter", "greet", b'"bob"', b'"Hello bob!"')
    return recorder.finish("Hello bob!")


#: The scripts, by invocation path suffix and protocol version.
SCRIPTS: dict[str, dict[int, Script]] = {
    path: {v: record(v) for v in range(MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION + 1)}
    for path, record in (
        ("/invoke/Greeter/greet", _greet),
        ("/invoke/Counter/add", _counter_add),
        ("/invoke/Runner/run1", _run1),
        ("/invoke/Runner/steps10", _steps10),
        ("/invoke/Proxy/greet", _proxy),
    )
}


def script_for(path: str, content_type: str) -> Script | None:
    """The script answering an invocation request, if the floor has one."""
    version = negotiate_invocation_version(content_type)
    if version is None or "/invoke/" not in path:
        return None
    scripts = SCRIPTS.get(path[path.index("/invoke/") :])
    return None if scripts is None else scripts[version]


class TypeScanner:
    """Reads the frame headers of a request body and tells when a frame of a wanted type has
    arrived (payloads are skipped, not decoded)."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""  # an incomplete frame (Restate usually sends whole messages)

    def feed(self, data: bytes, wanted: frozenset[int]) -> tuple[bool, bytes]:
        """Add request bytes; (whether a wanted frame is complete, the bytes after it, to feed
        again for the next step)."""
        buffer = self._pending + data if self._pending else data
        offset = 0
        while len(buffer) - offset >= _FRAME_HEADER.size:
            type_id, _flags, length = _FRAME_HEADER.unpack_from(buffer, offset)
            end = offset + _FRAME_HEADER.size + length
            if end > len(buffer):
                break
            offset = end
            if type_id in wanted:
                self._pending = b""
                return True, buffer[offset:]
        self._pending = buffer[offset:]
        return False, b""


# ---------------------------------------------------------------------------
# floor-builtin: the builtin server's connection code with a canned attempt
# ---------------------------------------------------------------------------


class CannedAttempt:
    """Stands in for ``restate_trio._context.invocation.Attempt`` in ``h2connection.py``, with
    the part of its interface that the connection calls (``run``, ``feed``, ``feed_eof``,
    ``abort``, ``on_output``, ``take_output``, ``suspend_when_idle``, ``machine.buffered_input``).

    Like a real attempt, each step's output is produced by the invocation's own task (``run``,
    which the connection starts per stream) once the runtime's message is there, and announced
    to the connection's writer through the output listener; nothing else happens per
    invocation."""

    __slots__ = (
        "_arrived",
        "_eof",
        "_listener",
        "_out",
        "_over",
        "_scanner",
        "_script",
        "_step",
        "_waiting",
        "machine",
    )

    # The connection reads ``attempt.machine.buffered_input`` (input held for a partial
    # message, charged to the router's budget): the scanner holds at most one frame header.
    buffered_input = 0

    def __init__(self, script: Script) -> None:
        self.machine = self
        self._script = script
        self._step = 0  # the step whose message is awaited
        self._arrived = 0  # steps whose message has arrived
        self._scanner = TypeScanner()
        self._out = b""
        self._over = False
        self._eof = False  # the request body ended: no step waiting for a message can go on
        self._listener: Callable[[], None] | None = None
        # Only when run() must wait (the message arrives after the task got there).
        self._waiting: trio.Event | None = None

    def _wake(self) -> None:
        if self._waiting is not None:
            self._waiting.set()

    def feed(self, data: bytes) -> None:
        script = self._script
        while data and self._arrived < len(script):
            found, data = self._scanner.feed(data, script[self._arrived][0])
            if not found:
                return
            self._arrived += 1
            self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def suspend_when_idle(self) -> None:
        pass  # nothing waits for the runtime beyond the script

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
        script = self._script
        while self._step < len(script) and not self._over:
            if self._arrived <= self._step:
                if self._eof:
                    break
                self._waiting = trio.Event()
                await self._waiting.wait()  # set by feed, feed_eof or abort
                self._waiting = None
                continue
            self._out += script[self._step][1]
            self._step += 1
            if self._step == len(script):
                self._over = True
            if self._listener is not None:
                self._listener()
        self._over = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener()


class FloorRouter(Router):
    """The endpoint's router, except that scripted handlers get a :class:`CannedAttempt`."""

    def dispatch(
        self, path: str, headers: Mapping[str, str], *, http_11: bool
    ) -> Reply | Invocation | Serde | Refused:
        if "/invoke/" in path:
            content_type = headers.get("content-type", "")
            script = script_for(path, content_type)
            if script is not None:
                # The connection only calls the Attempt methods CannedAttempt has.
                return Invocation(CannedAttempt(script), content_type)  # type: ignore[arg-type]
            if negotiate_invocation_version(content_type) is not None:
                return _NOT_SCRIPTED
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
    content_type = headers.get("content-type", "")
    script = script_for(path, content_type)
    if script is not None:
        await _answer(script, content_type, receive, send)
        return
    route = router.dispatch(path, headers, http_11=scope.get("http_version") in ("1.0", "1.1"))
    await _respond(receive, send, route if isinstance(route, Reply) else _NOT_SCRIPTED)


async def _answer(script: Script, content_type: str, receive: Receive, send: Send) -> None:
    """Answer at once (the runtime waits for our headers), write each step's bytes once its
    message is in, and end the response only after the request body ended, as restate-trio's
    ASGI app does (ending first exposes hypercorn #329 on its trio worker)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", content_type.encode()), SERVER_HEADER],
        }
    )
    scanner = TypeScanner()
    step = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return
        data = bytes(message.get("body", b""))  # type: ignore[call-overload]
        while data and step < len(script):
            found, data = scanner.feed(data, script[step][0])
            if not found:
                break
            await send({"type": "http.response.body", "body": script[step][1], "more_body": True})
            step += 1
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.body", "body": b"", "more_body": False})
