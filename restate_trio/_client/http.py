"""The clients' one seam to HTTP: a request to Restate, retried when safe, errors mapped.

httpx runs on trio (through anyio), so a request is bounded by the caller's cancel scope like
any other trio operation. When a scope cancels a request midway, httpcore closes that one
connection instead of returning it to the pool, so the next request gets a clean connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import httpx
import orjson
import trio

from .errors import TransportError
from .retry import RequestRetryPolicy, retry_after_seconds
from .tracing import inject_trace_context

__all__ = ["Answer", "HttpSeam", "error_fields"]


@dataclass(frozen=True)
class Answer:
    """A fully read answer (header names lower-case)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class HttpSeam:
    """Requests to one Restate URL (ingress or admin) with the client's default headers."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None,
        retry: RequestRetryPolicy | None,
        http_client: httpx.AsyncClient | None,
        propagate_trace: bool,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self._retry = retry
        self._propagate_trace = propagate_trace
        self._owned = http_client is None
        # timeout=None: timeouts are the caller's trio cancel scopes, not client settings.
        # trust_env=False: the URL is Restate's; proxies come with a user's own http_client.
        self._http = http_client or httpx.AsyncClient(timeout=None, trust_env=False)

    @property
    def base_url(self) -> str:
        return self._base_url

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        retry_safe: bool = False,
    ) -> Answer:
        """Send one request (retried by the policy when ``retry_safe``) and read the answer.

        An answer with any status is returned; only a missing answer raises
        :class:`TransportError` (after the retries the policy allows).
        """
        all_headers = {**self._headers, **(headers or {})}
        if self._propagate_trace:
            inject_trace_context(all_headers)
        url = self._base_url + path
        policy = self._retry if retry_safe else None
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    method, url, content=body, headers=all_headers, params=params
                )
            except httpx.TransportError as exc:
                if policy is None or not policy.should_retry(attempt, None):
                    raise TransportError(f"{method} {url} failed: {exc}") from exc
                await trio.sleep(policy.delay(attempt))
                continue
            answer = Answer(
                response.status_code,
                {name.lower(): value for name, value in response.headers.items()},
                response.content,
            )
            if policy is None or not policy.should_retry(attempt, answer.status):
                return answer
            await trio.sleep(
                policy.delay(attempt, retry_after_seconds(answer.headers.get("retry-after")))
            )


def error_fields(answer: Answer) -> tuple[int, str, Mapping[str, str]]:
    """Restate's ``{"code", "message", "metadata"}`` error body, or the status and the text
    when the body is something else (a proxy's error page, say)."""
    text = answer.body.decode("utf-8", errors="replace")
    try:
        decoded: object = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        decoded = None
    if not isinstance(decoded, dict):
        return answer.status, text or f"HTTP {answer.status}", {}
    fields = cast("dict[str, object]", decoded)
    code = fields.get("code")
    message = fields.get("message")
    metadata = fields.get("metadata")
    return (
        code if isinstance(code, int) else answer.status,
        message if isinstance(message, str) else text,
        (
            {str(k): str(v) for k, v in cast("dict[object, object]", metadata).items()}
            if isinstance(metadata, dict)
            else {}
        ),
    )
