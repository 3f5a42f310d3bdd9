"""The admin client: what users, the CLI and tests need from Restate's admin API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import quote

import orjson

from .base import ClientBase
from .errors import AdminError
from .http import Answer, error_fields

__all__ = ["AdminClient", "Deployment", "HandlerInfo", "ServiceInfo"]


@dataclass(frozen=True)
class HandlerInfo:
    """A handler as the admin API describes it.

    :ivar name: the handler's name.
    :ivar kind: ``"Exclusive"``, ``"Shared"`` or ``"Workflow"``; ``None`` for a Service's.
    :ivar raw: the admin API's whole description (schemas, descriptions, options).
    """

    name: str
    kind: str | None
    raw: Mapping[str, object] = field(repr=False)


@dataclass(frozen=True)
class ServiceInfo:
    """A registered service.

    :ivar name: the service's name.
    :ivar kind: ``"Service"``, ``"VirtualObject"`` or ``"Workflow"``.
    :ivar handlers: its handlers.
    :ivar deployment_id: the deployment serving its latest revision.
    :ivar revision: the revision, incremented by every registration that changes it.
    :ivar raw: the admin API's whole description.
    """

    name: str
    kind: str
    handlers: tuple[HandlerInfo, ...]
    deployment_id: str
    revision: int
    raw: Mapping[str, object] = field(repr=False)


@dataclass(frozen=True)
class Deployment:
    """A registered deployment: its id and the services it serves."""

    id: str
    services: tuple[ServiceInfo, ...]


def _dict(value: object) -> dict[str, object]:
    return cast("dict[str, object]", value) if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return cast("list[object]", value) if isinstance(value, list) else []


def _service_info(raw: Mapping[str, object]) -> ServiceInfo:
    handlers = tuple(
        HandlerInfo(
            str(entry.get("name", "")),
            None if entry.get("ty") is None else str(entry.get("ty")),
            entry,
        )
        for entry in map(_dict, _list(raw.get("handlers")))
    )
    revision = raw.get("revision")
    return ServiceInfo(
        name=str(raw.get("name", "")),
        kind=str(raw.get("ty", "")),
        handlers=handlers,
        deployment_id=str(raw.get("deployment_id", "")),
        revision=revision if isinstance(revision, int) else 0,
        raw=raw,
    )


def _sql_string(value: str) -> str:
    # SQL string literal: a quote inside is doubled.
    return "'" + value.replace("'", "''") + "'"


class AdminClient(ClientBase):
    """A client of Restate's admin API (``http://127.0.0.1:9070`` by default on a server).

    :param url: the admin API's URL.
    :param headers: sent with every request (e.g. an authorization header).
    :param retry: retry the reads (listing services, reading state, queries) and the
        registration (which is idempotent) with this policy; ``None``: never retry.
    :param http_client: an ``httpx.AsyncClient`` to send requests with; not closed by this
        client.
    """

    async def register_deployment(
        self,
        uri: str,
        *,
        force: bool = False,
        use_http_11: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Deployment:
        """Register (discover) the endpoint served at ``uri``.

        :param force: replace an existing deployment at the same URI even if its services
            changed incompatibly (for development: a running invocation may break).
        :param use_http_11: reach the endpoint over HTTP/1.1 (request-response) instead of
            HTTP/2.
        :param headers: headers Restate sends to the endpoint with every request.
        :raises AdminError: the server refused (its message says why, e.g. discovery failed).
        """
        payload: dict[str, object] = {"uri": uri, "force": force, "use_http_11": use_http_11}
        if headers:
            payload["additional_headers"] = dict(headers)
        answer = await self._json("POST", "/deployments", payload, retry_safe=True)
        decoded = _dict(answer)
        return Deployment(
            id=str(decoded.get("id", "")),
            services=tuple(_service_info(_dict(s)) for s in _list(decoded.get("services"))),
        )

    async def services(self) -> list[ServiceInfo]:
        """Every registered service."""
        decoded = _dict(await self._json("GET", "/services", retry_safe=True))
        return [_service_info(_dict(s)) for s in _list(decoded.get("services"))]

    async def cancel_invocation(self, invocation_id: str) -> None:
        """Ask Restate to cancel an invocation: it runs on to its compensations and ends with
        a 409 failure (``restate_trio.Cancelled`` in the handler)."""
        await self._invocation_command(invocation_id, "cancel")

    async def kill_invocation(self, invocation_id: str) -> None:
        """End an invocation at once, without running its code again (no compensations)."""
        await self._invocation_command(invocation_id, "kill")

    async def purge_invocation(self, invocation_id: str) -> None:
        """Delete a completed invocation's journal and result (attach then finds nothing)."""
        await self._invocation_command(invocation_id, "purge")

    async def get_state(self, service: str, key: str) -> dict[str, bytes]:
        """The state of Virtual Object (or workflow) ``key`` of ``service``: raw bytes per
        name, as the handlers' codec wrote them (JSON by default)."""
        rows = await self.query(
            "SELECT key, value FROM state WHERE service_name = "
            f"{_sql_string(service)} AND service_key = {_sql_string(key)}"
        )
        return {str(row["key"]): bytes.fromhex(str(row["value"])) for row in rows}

    async def set_state(
        self, service: str, key: str, state: Mapping[str, bytes], *, version: str | None = None
    ) -> None:
        """Replace the whole state of object ``key`` of ``service`` with ``state`` (raw bytes
        per name: encode as the handlers decode, e.g. ``orjson.dumps(3)``).

        Restate applies it in order with the object's invocations: one sent after this call
        returns sees the new state (an SQL query may see it a moment later).

        :param version: only replace a state still at this version (optimistic concurrency).
        """
        payload: dict[str, object] = {
            "object_key": key,
            "new_state": {name: list(value) for name, value in state.items()},
        }
        if version is not None:
            payload["version"] = version
        await self._json("POST", f"/services/{quote(service, safe='')}/state", payload)

    async def query(self, sql: str) -> list[dict[str, object]]:
        """Run an SQL introspection query (e.g. over ``sys_invocation``) and return its rows."""
        decoded = _dict(
            await self._json(
                "POST",
                "/query",
                {"query": sql},
                headers={"accept": "application/json"},
                retry_safe=True,
            )
        )
        return [_dict(row) for row in _list(decoded.get("rows"))]

    async def _invocation_command(self, invocation_id: str, command: str) -> None:
        await self._json("PATCH", f"/invocations/{quote(invocation_id, safe='')}/{command}")

    async def _json(
        self,
        method: str,
        path: str,
        payload: object = None,
        *,
        headers: Mapping[str, str] | None = None,
        retry_safe: bool = False,
    ) -> object:
        all_headers = dict(headers or {})
        body = None
        if payload is not None:
            body = orjson.dumps(payload)
            all_headers["content-type"] = "application/json"
        answer = await self._http.request(
            method, path, body=body, headers=all_headers, retry_safe=retry_safe
        )
        _raise_for_admin(answer)
        return orjson.loads(answer.body) if answer.body else None


def _raise_for_admin(answer: Answer) -> None:
    if answer.ok:
        return
    _, message, _ = error_fields(answer)
    raise AdminError(message, answer.status, status=answer.status)
