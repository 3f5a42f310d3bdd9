"""Ready-to-paste ``curl`` calls for the handlers of a registered deployment, built from the
server's own answer to the registration (service kind, handler input description and JSON
schema), so they match what the ingress expects."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import cast

import orjson

_KEYED = ("VirtualObject", "Workflow")
_PLACEHOLDER_DEPTH = 2


def _placeholder(schema: object, depth: int = 0) -> object:
    """A value of the schema's shape, for the user to edit: ``"..."``, ``0``, ``{"a": 0}``."""
    if not isinstance(schema, Mapping):
        return {}
    schema = cast("Mapping[str, object]", schema)
    for union in ("anyOf", "oneOf"):
        options = schema.get(union)
        if isinstance(options, list) and options:
            return _placeholder(cast("list[object]", options)[0], depth)
    kind = schema.get("type")
    if isinstance(kind, list) and kind:
        kind = cast("list[object]", kind)[0]
    if kind == "string":
        return "..."
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if kind == "array":
        return []
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and depth < _PLACEHOLDER_DEPTH:
        fields = cast("Mapping[str, object]", properties)
        return {name: _placeholder(sub, depth + 1) for name, sub in fields.items()}
    return {}


def _body_arguments(handler: Mapping[str, object]) -> list[str]:
    description = str(handler.get("input_description", ""))
    if description == "none":
        return ["-X", "POST"]
    schema = handler.get("input_json_schema")
    if "json" in description.lower() or schema is not None:
        body = orjson.dumps(_placeholder(schema)).decode()
        return ["--json", body]
    # Another codec (CBOR, raw bytes, ...): the description is its content type.
    arguments = ["--data-binary", "@input"]
    if "/" in description:
        arguments = ["-H", f"content-type: {description}", *arguments]
    return arguments


def curl_calls(services: Sequence[Mapping[str, object]], ingress_url: str) -> list[str]:
    """One ``curl`` command per handler of the services in a registration answer."""
    calls: list[str] = []
    base = ingress_url.rstrip("/")
    for service in sorted(services, key=lambda s: str(s.get("name"))):
        name = str(service.get("name"))
        keyed = service.get("ty") in _KEYED
        handlers = service.get("handlers")
        if not isinstance(handlers, list):
            continue
        for handler in cast("list[Mapping[str, object]]", handlers):
            path = (
                f"{name}/<key>/{handler.get('name')}" if keyed else f"{name}/{handler.get('name')}"
            )
            words = ["curl", f"{base}/{path}", *_body_arguments(handler)]
            calls.append(shlex.join(words))
    return calls
