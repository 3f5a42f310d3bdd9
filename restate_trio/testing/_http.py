"""The harness's HTTP: responses, and requests to the server with one client library, httpx.

httpx is the ``testing`` extra, so it is imported when the first request is made, not when
:mod:`restate_trio.testing` is: ``python -m restate_trio.testing install`` works without it.
The async helpers use ``httpx.AsyncClient`` (under trio), the blocking start-up probes
``httpx.Client``. Neither reads proxy settings from the environment: every request goes to a
server on localhost.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast, overload

import orjson
import trio

from ..codecs import JsonCodec
from ._errors import HarnessError, HarnessTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx

T = TypeVar("T")

_NEEDS_HTTPX = (
    "restate_trio.testing needs httpx to talk to restate-server: "
    "pip install 'restate-trio[testing]'"
)


def _require_httpx() -> None:
    """Raise an ImportError that names the extra to install when httpx is missing."""
    try:
        importlib.import_module("httpx")
    except ImportError as exc:
        raise ImportError(_NEEDS_HTTPX, name="httpx") from exc


@dataclass(frozen=True)
class HttpResponse:
    """A fully read HTTP response from the server.

    ``headers`` has lower-case names; repeated headers are joined with ``", "``.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    @overload
    def json(self) -> object: ...
    @overload
    def json(self, *, type: type[T]) -> T: ...
    def json(self, *, type: type[T] | None = None) -> T | object:
        """Decode the body as JSON; with ``type=``, into that type (validated as a handler's
        input would be: ``response.json(type=int)`` is an ``int`` or raises
        :class:`restate_trio.codecs.CodecError`), so that strictly typed tests need no casts."""
        if type is None:
            return cast("object", orjson.loads(self.body))
        return JsonCodec().decode(self.body, type)


@dataclass(frozen=True)
class IngressResponse(HttpResponse):
    """Response of a call through the server's ingress."""

    @property
    def invocation_id(self) -> str | None:
        """The invocation id (``x-restate-id`` header, or a ``/send`` reply)."""
        header = self.headers.get("x-restate-id")
        if header:
            return header
        if self.ok and self.headers.get("content-type", "").startswith("application/json"):
            try:
                decoded = self.json()
            except orjson.JSONDecodeError:
                return None
            if isinstance(decoded, dict):
                value = cast("dict[str, object]", decoded).get("invocationId")
                if isinstance(value, str):
                    return value
        return None


def encode_body(body: object, headers: dict[str, str]) -> bytes:
    """Bytes are sent as they are; anything else is encoded as JSON."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray):
        return bytes(body)
    if not any(name.lower() == "content-type" for name in headers):
        headers["content-type"] = "application/json"
    return orjson.dumps(body)


def _response(response: httpx.Response) -> HttpResponse:
    return HttpResponse(
        status=response.status_code,
        headers={name.lower(): value for name, value in response.headers.items()},
        body=response.content,
    )


async def request(
    method: str, url: str, *, body: bytes, headers: Mapping[str, str], limit: float
) -> HttpResponse:
    """One HTTP request, bounded by ``limit`` seconds (a trio deadline, so it also bounds
    connecting and a server that never answers)."""
    _require_httpx()
    import httpx

    all_headers = dict(headers)
    stream = None
    if body:
        # httpx's own body stream iterates with an async generator; a request cancelled while
        # its body is being sent (a test's deadline, say) leaves that generator unfinished, and
        # trio's finalizer warns about it (ResourceWarning) whenever the garbage collector gets
        # to it, often in a later test that treats warnings as errors.
        stream = _body_stream()(body)
        all_headers["content-length"] = str(len(body))
    try:
        with trio.fail_after(limit):
            async with httpx.AsyncClient(trust_env=False, timeout=None) as client:
                built = client.build_request(method, url, headers=all_headers)
                if stream is not None:
                    built.stream = stream
                response = await client.send(built)
    except trio.TooSlowError as exc:
        raise HarnessTimeoutError(
            f"{method} {url} did not complete within {limit} s (see RestateServer.request_timeout)"
        ) from exc
    except httpx.TransportError as exc:
        raise HarnessError(f"{method} {url} failed: {exc!r}") from exc
    return _response(response)


class _Once:
    """Iterates a request body once, as one chunk, without an async generator."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data


@functools.cache
def _body_stream() -> Callable[[bytes], httpx.AsyncByteStream]:
    """The request body stream class (httpx is imported on first use, see the module)."""
    import httpx

    class Body(httpx.AsyncByteStream):
        def __init__(self, data: bytes) -> None:
            self._data = data

        def __aiter__(self) -> _Once:
            return _Once(self._data)

    return Body


def sync_client() -> httpx.Client:
    """A blocking client for the start-up probes; close it (``with``) when done."""
    _require_httpx()
    import httpx

    return httpx.Client(trust_env=False)


def sync_query_ok(client: httpx.Client, url: str, sql: str, timeout: float) -> bool:
    """Whether the admin API's SQL endpoint at ``url`` answers ``sql`` with 200."""
    import httpx

    try:
        answer = client.post(
            url, json={"query": sql}, headers={"accept": "application/json"}, timeout=timeout
        )
    except httpx.TransportError:
        return False
    return answer.status_code == 200


def sync_get(client: httpx.Client, url: str, timeout: float) -> HttpResponse | None:
    """GET ``url`` with any status; ``None`` if nothing answered within ``timeout`` s."""
    import httpx

    try:
        return _response(client.get(url, timeout=timeout))
    except httpx.TransportError:
        return None
