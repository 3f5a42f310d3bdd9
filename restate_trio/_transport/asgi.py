"""The ASGI application: routing, discovery, identity, and invocation streams.

Two hypercorn behaviours shape this module (see ecosystem notes, hypercorn #329):

* hypercorn's HTTP/2 reader blocks the *whole connection* once one stream's receive queue is
  full, so every request body is drained by a pump task until it ends, for the life of the
  stream;
* if the app finishes its response (or raises) while the peer's half of the stream is still
  open, a late DATA frame crashes hypercorn's trio server. So a response is only ended after the
  request body ended (or the client disconnected), error responses drain first, and the app
  never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import cast

import orjson
import trio

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
from ..codecs import CodecError, JsonCodec
from .logs import RateLimitedWarning

logger = logging.getLogger("restate_trio")

Scope = MutableMapping[str, object]
Message = MutableMapping[str, object]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = JsonCodec()
SERVER_HEADER = (b"x-restate-server", f"restate-trio/{__version__}".encode())


class RestateApp:
    """The ASGI-3 application of an :class:`~restate_trio.Endpoint`."""

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
        self._max_message_size = max_message_size
        self._manifest_cache: dict[tuple[int, str], bytes] = {}
        self._attempts: set[Attempt] = set()
        # Unauthenticated peers can cause these at will: rate-limited (see logs.py).
        self._log_rejection = RateLimitedWarning(logger)
        self.draining = False

    def drain(self) -> None:
        """Graceful shutdown: every invocation that waits for the runtime suspends now (and
        new ones as soon as their journal has arrived), so the server can stop without
        Restate having to time the streams out."""
        self.draining = True
        for attempt in list(self._attempts):
            attempt.suspend_when_idle()

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
        headers = _headers(scope)
        segments = path.rstrip("/").split("/")
        if len(segments) >= 3 and segments[-3] == "invoke":
            await self._invoke(scope, segments[-2], segments[-1], headers, receive, send)
        elif len(segments) >= 6 and segments[-5] == "serdes":
            service, operation, handler, direction = segments[-4:]
            await self._serde(path, service, operation, handler, direction, headers, receive, send)
        elif segments[-1] == "discover":
            await self._discover(scope, path, headers, receive, send)
        elif segments[-1] == "health":
            await _respond(receive, send, 200, b'{"status":"ok"}', "application/json")
        else:
            await _respond(receive, send, 404, f"no route for {path}".encode())

    async def _discover(
        self, scope: Scope, path: str, headers: Mapping[str, str], receive: Receive, send: Send
    ) -> None:
        if not await self._verified(path, headers, receive, send):
            return
        version = negotiate_manifest_version(headers.get("accept"))
        if version is None:
            await _respond(
                receive,
                send,
                415,
                b"unsupported discovery manifest version; this SDK serves "
                b"application/vnd.restate.endpointmanifest.v1+json to v4+json",
            )
            return
        mode = self._protocol_mode or (
            "REQUEST_RESPONSE" if scope.get("http_version") in ("1.0", "1.1") else "BIDI_STREAM"
        )
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
        await _respond(receive, send, 200, body, manifest_content_type(version))

    async def _serde(
        self,
        path: str,
        service_name: str,
        operation: str,
        handler_name: str,
        direction: str,
        headers: Mapping[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        """Serde preview for the Restate UI: convert a payload between its codec and JSON.

        ``decode`` turns a payload in the handler's codec into JSON; ``encode`` the reverse.
        """
        if not await self._verified(path, headers, receive, send):
            return
        service = self._services.get(service_name)
        handler = service.handlers.get(handler_name) if service is not None else None
        if handler is None or operation not in ("encode", "decode"):
            await _respond(receive, send, 404, f"no serde {path}".encode())
            return
        if direction == "input" and handler.has_input:
            codec, tp = handler.effective_input_codec, handler.input_type
        elif direction == "output" and handler.has_output:
            codec, tp = handler.effective_output_codec, handler.output_type
        else:
            await _respond(receive, send, 404, f"no serde {path}".encode())
            return
        body = await _read_body(receive, self._max_message_size)
        if body is None:
            await _respond(None, send, 413, b"payload too large")
            return
        try:
            if operation == "decode":
                value = None if not body else decode(codec, body, tp)
                out, content_type = _JSON.encode(value, tp), "application/json"
            else:
                # JSON has no empty document: an empty body decodes only into optional types.
                value = decode(_JSON, body, tp)
                out, content_type = codec.encode(value, tp), codec.content_type
        except CodecError as exc:
            message = orjson.dumps({"message": str(exc)})
            await _respond(None, send, 422, message, "application/json")
            return
        await _respond(None, send, 200, out, content_type)

    async def _verified(
        self, path: str, headers: Mapping[str, str], receive: Receive, send: Send
    ) -> bool:
        if not self._identity.enabled:
            return True
        try:
            self._identity.verify(headers, path)
        except IdentityError as exc:
            self._log_rejection("restate_trio: rejected request to %s: %s", path, exc)
            await _respond(receive, send, 401, f"request identity rejected: {exc}".encode())
            return False
        return True

    async def _invoke(
        self,
        scope: Scope,
        service_name: str,
        handler_name: str,
        headers: Mapping[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        path = str(scope.get("path", ""))
        if not await self._verified(path, headers, receive, send):
            return
        service = self._services.get(service_name)
        handler = service.handlers.get(handler_name) if service is not None else None
        if service is None or handler is None:
            message = f"unknown handler {service_name}/{handler_name}"
            await _respond(receive, send, 404, message.encode())
            return
        content_type = headers.get("content-type", "")
        version = negotiate_invocation_version(content_type, max_version=self._max_version)
        if version is None:
            await _respond(
                receive,
                send,
                415,
                f"unsupported content type {content_type!r}: this SDK speaks "
                f"{supported_range(self._max_version)}".encode(),
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", content_type.encode()), SERVER_HEADER],
            }
        )
        machine = StateMachine(version, max_message_size=self._max_message_size)
        attempt = Attempt(
            machine, handler, headers, codec=handler.effective_codec, service=service_name
        )
        self._attempts.add(attempt)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump, receive, attempt, nursery.cancel_scope)
                nursery.start_soon(_write, send, attempt)
                await attempt.run()
            # Both halves are done: the request body ended (the runtime closes its half once
            # it has read our terminal frame; ending ours first would expose hypercorn #329),
            # and the attempt's output is written. A cancelled nursery means the runtime went
            # away: there is nobody to end the response for.
            if not nursery.cancel_scope.cancel_called:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._attempts.discard(attempt)

    async def _pump(self, receive: Receive, attempt: Attempt, stream: trio.CancelScope) -> None:
        """Drain the request body into the attempt until it ends or the client goes away."""
        while True:
            message = await receive()
            kind = message.get("type")
            if kind == "http.request":
                body = message.get("body", b"")
                if body:
                    attempt.feed(bytes(body))  # type: ignore[call-overload]
                    if self.draining:
                        attempt.suspend_when_idle()
                if not message.get("more_body", False):
                    attempt.feed_eof()
                    return
            elif kind == "http.disconnect":
                attempt.abort()
                stream.cancel()
                return


async def _write(send: Send, attempt: Attempt) -> None:
    """Write the attempt's output to the response body until the attempt is over."""
    while (data := await attempt.next_output()) is not None:
        await send({"type": "http.response.body", "body": data, "more_body": True})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body (``None`` if it exceeds ``limit``; the rest is drained)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            break
        chunk = bytes(cast("bytes", message.get("body", b"")))
        size += len(chunk)
        if size > limit:
            if message.get("more_body", False):
                await _drain(receive)
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect" or not message.get("more_body", False):
            return


async def _respond(
    receive: Receive | None,
    send: Send,
    status: int,
    body: bytes,
    content_type: str = "text/plain",
) -> None:
    """Send a whole response; ``receive`` is drained first, unless the body was read already
    (``None``)."""
    # Answer at once (in bidi mode the runtime keeps its half open until it hears from us), but
    # only end the response after the request body ended (hypercorn #329, module docstring).
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                SERVER_HEADER,
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
