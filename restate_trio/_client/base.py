"""What the ingress and admin clients share: one :class:`HttpSeam`, closing, ``async with``."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import ClassVar, Self

import httpx

from .http import HttpSeam
from .retry import RequestRetryPolicy

__all__ = ["ClientBase"]


class ClientBase:
    """The connection part of a client (the ingress or the admin API)."""

    # Whether requests carry the caller's OpenTelemetry trace context (the ingress does: the
    # invocations it starts join the caller's trace; admin requests start none).
    _propagate_trace: ClassVar[bool] = False

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        retry: RequestRetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = HttpSeam(
            url,
            headers=headers,
            retry=retry,
            http_client=http_client,
            propagate_trace=self._propagate_trace,
        )

    @property
    def url(self) -> str:
        """The URL this client talks to."""
        return self._http.base_url

    async def aclose(self) -> None:
        """Close the client's connections (not those of an ``http_client`` it was given)."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
