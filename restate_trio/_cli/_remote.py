"""``restate-trio register`` and ``restate-trio call``: one request each to a running Restate,
through :mod:`restate_trio.client`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import trio

from ..client import AdminClient, Client, ClientError, TransportError
from ._output import CliError

if TYPE_CHECKING:
    from ._output import Output


def _failure(what: str, url: str, exc: ClientError) -> CliError:
    if isinstance(exc, TransportError):
        return CliError(f"cannot reach {url}: {exc.message}")
    code = f" ({exc.code})" if exc.code is not None else ""
    return CliError(f"{what} failed{code}: {exc.message}")


def run_register(uri: str, *, admin: str, force: bool, http1: bool, out: Output) -> None:
    """Register the deployment at ``uri`` and list its services and handlers."""

    async def register() -> None:
        async with AdminClient(admin) as client:
            deployment = await client.register_deployment(uri, force=force, use_http_11=http1)
        out.event(f"registered {uri} as {deployment.id}")
        for service in sorted(deployment.services, key=lambda s: s.name):
            handlers = ", ".join(handler.name for handler in service.handlers)
            out.field(service.name, f"{handlers}  ({service.kind})")

    try:
        trio.run(register)
    except ClientError as exc:
        raise _failure("registration", admin, exc) from None


def parse_path(path: str) -> tuple[str, str | None, str]:
    """``Service/handler`` or ``Service/key/handler`` -> (service, key, handler)."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and all(parts):
        return parts[0], None, parts[1]
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    raise CliError(f"{path!r} is not Service/handler or Service/key/handler")


def run_call(path: str, body: str | None, *, ingress: str, out: Output) -> None:
    """Call a handler with a JSON body (none: no input) and print its answer."""
    service, key, handler = parse_path(path)
    if body is not None:
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise CliError(f"the body is not JSON ({exc}); quote it: '\"text\"', '42'") from None
    payload = b"" if body is None else body.encode()

    async def call() -> bytes:
        async with Client(ingress) as client:
            return await client.generic_call(
                service,
                handler,
                payload,
                key=key,
                content_type=None if body is None else "application/json",
            )

    try:
        answer = trio.run(call)
    except ClientError as exc:
        raise _failure(path, ingress, exc) from None
    out.line(answer.decode("utf-8", errors="replace"))
