"""The ingress routes: where a call, a send, an attach or an awakeable completion goes.

Every path segment a user supplies (service and handler names, keys, ids, idempotency keys)
is percent-encoded, so a key such as ``"a/b c"`` addresses one object, not a longer path.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import quote

__all__ = [
    "awakeable_path",
    "call_path",
    "delay_query",
    "idempotent_path",
    "invocation_path",
    "workflow_path",
]

AttachOrOutput = Literal["attach", "output"]


def _segment(value: str) -> str:
    # safe="" also encodes "/", which would otherwise split a key into two segments.
    return quote(value, safe="")


def call_path(service: str, handler: str, key: str | None, *, send: bool = False) -> str:
    """``/{service}[/{key}]/{handler}[/send]``: a Service has no key, objects and workflows
    have one (the empty string is a valid object key)."""
    parts = [_segment(service)]
    if key is not None:
        parts.append(_segment(key))
    parts.append(_segment(handler))
    if send:
        parts.append("send")
    return "/" + "/".join(parts)


def delay_query(delay: timedelta | None) -> dict[str, str]:
    """The ``delay`` query parameter of a send, in whole milliseconds (``"1500ms"``)."""
    if delay is None:
        return {}
    if delay < timedelta(0):
        raise ValueError(f"delay must not be negative, got {delay}")
    return {"delay": f"{delay // timedelta(milliseconds=1)}ms"}


def invocation_path(invocation_id: str, what: AttachOrOutput) -> str:
    """``/restate/invocation/{id}/{attach|output}``."""
    return f"/restate/invocation/{_segment(invocation_id)}/{what}"


def idempotent_path(
    service: str, handler: str, key: str | None, idempotency_key: str, what: AttachOrOutput
) -> str:
    """``/restate/invocation/{service}[/{key}]/{handler}/{idempotency key}/{attach|output}``."""
    parts = [_segment(service)]
    if key is not None:
        parts.append(_segment(key))
    parts += [_segment(handler), _segment(idempotency_key), what]
    return "/restate/invocation/" + "/".join(parts)


def workflow_path(service: str, key: str, what: AttachOrOutput) -> str:
    """``/restate/workflow/{service}/{key}/{attach|output}``."""
    return f"/restate/workflow/{_segment(service)}/{_segment(key)}/{what}"


def awakeable_path(awakeable_id: str, what: Literal["resolve", "reject"]) -> str:
    """``/restate/awakeables/{id}/{resolve|reject}``."""
    return f"/restate/awakeables/{_segment(awakeable_id)}/{what}"
