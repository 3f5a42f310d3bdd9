"""What an endpoint answers, independent of the HTTP server that carries it.

Both servers (the ASGI app under hypercorn, and the builtin server) parse a request into a
path and a header mapping and hand it to :meth:`Router.dispatch`, which decides everything
that is not HTTP framing: the route, the request identity, the discovery manifest, content-type and
protocol-version negotiation, serde conversion, and the :class:`Attempt` that runs an
invocation. The servers only differ in how they move bytes (and in when they may end a
response).

The process-wide limits live here too, so that both servers enforce the same ones:

* at most ``max_invocations`` invocations in flight: beyond it a new one is refused before
  anything is built for it (:class:`Refused`; the server answers REFUSED_STREAM or 503);
* at most ``max_buffered_input`` bytes of request input held across all streams, i.e. partial
  protocol messages and serde bodies, over HTTP/2, HTTP/1.1 and ASGI alike
  (:meth:`Router.buffer_input`; the server drops the stream that went over it, or answers a
  serde request 503);
* an invocation whose StartMessage, and the journal entries it announces, have not all arrived
  :attr:`Router.start_timeout` seconds after its request head (:data:`START_TIMEOUT`) holds
  an in-flight slot for nothing: the server drops it (the builtin server at its lingering-stream
  sweeps, after 5-10 s). Restate sends all of them with the request.

What one attempt holds of the runtime's notifications is bounded by its state machine
(``machine.MAX_UNMATCHED_SIGNALS``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

import orjson

from .._context.hooks import HookSet
from .._context.invocation import Attempt, decode
from .._protocol.framing import DEFAULT_MAX_MESSAGE_SIZE
from .._protocol.identity import IdentityError, IdentityVerifier
from .._protocol.machine import StateMachine
from .._protocol.versions import (
    MAX_PROTOCOL_VERSION,
    MIN_PROTOCOL_VERSION,
    negotiate_invocation_version,
    supported_range,
)
from .._service.definitions import ServiceDefinition
from .._service.manifest import (
    build_manifest,
    manifest_content_type,
    negotiate_manifest_version,
    serialize_manifest,
)
from .._version import __version__
from ..codecs import CodecError, JsonCodec, PayloadCodec
from .logs import RateLimitedWarning

__all__ = [
    "DEFAULT_MAX_INVOCATIONS",
    "OVERLOADED",
    "START_TIMEOUT",
    "SERVER_HEADER",
    "Invocation",
    "Refused",
    "Reply",
    "Router",
    "Serde",
    "default_max_buffered_input",
    "request_path",
]

logger = logging.getLogger("restate_trio.transport")

_JSON = JsonCodec()
SERVER_HEADER = (b"x-restate-server", f"restate-trio/{__version__}".encode())

# Restate puts at most 128 streams on a connection and opens more connections beyond that, so
# the process-wide cap is what bounds an endpoint's memory: a parked invocation costs ~15-25 KiB
# (its task, context and machine), so 10,000 of them are ~150-250 MiB, which a process can
# hold, and ~80 full connections of concurrent work, which one process cannot use for CPU-bound
# handlers anyway. Refusing is cheap and Restate retries, so the cap only delays work.
DEFAULT_MAX_INVOCATIONS = 10_000
# Seconds a 503 asks Restate to wait before retrying a refused invocation (ASGI path).
RETRY_AFTER = 1
# Seconds an invocation may wait for its StartMessage after its request head. Restate sends it
# with the head (in the same write, or the next one), so only a stalled or hostile peer waits
# this long; meanwhile the stream counts against max_invocations.
START_TIMEOUT = 10.0


def default_max_buffered_input(max_message_size: int) -> int:
    """Input bytes held across streams by default: room for a few maximal messages at once
    (at least 64 MiB). Restate sends messages whole and fast, so partial messages are
    transient; only a peer that trickles huge ones, or opens many, reaches this."""
    return max(64 << 20, 4 * max_message_size)


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole response: the server writes it and ends the response."""

    status: int
    body: bytes
    content_type: str = "text/plain"


@dataclass(slots=True)  # not frozen: one per invocation, and frozen fields cost (types.StartInfo)
class Invocation:
    """An accepted invocation: answer 200 with ``content_type``, then run ``attempt``."""

    attempt: Attempt
    content_type: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Too many invocations in flight: refuse this one without starting it (Restate retries
    it): REFUSED_STREAM on HTTP/2 where the server can, else 503 with ``Retry-After``."""

    retry_after: int = RETRY_AFTER

    @property
    def retry_after_header(self) -> tuple[bytes, bytes]:
        """For the 503 (:data:`OVERLOADED`) of servers that cannot refuse a stream."""
        return (b"retry-after", str(self.retry_after).encode())


#: The answer to a refused request where the server cannot refuse its stream (HTTP/1.1, ASGI),
#: and to a serde body beyond the input budget.
OVERLOADED = Reply(503, b"restate_trio: too busy, retry later")


@dataclass(frozen=True, slots=True)
class Serde:
    """A serde preview request: the server reads the whole body, then calls
    :meth:`Router.convert`."""

    path: str
    decoding: bool  # codec → JSON; else JSON → codec
    codec: PayloadCodec
    type: object


def request_path(raw: str) -> str:
    """The path of a request target (``:path`` in HTTP/2): no query, percent-decoded, as
    ASGI servers present ``scope["path"]``."""
    path = raw.split("?", 1)[0]
    return unquote(path) if "%" in path else path


_REFUSED = Refused()


class Router:
    """The transport-neutral part of an endpoint: one per endpoint, shared by its servers."""

    def __init__(
        self,
        services: Mapping[str, ServiceDefinition],
        *,
        identity: IdentityVerifier,
        protocol_mode: str | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_protocol_version: int = MAX_PROTOCOL_VERSION,
        max_invocations: int = DEFAULT_MAX_INVOCATIONS,
        max_buffered_input: int | None = None,
        hooks: HookSet | None = None,
    ) -> None:
        if max_invocations < 1:
            raise ValueError("max_invocations must be at least 1")
        self._hooks = hooks  # the endpoint's attempt and run hooks (None: there are none)
        if max_buffered_input is None:
            max_buffered_input = default_max_buffered_input(max_message_size)
        if max_buffered_input < max_message_size:
            # One maximal message must always fit, or it could never be received.
            raise ValueError("max_buffered_input must be at least max_message_size")
        self._max_version = max_protocol_version
        self._services = dict(services)
        self._identity = identity
        self._protocol_mode = protocol_mode
        self.max_message_size = max_message_size
        self._manifest_cache: dict[tuple[int, str], bytes] = {}
        # The invocations in flight: from dispatch (which counts them against the limit)
        # until the server calls finished().
        self._attempts: set[Attempt] = set()
        self.max_invocations = max_invocations
        self.max_buffered_input = max_buffered_input
        #: Input bytes the servers hold across all streams (see buffer_input).
        self.buffered_input = 0
        # Unauthenticated peers can cause these at will: rate-limited (see logs.py). Separate
        # instances, so that an overload does not hide identity rejections, nor the reverse.
        self.log_rejection = RateLimitedWarning(logger)
        self.log_overload = RateLimitedWarning(logger)
        self.log_stalled = RateLimitedWarning(logger)
        #: Seconds an invocation may wait for its StartMessage (the servers read it per
        #: invocation; tests shorten it).
        self.start_timeout = START_TIMEOUT
        self.draining = False

    # ------------------------------------------------------------------ attempts

    def drain(self) -> None:
        """Graceful shutdown: every invocation that waits for the runtime suspends now (and
        new ones as soon as their journal has arrived; servers call
        ``attempt.suspend_when_idle()`` after feeding input while :attr:`draining`)."""
        self.draining = True
        for attempt in list(self._attempts):
            attempt.suspend_when_idle()

    def started(self, attempt: Attempt) -> None:
        """The server runs ``attempt`` now (so that :meth:`drain` reaches it). :meth:`dispatch`
        has counted it already; this only makes sure of it."""
        self._attempts.add(attempt)

    def finished(self, attempt: Attempt) -> None:
        """``attempt`` is over (or was never run): it no longer counts against
        ``max_invocations``. Servers call it exactly once for every :class:`Invocation` that
        :meth:`dispatch` returned."""
        self._attempts.discard(attempt)

    @property
    def in_flight(self) -> int:
        """Invocations dispatched and not finished yet."""
        return len(self._attempts)

    # ------------------------------------------------------------------ input budget

    def buffer_input(self, delta: int) -> bool:
        """A stream now holds ``delta`` more (or, negative, fewer) input bytes; False if the
        process-wide budget is exceeded: the server then drops that stream and gives its bytes
        back (``buffer_input(-held)``). Servers call it only when a stream's holding changes,
        which for Restate's whole-message DATA frames is rare."""
        self.buffered_input += delta
        return delta <= 0 or self.buffered_input <= self.max_buffered_input

    def log_over_budget(self, what: str) -> None:
        self.log_overload(
            "restate_trio: %s: the input buffered across streams would exceed "
            "max_buffered_input (%d bytes)",
            what,
            self.max_buffered_input,
        )

    def log_no_start(self, what: str) -> None:
        self.log_stalled(
            "restate_trio: an invocation's StartMessage and journal did not arrive in time; %s",
            what,
        )

    # ------------------------------------------------------------------ requests

    def dispatch(
        self, path: str, headers: Mapping[str, str], *, http_11: bool
    ) -> Reply | Invocation | Serde | Refused:
        """What to do with a request to ``path`` (see :func:`request_path`); ``headers`` have
        lowercase names. ``http_11``: the request came over HTTP/1.x (it decides the protocol
        mode announced by discovery)."""
        segments = path.rstrip("/").split("/")
        if len(segments) >= 3 and segments[-3] == "invoke":
            return self._invoke(path, segments[-2], segments[-1], headers)
        if len(segments) >= 6 and segments[-5] == "serdes":
            service, operation, handler, direction = segments[-4:]
            return self._serde(path, service, operation, handler, direction, headers)
        if segments[-1] == "discover":
            return self._discover(path, headers, http_11)
        if segments[-1] == "health":
            return Reply(200, b'{"status":"ok"}', "application/json")
        return Reply(404, f"no route for {path}".encode())

    def _rejected(self, path: str, headers: Mapping[str, str]) -> Reply | None:
        """A 401 if the request identity is checked and does not verify."""
        if not self._identity.enabled:
            return None
        try:
            self._identity.verify(headers, path)
        except IdentityError as exc:
            self.log_rejection("restate_trio: rejected request to %s: %s", path, exc)
            return Reply(401, f"request identity rejected: {exc}".encode())
        return None

    def _invoke(
        self, path: str, service_name: str, handler_name: str, headers: Mapping[str, str]
    ) -> Reply | Invocation | Refused:
        # First, and before the signature check: when overloaded, doing nothing is the point.
        if len(self._attempts) >= self.max_invocations:
            self.log_overload(
                "restate_trio: %d invocations in flight (max_invocations); refused a new one "
                "(Restate retries it)",
                len(self._attempts),
            )
            return _REFUSED
        rejected = self._rejected(path, headers)
        if rejected is not None:
            return rejected
        service = self._services.get(service_name)
        handler = service.handlers.get(handler_name) if service is not None else None
        if service is None or handler is None:
            return Reply(404, f"unknown handler {service_name}/{handler_name}".encode())
        content_type = headers.get("content-type", "")
        version = negotiate_invocation_version(content_type, max_version=self._max_version)
        if version is None:
            return Reply(
                415,
                f"unsupported content type {content_type!r}: this SDK speaks "
                f"{supported_range(self._max_version)}".encode(),
            )
        machine = StateMachine(version, max_message_size=self.max_message_size)
        attempt = Attempt(
            machine,
            handler,
            headers,
            codec=handler.effective_codec,
            service=service_name,
            hooks=self._hooks,
        )
        self._attempts.add(attempt)  # counted from now on: the server calls finished()
        return Invocation(attempt, content_type)

    def _discover(self, path: str, headers: Mapping[str, str], http_11: bool) -> Reply:
        rejected = self._rejected(path, headers)
        if rejected is not None:
            return rejected
        version = negotiate_manifest_version(headers.get("accept"))
        if version is None:
            return Reply(
                415,
                b"unsupported discovery manifest version; this SDK serves "
                b"application/vnd.restate.endpointmanifest.v1+json to v4+json",
            )
        mode = self._protocol_mode or ("REQUEST_RESPONSE" if http_11 else "BIDI_STREAM")
        body = self._manifest_cache.get((version, mode))
        if body is None:
            manifest = build_manifest(
                list(self._services.values()),
                protocol_mode=mode,  # type: ignore[arg-type]
                min_protocol_version=MIN_PROTOCOL_VERSION,
                max_protocol_version=self._max_version,
                manifest_version=version,
            )
            body = self._manifest_cache[(version, mode)] = serialize_manifest(manifest)
        return Reply(200, body, manifest_content_type(version))

    def _serde(
        self,
        path: str,
        service_name: str,
        operation: str,
        handler_name: str,
        direction: str,
        headers: Mapping[str, str],
    ) -> Reply | Serde:
        """Serde preview for the Restate UI: convert a payload between its codec and JSON.

        ``decode`` turns a payload in the handler's codec into JSON; ``encode`` the reverse.
        """
        rejected = self._rejected(path, headers)
        if rejected is not None:
            return rejected
        service = self._services.get(service_name)
        handler = service.handlers.get(handler_name) if service is not None else None
        if handler is None or operation not in ("encode", "decode"):
            return Reply(404, f"no serde {path}".encode())
        if direction == "input" and handler.has_input:
            codec, tp = handler.effective_input_codec, handler.input_type
        elif direction == "output" and handler.has_output:
            codec, tp = handler.effective_output_codec, handler.output_type
        else:
            return Reply(404, f"no serde {path}".encode())
        return Serde(path, operation == "decode", codec, tp)

    def convert(self, serde: Serde, body: bytes | None) -> Reply:
        """The answer to a serde request; ``body`` is ``None`` if it exceeded
        :attr:`max_message_size`."""
        if body is None:
            return Reply(413, b"payload too large")
        try:
            if serde.decoding:
                value = None if not body else decode(serde.codec, body, serde.type)
                return Reply(200, _JSON.encode(value, serde.type), "application/json")
            # JSON has no empty document: an empty body decodes only into optional types.
            value = decode(_JSON, body, serde.type)
            return Reply(200, serde.codec.encode(value, serde.type), serde.codec.content_type)
        except CodecError as exc:
            return Reply(422, orjson.dumps({"message": str(exc)}), "application/json")
