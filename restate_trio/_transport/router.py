"""What an endpoint answers, independent of the HTTP server that carries it.

Both servers (the ASGI app under hypercorn, and the h2 server) parse a request into a path and
a header mapping and hand it to :meth:`Router.dispatch`, which decides everything that is not
HTTP framing: the route, the request identity, the discovery manifest, content-type and
protocol-version negotiation, serde conversion, and the :class:`Attempt` that runs an
invocation. The servers only differ in how they move bytes (and in when they may end a
response).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

import orjson

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

__all__ = ["SERVER_HEADER", "Invocation", "Reply", "Router", "Serde", "request_path"]

logger = logging.getLogger("restate_trio")

_JSON = JsonCodec()
SERVER_HEADER = (b"x-restate-server", f"restate-trio/{__version__}".encode())


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole response: the server writes it and ends the response."""

    status: int
    body: bytes
    content_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class Invocation:
    """An accepted invocation: answer 200 with ``content_type``, then run ``attempt``."""

    attempt: Attempt
    content_type: str


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
    ) -> None:
        self._max_version = max_protocol_version
        self._services = dict(services)
        self._identity = identity
        self._protocol_mode = protocol_mode
        self.max_message_size = max_message_size
        self._manifest_cache: dict[tuple[int, str], bytes] = {}
        self._attempts: set[Attempt] = set()
        # Unauthenticated peers can cause these at will: rate-limited (see logs.py).
        self.log_rejection = RateLimitedWarning(logger)
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
        """The server runs ``attempt`` now (so that :meth:`drain` reaches it)."""
        self._attempts.add(attempt)

    def finished(self, attempt: Attempt) -> None:
        self._attempts.discard(attempt)

    # ------------------------------------------------------------------ requests

    def dispatch(
        self, path: str, headers: Mapping[str, str], *, http_11: bool
    ) -> Reply | Invocation | Serde:
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
    ) -> Reply | Invocation:
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
            machine, handler, headers, codec=handler.effective_codec, service=service_name
        )
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
