"""``restate-trio register`` and ``restate-trio call``: requests to a running Restate."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import httpx
import orjson

from ._output import CliError

if TYPE_CHECKING:
    from ._output import Output

_TIMEOUT = 30.0


def _error_text(response: httpx.Response) -> str:
    # Restate answers errors as {"code": ..., "message": ...}.
    try:
        decoded = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(decoded, dict) and "message" in decoded:
        return str(cast("dict[str, object]", decoded)["message"])
    return response.text


def run_register(uri: str, *, admin: str, force: bool, http1: bool, out: Output) -> None:
    """Register the deployment at ``uri`` and list its services and handlers."""
    payload = {"uri": uri, "force": force, "use_http_11": http1}
    try:
        response = httpx.post(admin.rstrip("/") + "/deployments", json=payload, timeout=_TIMEOUT)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the admin API at {admin}: {exc}") from None
    if not response.is_success:
        raise CliError(f"registration failed (HTTP {response.status_code}): {_error_text(response)}")
    answer = cast("dict[str, object]", response.json())
    out.event(f"registered {uri} as {answer.get('id')}")
    for service in cast("list[dict[str, object]]", answer.get("services") or []):
        handlers = cast("list[dict[str, object]]", service.get("handlers") or [])
        names = ", ".join(str(h.get("name")) for h in handlers)
        out.field(str(service.get("name")), names)


def parse_path(path: str) -> tuple[str, str | None, str]:
    """``Service/handler`` or ``Service/key/handler`` -> (service, key, handler)."""
    parts = path.strip("/").split("/")
    if len(parts) == 2:
        return parts[0], None, parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise CliError(f"{path!r} is not Service/handler or Service/key/handler")


def run_call(path: str, body: str | None, *, ingress: str, out: Output) -> None:
    """Call a handler with a JSON body and print its answer."""
    service, key, handler = parse_path(path)
    url = "/".join(p for p in (ingress.rstrip("/"), service, key, handler) if p is not None)
    content = b""
    headers: dict[str, str] = {}
    if body is not None:
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise CliError(f"the body is not JSON: {exc}") from None
        content = body.encode()
        headers["content-type"] = "application/json"
    try:
        response = httpx.post(url, content=content, headers=headers, timeout=None)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the ingress at {ingress}: {exc}") from None
    if not response.is_success:
        raise CliError(f"{path} failed (HTTP {response.status_code}): {_error_text(response)}")
    out.line(response.text)
