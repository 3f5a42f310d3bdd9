"""The discovery manifest: what ``GET /discover`` answers, as the Restate server's JSON schema.

The server deserialises the manifest strictly (unknown keys are rejected at every level), so only
the fields of ``endpoint_manifest_schema.json`` are produced, and only when they are set. Durations
are whole milliseconds.

Example::

    import restate_trio as restate
    from restate_trio._service.manifest import (
        build_manifest,
        manifest_content_type,
        negotiate_manifest_version,
        serialize_manifest,
    )
    from restate_trio.service import reflect

    class Greeter:
        async def greet(self, ctx: restate.Context, name: str) -> str:
            return f"Hello {name}!"

    version = negotiate_manifest_version(
        "application/vnd.restate.endpointmanifest.v1+json, "
        "application/vnd.restate.endpointmanifest.v4+json"
    )
    assert version == 4
    assert manifest_content_type(version) == "application/vnd.restate.endpointmanifest.v4+json"
    body = serialize_manifest(build_manifest([reflect(Greeter())], protocol_mode="BIDI_STREAM"))
    assert body.startswith(b'{"protocolMode":"BIDI_STREAM"')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal, cast

import orjson

from ..codecs._typed import refs_are_local
from ..errors import ServiceDefinitionError
from .definitions import HandlerDefinition, ServiceDefinition
from .options import manifest_options

if TYPE_CHECKING:
    from ..codecs import PayloadCodec

__all__ = [
    "LATEST_MANIFEST_VERSION",
    "MANIFEST_VERSIONS",
    "ProtocolMode",
    "build_manifest",
    "manifest_content_type",
    "negotiate_manifest_version",
    "serialize_manifest",
]

ProtocolMode = Literal["BIDI_STREAM", "REQUEST_RESPONSE"]

MANIFEST_VERSIONS: Final = (1, 2, 3, 4)
"""The endpoint manifest versions this SDK can produce."""

LATEST_MANIFEST_VERSION: Final = 4

_MANIFEST_TYPE_RE: Final = re.compile(r"application/vnd\.restate\.endpointmanifest\.v(\d+)\+json")


def manifest_content_type(version: int) -> str:
    """The content type of a manifest of ``version`` (1 to 4).

    >>> manifest_content_type(4)
    'application/vnd.restate.endpointmanifest.v4+json'
    """
    if version not in MANIFEST_VERSIONS:
        raise ValueError(f"unsupported endpoint manifest version: {version!r}")
    return f"application/vnd.restate.endpointmanifest.v{version}+json"


def negotiate_manifest_version(accept: str | None) -> int | None:
    """The manifest version to answer a discovery request with, from its ``accept`` header.

    The highest of the versions we support that ``accept`` lists (the Restate server sends all
    it understands, e.g. ``…v1+json, …v2+json, …v3+json, …v4+json``); media-type parameters are
    ignored, except ``q=0`` which excludes a type. Without an ``accept`` header (or an empty one),
    or with ``*/*`` or ``application/*`` (a curl or browser probe), the newest version, 4.
    ``None`` when nothing acceptable is listed: the endpoint then answers ``415``.

    >>> negotiate_manifest_version("application/vnd.restate.endpointmanifest.v2+json")
    2
    >>> negotiate_manifest_version("application/json") is None
    True
    """
    if accept is None or not accept.strip():
        return LATEST_MANIFEST_VERSION
    best: int | None = None
    for item in accept.split(","):
        media_type, *params = (part.strip() for part in item.split(";"))
        if _quality_is_zero(params):
            continue
        media_type = media_type.lower()
        if media_type in ("*/*", "application/*"):
            candidate: int | None = LATEST_MANIFEST_VERSION
        else:
            match = _MANIFEST_TYPE_RE.fullmatch(media_type)
            candidate = int(match.group(1)) if match else None
        if candidate in MANIFEST_VERSIONS and (best is None or candidate > best):
            best = candidate
    return best


def _quality_is_zero(params: Sequence[str]) -> bool:
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value.strip()) == 0.0
            except ValueError:
                return False
    return False


def build_manifest(
    services: Sequence[ServiceDefinition],
    *,
    protocol_mode: ProtocolMode,
    min_protocol_version: int = 5,
    max_protocol_version: int = 7,
    manifest_version: int = LATEST_MANIFEST_VERSION,
) -> dict[str, object]:
    """The endpoint manifest for ``services``, as JSON-ready data.

    ``manifest_version`` is the negotiated version: options that need a newer version than the
    server asked for raise :class:`ServiceDefinitionError` (an old server would reject them),
    except documentation, which is left out before v2.
    """
    if protocol_mode not in ("BIDI_STREAM", "REQUEST_RESPONSE"):
        raise ValueError(f"invalid protocol mode: {protocol_mode!r}")
    if not 1 <= min_protocol_version <= max_protocol_version:
        raise ValueError(
            f"invalid protocol versions: min {min_protocol_version}, max {max_protocol_version}"
        )
    if manifest_version not in MANIFEST_VERSIONS:
        raise ValueError(f"unsupported endpoint manifest version: {manifest_version!r}")
    seen: set[str] = set()
    for service in services:
        if service.name in seen:
            raise ServiceDefinitionError(f"{service.name}: two services have this name")
        seen.add(service.name)
    return {
        "protocolMode": protocol_mode,
        "minProtocolVersion": min_protocol_version,
        "maxProtocolVersion": max_protocol_version,
        "services": [_service(service, manifest_version) for service in services],
    }


def serialize_manifest(manifest: Mapping[str, object]) -> bytes:
    """The manifest as compact JSON bytes (keys in the order they were built)."""
    return orjson.dumps(dict(manifest))


# --- internals -------------------------------------------------------------------------------


def _service(service: ServiceDefinition, version: int) -> dict[str, object]:
    out: dict[str, object] = {"name": service.name, "ty": service.kind.value}
    _add_options(out, service, service.name, version)
    previews = preview_serdes(service)
    if previews and version >= 2:  # metadata exists since manifest v2
        out["metadata"] = {**previews, **service.metadata}
    out["handlers"] = [_handler(service, handler, version) for handler in service.handlers.values()]
    return out


def _handler(
    service: ServiceDefinition, handler: HandlerDefinition, version: int
) -> dict[str, object]:
    label = f"{service.name}.{handler.name}"
    out: dict[str, object] = {"name": handler.name}
    if handler.kind is not None:
        out["ty"] = handler.kind.value
    out["input"] = _input(handler)
    out["output"] = _output(handler)
    _add_options(out, handler, label, version)
    return out


def _add_options(
    out: dict[str, object],
    definition: ServiceDefinition | HandlerDefinition,
    label: str,
    version: int,
) -> None:
    # Every option is written as its declaration says (restate_trio._service.options).
    for option, spec, value in manifest_options(definition):
        if not spec.is_set(value):
            continue
        if version < spec.since:
            if spec.dropped_before_since:
                continue
            _require(label, option, spec.since, version)
        out.update(spec.write(spec.key, value))


def _require(label: str, option: str, needed: int, version: int) -> None:
    if version < needed:
        raise ServiceDefinitionError(
            f"{label}: {option} requires endpoint manifest version {needed} or newer, but the "
            f"Restate server asked for version {version} (upgrade the server or remove the "
            "option)"
        )


def _input(handler: HandlerDefinition) -> dict[str, object]:
    if not handler.has_input:
        return {}  # no body allowed
    codec = handler.effective_input_codec
    required = handler.input_required and _input_required(codec, handler.input_type)
    content_type = handler.accept or codec.content_type
    out: dict[str, object] = {"required": required, "contentType": content_type}
    schema = _json_schema(codec, handler.input_type)
    if schema is not None:
        out["jsonSchema"] = schema
    return out


def _output(handler: HandlerDefinition) -> dict[str, object]:
    codec = handler.effective_output_codec
    set_if_empty = _codec_flag(codec, "set_content_type_if_empty", default=False)
    if not handler.has_output:
        return {"setContentTypeIfEmpty": False}
    out: dict[str, object] = {"contentType": codec.content_type}
    out["setContentTypeIfEmpty"] = set_if_empty
    schema = _json_schema(codec, handler.output_type)
    if schema is not None:
        out["jsonSchema"] = schema
    return out


def _input_required(codec: PayloadCodec, tp: object) -> bool:
    # A method in the PayloadCodec protocol; plain bool attributes are accepted too.
    flag: object = getattr(codec, "input_required", True)
    if callable(flag):
        return bool(flag(tp))
    return flag if isinstance(flag, bool) else True


def preview_serdes(service: ServiceDefinition) -> dict[str, str]:
    """Serde previews the endpoint offers for ``service`` (the Restate UI shows these payloads
    as JSON): metadata key → "true", for handlers whose payloads are not JSON already."""
    out: dict[str, str] = {}
    for handler in service.handlers.values():
        if handler.has_input and supports_preview(handler.effective_input_codec):
            out[f"{PREVIEW_METADATA_PREFIX}{handler.name}/input"] = "true"
        if handler.has_output and supports_preview(handler.effective_output_codec):
            out[f"{PREVIEW_METADATA_PREFIX}{handler.name}/output"] = "true"
    return out


PREVIEW_METADATA_PREFIX = "dev.restate.serde.preview."


def supports_preview(codec: PayloadCodec) -> bool:
    """Whether payloads of ``codec`` get a JSON preview: non-JSON, non-raw codecs, unless the
    codec says ``supports_preview = False``."""
    flag: object = getattr(codec, "supports_preview", None)
    if isinstance(flag, bool):
        return flag
    media = codec.content_type.split(";", 1)[0].strip().lower()
    return media not in ("application/json", "application/octet-stream") and not media.endswith(
        "+json"
    )


def _codec_flag(codec: PayloadCodec, name: str, *, default: bool) -> bool:
    # Optional codec attributes (e.g. a raw-bytes codec: input not required, content type also
    # on empty output); not part of the PayloadCodec protocol.
    value: object = getattr(codec, name, default)
    return value if isinstance(value, bool) else default


def _json_schema(codec: PayloadCodec, tp: object) -> dict[str, object] | None:
    """The codec's schema for ``tp``, self-contained and JSON-ready, or None to leave it out."""
    try:
        schema = codec.json_schema(tp)
    except Exception:
        return None
    if schema is None:
        return None
    try:
        converted = _convert(schema)
    except _NotJson:
        return None
    if not isinstance(converted, dict):
        return None
    root = cast("dict[str, object]", converted)
    if not refs_are_local(root):
        # An external $ref cannot be resolved by the server: better no schema than a failed
        # registration.
        return None
    return _inline_root_ref(root)


class _NotJson(Exception):
    pass


def _convert(value: object) -> object:
    """A deep copy of ``value`` as plain JSON data (dict, list, str, numbers, bools, None)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in cast("Mapping[object, object]", value).items():
            if not isinstance(key, str):
                raise _NotJson
            out[key] = _convert(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_convert(item) for item in cast("Sequence[object]", value)]
    raise _NotJson


def _inline_root_ref(schema: dict[str, object]) -> dict[str, object]:
    """``{"$ref": "#/$defs/X", "$defs": {...}}`` → X's schema at the root, ``$defs`` kept.

    Inner ``#/$defs/…`` references still resolve; the Restate UI shows a root-level schema
    better than a bare reference.
    """
    ref = schema.get("$ref")
    defs = schema.get("$defs")
    prefix = "#/$defs/"
    if (
        set(schema) != {"$ref", "$defs"}
        or not isinstance(ref, str)
        or not ref.startswith(prefix)
        or not isinstance(defs, dict)
    ):
        return schema
    target = cast("dict[str, object]", defs).get(ref[len(prefix) :])
    if not isinstance(target, dict):
        return schema
    inlined = dict(cast("dict[str, object]", target))
    if "$defs" in inlined:
        return schema
    inlined["$defs"] = defs
    return inlined
