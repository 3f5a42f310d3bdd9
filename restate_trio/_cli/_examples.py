"""Ready-to-paste ``curl`` calls for the handlers of a registered deployment, built from the
server's own answer to the registration (service kind, handler input description and JSON
schema) and from the endpoint's manifest (the input content type: the server describes a CBOR
input that has a JSON schema as "JSON ..."), so they match what the ingress expects."""

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


def input_content_types(manifest: object) -> dict[tuple[str, str], str]:
    """(service, handler) -> the input content type an endpoint's discovery manifest declares
    (handlers without input, or without a declared type, are left out)."""
    types: dict[tuple[str, str], str] = {}
    services = (
        cast("Mapping[str, object]", manifest).get("services")
        if isinstance(manifest, Mapping)
        else None
    )
    for service in cast("list[object]", services) if isinstance(services, list) else []:
        if not isinstance(service, Mapping):
            continue
        service = cast("Mapping[str, object]", service)
        handlers = service.get("handlers")
        for handler in cast("list[object]", handlers) if isinstance(handlers, list) else []:
            if not isinstance(handler, Mapping):
                continue
            handler = cast("Mapping[str, object]", handler)
            declared = handler.get("input")
            content_type = (
                cast("Mapping[str, object]", declared).get("contentType")
                if isinstance(declared, Mapping)
                else None
            )
            if isinstance(content_type, str):
                types[str(service.get("name")), str(handler.get("name"))] = content_type
    return types


def _body_arguments(handler: Mapping[str, object], content_type: str | None) -> list[str]:
    description = str(handler.get("input_description", ""))
    if description == "none":
        return ["-X", "POST"]
    if content_type is not None and "json" not in content_type.lower():
        # Another codec (CBOR, raw bytes, ...), whatever schema it also advertises.
        return ["-H", f"content-type: {content_type}", "--data-binary", "@input"]
    schema = handler.get("input_json_schema")
    if "json" in description.lower() or schema is not None:
        body = orjson.dumps(_placeholder(schema)).decode()
        return ["--json", body]
    # Another codec (CBOR, raw bytes, ...): the description is its content type.
    arguments = ["--data-binary", "@input"]
    if "/" in description:
        arguments = ["-H", f"content-type: {description}", *arguments]
    return arguments


def curl_calls(
    services: Sequence[Mapping[str, object]],
    ingress_url: str,
    content_types: Mapping[tuple[str, str], str] | None = None,
) -> list[str]:
    """One ``curl`` command per handler of the services in a registration answer;
    ``content_types`` from :func:`input_content_types` of the endpoint's manifest."""
    content_types = content_types or {}
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
            content_type = content_types.get((name, str(handler.get("name"))))
            words = ["curl", f"{base}/{path}", *_body_arguments(handler, content_type)]
            calls.append(shlex.join(words))
    return calls
