"""End-to-end tests of payload codecs: JSON, CBOR, raw bytes and a custom text codec.

One restate-server per module; every test serves a fresh endpoint with every service of
``codec_services.py`` (so each test has its own :class:`~codec_services.Recorder`) and talks to
it through the server's ingress and admin API. CBOR request bodies are sent raw, with an
explicit ``content-type: application/cbor``. Expected CBOR bytes come from ``cbor2`` itself
(``canonical=True``), not from the SDK's codec.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import cbor2
import pytest
import trio
from codec_services import CountingEndpoint, Recorder, cbor_default_endpoint, endpoint

from restate_trio.testing import HttpResponse, IngressResponse, RestateServer, serve_endpoint

_DEADLINE = 20.0  # bound on every wait in this module (seconds)
_CBOR = {"content-type": "application/cbor"}
_DECODE_FAILED = "request could not be decoded into handler input type"


@pytest.fixture(scope="module")
def restate_server_options() -> dict[str, object]:
    # Fast retries: a test that wrongly makes an invocation retryable fails on its counters
    # quickly instead of waiting for the deadline.
    return {
        "env": {
            "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "50ms",
            "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "200ms",
        }
    }


class Served:
    """What a test sees of its endpoint: the handlers' recorder and the HTTP requests."""

    def __init__(self, rec: Recorder, observed: CountingEndpoint, uri: str) -> None:
        self.rec = rec
        self.observed = observed
        self.uri = uri


@asynccontextmanager
async def serving(server: RestateServer) -> AsyncIterator[Served]:
    rec = Recorder()
    observed = CountingEndpoint(endpoint(rec))
    with trio.fail_after(_DEADLINE * 2):
        async with serve_endpoint(observed, server) as uri:
            yield Served(rec, observed, uri)


def _key() -> str:
    return uuid.uuid4().hex


def cbor(value: object) -> bytes:
    """The canonical CBOR encoding of ``value`` (RFC 8949 §4.2.1), by cbor2."""
    return cbor2.dumps(value, canonical=True)


async def call_cbor(server: RestateServer, path: str, value: object) -> IngressResponse:
    return await server.ingress(path, cbor(value), headers=_CBOR)


def ok(response: HttpResponse) -> bytes:
    assert response.status == 200, (response.status, response.text)
    return response.body


def content_type(response: HttpResponse) -> str:
    return response.headers.get("content-type", "")


def ingress_rejected(response: IngressResponse, expected_type: str) -> None:
    """The ingress refused the request itself (no invocation) for its content type."""
    assert response.status == 400, (response.status, response.text)
    assert response.headers.get("x-restate-error-source") == "ingress", response.headers
    assert "x-restate-id" not in response.headers
    message = str(_json_object(response.body)["message"])
    assert "does not match" in message, message
    assert expected_type in message, message


def _json_object(data: bytes) -> Mapping[str, object]:
    decoded = json.loads(data)
    assert isinstance(decoded, dict), data
    return decoded


# --------------------------------------------------------------------------- 1. ingress calls


async def test_json_cbor_bytes_and_mixed_handlers_through_the_ingress(
    restate_server: RestateServer,
) -> None:
    async with serving(restate_server) as served:
        greet = await restate_server.ingress("/JsonSvc/greet", "bob")
        reading = {"sensor": "s1", "raw": b"\x00\x01", "values": [1.5, 2.5]}
        summarize = await call_cbor(restate_server, "/CborSvc/summarize", reading)
        raw = b"\x00\x01\xff\x80"
        reverse = await restate_server.ingress(
            "/BytesSvc/reverse", raw, headers={"content-type": "application/octet-stream"}
        )
        # An empty payload is valid raw input, and empty raw output keeps its content type.
        empty = await restate_server.ingress("/BytesSvc/reverse", b"")
        total = await call_cbor(restate_server, "/JsonSvc/total", [1, 2, 3, 40])

    assert ok(greet) == b'"Hello bob!"'
    assert content_type(greet).startswith("application/json")

    assert ok(summarize) == cbor({"sensor": "s1", "size": 2, "total": 4.0})
    assert ok(summarize).hex() == "a36473697a650265746f74616cf944006673656e736f72627331"
    assert content_type(summarize) == "application/cbor"
    # The handler got the bytes we sent, untouched.
    assert served.rec.bodies["CborSvc.summarize"] == [cbor(reading)]

    assert ok(reverse) == raw[::-1]
    assert content_type(reverse) == "application/octet-stream"
    assert empty.status == 200, empty.text
    assert empty.body == b""
    assert content_type(empty) == "application/octet-stream"
    assert served.rec.bodies["BytesSvc.reverse"] == [raw, b""]

    # CBOR in, JSON out.
    assert ok(total) == b"46"
    assert content_type(total).startswith("application/json")
    assert served.rec.bodies["JsonSvc.total"] == [cbor([1, 2, 3, 40])]


# --------------------------------------------------------------------------- 2. content types


async def test_ingress_rejects_wrong_content_types_before_the_handler_runs(
    restate_server: RestateServer,
) -> None:
    reading = {"sensor": "s2", "raw": "AAE=", "values": [1.0]}
    async with serving(restate_server) as served:
        json_to_cbor = await restate_server.ingress("/CborSvc/summarize", reading)
        json_to_mixed = await restate_server.ingress("/JsonSvc/total", [1, 2])
        cbor_to_json = await call_cbor(restate_server, "/JsonSvc/greet", "bob")
        text_to_json = await restate_server.ingress(
            "/JsonSvc/greet", b"bob", headers={"content-type": "text/plain"}
        )
        # The same payloads with the right content types go through.
        right = await call_cbor(restate_server, "/CborSvc/summarize", {**reading, "raw": b"\x01"})
        right_mixed = await call_cbor(restate_server, "/JsonSvc/total", [1, 2])
        runs = dict(served.rec.runs)
        attempts = {
            name: served.observed.attempts(*name.split("."))
            for name in ("CborSvc.summarize", "JsonSvc.total", "JsonSvc.greet")
        }

    ingress_rejected(json_to_cbor, "application/cbor")
    ingress_rejected(json_to_mixed, "application/cbor")
    ingress_rejected(cbor_to_json, "application/json")
    ingress_rejected(text_to_json, "application/json")
    assert ok(right) == cbor({"sensor": "s2", "size": 1, "total": 1.0})
    assert ok(right_mixed) == b"3"
    # Only the two accepted requests reached a handler (and the endpoint).
    assert runs == {"CborSvc.summarize": 1, "JsonSvc.total": 1}
    assert attempts == {"CborSvc.summarize": 1, "JsonSvc.total": 1, "JsonSvc.greet": 0}


async def test_accept_wildcard_handler_takes_text_and_rejects_json(
    restate_server: RestateServer,
) -> None:
    async with serving(restate_server) as served:
        plain = await restate_server.ingress(
            "/JsonSvc/shout", "grüß".encode(), headers={"content-type": "text/plain; charset=utf-8"}
        )
        markdown = await restate_server.ingress(
            "/JsonSvc/shout", b"*hi*", headers={"content-type": "text/markdown"}
        )
        as_json = await restate_server.ingress("/JsonSvc/shout", "hi")
        runs = served.rec.runs["JsonSvc.shout"]

    assert ok(plain) == "GRÜSS!".encode()
    assert content_type(plain) == "text/plain; charset=utf-8"
    assert ok(markdown) == b"*HI*!"
    ingress_rejected(as_json, "text/*")
    assert runs == 2


# ------------------------------------------------------------------- 3. calls between services


async def test_typed_call_by_reference_uses_the_callees_cbor_codec(
    restate_server: RestateServer,
) -> None:
    async with serving(restate_server) as served:
        response = await restate_server.ingress("/JsonSvc/via_ref", "s9")

    # The caller got a Summary back (it checks the type) and answered JSON.
    assert json.loads(ok(response)) == {"sensor": "s9/via-ref", "size": 3, "total": 3.75}
    assert content_type(response).startswith("application/json")
    # The callee received canonical CBOR, though nobody at the call site said so.
    expected = cbor({"sensor": "s9", "raw": b"\x00\x01\xfe", "values": [1.5, 2.25]})
    assert served.rec.bodies["CborSvc.summarize"] == [expected]


async def test_more_calls_by_reference_use_each_callees_codecs(
    restate_server: RestateServer,
) -> None:
    key = _key()
    async with serving(restate_server) as served:
        response = await restate_server.ingress("/JsonSvc/refs", key)
        stored = await _state_rows(restate_server, "CborVo", key)

    assert _json_object(ok(response)) == {
        "total": 6,
        "reversed": b"\xffcba".hex(),
        "state": {"zz": 26, "y": 25},
    }
    assert served.rec.bodies["JsonSvc.total"] == [cbor([1, 2, 3])]  # its input codec: CBOR
    assert served.rec.bodies["BytesSvc.reverse"] == [b"abc\xff"]  # raw, as given
    assert served.rec.bodies["CborVo.put"] == [cbor({"zz": 26, "y": 25})]
    assert served.rec.bodies["CborVo.read"] == [b""]
    assert stored == {"m": cbor({"y": 25, "zz": 26})}


async def test_operation_codec_override_on_a_call(restate_server: RestateServer) -> None:
    """``Configured`` declares no codec on its class (a reference says JSON) but is deployed
    with CBOR: without ``codec=`` the callee cannot decode the call, with it the call works."""
    async with serving(restate_server) as served:
        default = await restate_server.ingress("/JsonSvc/configured_default", 3)
        runs_after_default = served.rec.runs["Configured.area"]
        attempts_after_default = served.observed.attempts("Configured", "area")
        override = await restate_server.ingress("/JsonSvc/configured_override", 4)

    message = json.loads(ok(default))
    assert message.startswith(f"400: {_DECODE_FAILED}"), message
    assert "CBOR" in message, message
    assert runs_after_default == 0
    assert attempts_after_default == 1  # a terminal failure: no retry

    assert json.loads(ok(override)) == 4 * 5
    assert served.rec.bodies["Configured.area"] == [cbor({"x": 4, "y": 5, "label": "o"})]


async def test_generic_call_with_raw_cbor(restate_server: RestateServer) -> None:
    async with serving(restate_server) as served:
        response = await restate_server.ingress("/JsonSvc/generic_cbor", "g1")

    result = _json_object(ok(response))
    summary = {"sensor": "g1", "size": 1, "total": 4.0}
    assert result["decoded"] == summary
    assert result["hex"] == cbor(summary).hex()
    assert served.rec.bodies["CborSvc.summarize"] == [
        cbor({"sensor": "g1", "raw": b"\x07", "values": [4.0]})
    ]


async def test_endpoint_codec_and_configure_handler(restate_server: RestateServer) -> None:
    rec = Recorder()
    with trio.fail_after(_DEADLINE * 2):
        async with serve_endpoint(cbor_default_endpoint(rec), restate_server):
            as_cbor = await call_cbor(restate_server, "/Plain/echo", {"a": 1})
            json_to_cbor = await restate_server.ingress("/Plain/echo", {"a": 1})
            as_json = await restate_server.ingress("/Plain/echo_json", {"a": 1})
            anything = await restate_server.ingress(
                "/Plain/echo_any", b"\x89PNG", headers={"content-type": "image/png"}
            )
            api = await _admin_json(restate_server, "/services/Plain/openapi")

    assert ok(as_cbor) == cbor({"a": 2})  # the endpoint's codec
    assert content_type(as_cbor) == "application/cbor"
    ingress_rejected(json_to_cbor, "application/cbor")
    assert json.loads(ok(as_json)) == {"a": 2}  # configure_handler(codec=JsonCodec())
    assert content_type(as_json).startswith("application/json")
    assert ok(anything) == b"\x89PNG!"  # accept="*/*"
    assert content_type(anything) == "application/octet-stream"
    bodies = _openapi_bodies(api, "Plain")
    assert bodies["echo"][0] == {
        "content": {"application/cbor": {"schema": {"$ref": "#/components/schemas/echoRequest"}}},
        "required": True,
    }
    assert bodies["echo_any"][0] == {"content": {"*/*": {}}, "required": False}
    assert rec.runs == {"Plain.echo": 1, "Plain.echo_json": 1, "Plain.echo_any": 1}


# --------------------------------------------------------------------------- 4. state


async def _state_rows(server: RestateServer, service: str, key: str) -> dict[str, bytes]:
    rows = await server.query(
        f"SELECT * FROM state WHERE service_name = '{service}' AND service_key = '{key}'"
    )
    return {str(row["key"]): bytes.fromhex(str(row["value"])) for row in rows}


async def test_state_with_an_operation_codec(restate_server: RestateServer) -> None:
    key = _key()
    reading = {"sensor": "t", "raw": base64.b64encode(b"\x00\xff").decode(), "values": [0.5, 7.0]}
    async with serving(restate_server):
        put = await restate_server.ingress(f"/StateVo/{key}/put", reading)
        get = await restate_server.ingress(f"/StateVo/{key}/get", b"")
        stored = await _state_rows(restate_server, "StateVo", key)

    assert put.status == 200, put.text
    assert json.loads(ok(get)) == reading
    expected = cbor({"sensor": "t", "raw": b"\x00\xff", "values": [0.5, 7.0]})
    assert stored == {"reading": expected}


async def test_cbor_service_state_read_by_a_json_handler(restate_server: RestateServer) -> None:
    key = _key()
    value = {"b": 1, "aa": 3, "a": 2}
    async with serving(restate_server):
        put = await call_cbor(restate_server, f"/CborVo/{key}/put", value)
        read = await restate_server.ingress(f"/CborVo/{key}/read", b"")
        read_default = await restate_server.ingress(f"/CborVo/{key}/read_default", b"")
        stored = await _state_rows(restate_server, "CborVo", key)

    assert put.status == 200, put.text
    # Canonical CBOR: keys by encoded length, then bytewise ("a", "b", "aa").
    assert stored == {"m": cbor(value)}
    assert stored["m"].hex() == "a361610261620162616103"
    # The JSON handler reads the CBOR state with codec=CborCodec() and answers JSON.
    assert json.loads(ok(read)) == value
    assert content_type(read).startswith("application/json")
    # Without the override its own codec (JSON) cannot read it.
    outcome = json.loads(ok(read_default))
    assert outcome.startswith("undecodable: "), outcome


# --------------------------------------------------------------------------- 5. typed values


async def test_dataclass_and_pydantic_round_trip_as_json_and_cbor(
    restate_server: RestateServer,
) -> None:
    point = {"x": 1, "y": 2, "label": "ab"}
    item = {"name": "abc", "qty": 2, "tags": ["t"]}
    async with serving(restate_server) as served:
        json_point = await restate_server.ingress("/JsonSvc/point", point)
        json_item = await restate_server.ingress("/JsonSvc/item", item)
        cbor_point = await call_cbor(restate_server, "/CborSvc/point", point)
        cbor_item = await call_cbor(restate_server, "/CborSvc/item", item)
        # A pydantic default fills a missing field.
        cbor_item_default = await call_cbor(
            restate_server, "/CborSvc/item", {"name": "z", "qty": 1}
        )

    # The handlers checked isinstance (a wrong type would be a terminal 422 error).
    assert ok(json_point) == b'{"label":"AB","x":2,"y":4}'
    assert json.loads(ok(json_item)) == {"name": "cba", "qty": 20, "tags": ["t", "json"]}
    assert ok(cbor_point) == cbor({"x": 2, "y": 4, "label": "AB"})
    assert content_type(cbor_point) == "application/cbor"
    assert ok(cbor_item) == cbor({"name": "cba", "qty": 20, "tags": ["t", "cbor"]})
    assert ok(cbor_item_default) == cbor({"name": "z", "qty": 10, "tags": ["cbor"]})
    assert served.rec.runs == {
        "JsonSvc.point": 1,
        "JsonSvc.item": 1,
        "CborSvc.point": 1,
        "CborSvc.item": 2,
    }


# --------------------------------------------------------------------------- 6. bad input


@pytest.mark.parametrize(
    ("path", "body", "headers", "reason"),
    [
        pytest.param(
            "/JsonSvc/point",
            b'{"x":"one","y":2,"label":"a"}',
            {"content-type": "application/json"},
            "cannot decode JSON into Point",
            id="json-dataclass-wrong-field-type",
        ),
        pytest.param(
            "/JsonSvc/item",
            b'{"name":"n"}',
            {"content-type": "application/json"},
            "qty",
            id="json-pydantic-missing-field",
        ),
        pytest.param(
            "/CborSvc/point",
            b"\xff\x00",
            _CBOR,
            "cannot decode CBOR into Point",
            id="cbor-garbage",
        ),
        pytest.param(
            "/CborSvc/summarize",
            cbor({"sensor": "s", "raw": "not bytes", "values": []}),
            _CBOR,
            "cannot decode CBOR into Reading",
            id="cbor-text-for-bytes",
        ),
        pytest.param(
            "/JsonSvc/total",
            cbor([1, 2]) + b"\x00",
            _CBOR,
            "cannot decode CBOR into list[int]",
            id="cbor-trailing-bytes",
        ),
    ],
)
async def test_undecodable_input_fails_with_400_once(
    restate_server: RestateServer,
    path: str,
    body: bytes,
    headers: dict[str, str],
    reason: str,
) -> None:
    service, handler = path.strip("/").split("/")
    async with serving(restate_server) as served:
        with trio.fail_after(_DEADLINE):
            response = await restate_server.ingress(path, body, headers=headers)
        invocation_id = response.invocation_id
        assert invocation_id is not None, (response.status, response.headers, response.text)
        rows = await restate_server.query(
            "SELECT status, completion_result, completion_failure, retry_count, journal_size "
            f"FROM sys_invocation WHERE id = '{invocation_id}'"
        )
        attempts = served.observed.attempts(service, handler)

    assert response.status == 400, (response.status, response.text)
    assert response.headers.get("x-restate-error-source") == "invocation"
    error = _json_object(response.body)
    assert error["code"] == 400
    message = str(error["message"])
    assert message.startswith(_DECODE_FAILED), message
    assert reason in message, message
    # The handler body never ran; the endpoint saw exactly one attempt.
    assert served.rec.runs[f"{service}.{handler}"] == 0
    assert attempts == 1
    (row,) = rows
    assert row["status"] == "completed", row
    assert row["completion_result"] == "failure", row
    assert str(row["completion_failure"]).startswith(f"[400] {_DECODE_FAILED}"), row
    # The server reports no retry count for completed invocations (null); the attempt count
    # above is the direct evidence. The journal holds the input and the failure output only.
    assert row.get("retry_count") in (None, 0), row
    assert row["journal_size"] == 2, row


# --------------------------------------------------------------------------- 7. manifest


def _handlers(service: Mapping[str, object]) -> dict[str, Mapping[str, object]]:
    handlers = service["handlers"]
    assert isinstance(handlers, list)
    return {str(h["name"]): h for h in handlers}


async def _admin_json(server: RestateServer, path: str) -> Mapping[str, object]:
    response = await server.admin_get(path)
    assert response.ok, (path, response.status, response.text)
    return _json_object(response.body)


def _openapi_bodies(spec: Mapping[str, object], service: str) -> dict[str, tuple[object, object]]:
    """handler → (request body, 200 response content) of its ``/restate/call/…`` path."""
    paths = spec["paths"]
    assert isinstance(paths, dict)
    prefix = f"/restate/call/{service}/"
    out: dict[str, tuple[object, object]] = {}
    for path, item in paths.items():
        if path.startswith(prefix):
            post = item["post"]
            response = post.get("responses", {}).get("200") or {}
            out[path[len(prefix) :]] = (post.get("requestBody"), response.get("content"))
    return out


async def test_manifest_as_the_server_reports_it(restate_server: RestateServer) -> None:
    async with serving(restate_server):
        json_svc = await _admin_json(restate_server, "/services/JsonSvc")
        cbor_svc = await _admin_json(restate_server, "/services/CborSvc")
        bytes_svc = await _admin_json(restate_server, "/services/BytesSvc")
        vo = await _admin_json(restate_server, "/services/CborVo")
        json_api = await _admin_json(restate_server, "/services/JsonSvc/openapi")
        cbor_api = await _admin_json(restate_server, "/services/CborSvc/openapi")
        bytes_api = await _admin_json(restate_server, "/services/BytesSvc/openapi")

    point_schema = {
        "type": "object",
        "title": "Point",
        "properties": {
            "x": {"type": "integer"},
            "y": {"type": "integer"},
            "label": {"type": "string"},
        },
        "required": ["x", "y", "label"],
    }

    jh = _handlers(json_svc)
    # Dataclass: its schema with its properties, at the root.
    for direction in ("input", "output"):
        schema = jh["point"][f"{direction}_json_schema"]
        assert isinstance(schema, dict)
        assert {k: schema[k] for k in point_schema} == point_schema
        assert jh["point"][f"{direction}_description"] == "JSON 'Point'"
    # pydantic model: pydantic's schema.
    item_schema = jh["item"]["input_json_schema"]
    assert isinstance(item_schema, dict)
    assert item_schema["title"] == "Item"
    assert set(item_schema["properties"]) == {"name", "qty", "tags"}
    assert item_schema["required"] == ["name", "qty"]
    # No input: "none", no schema.
    assert jh["nothing"]["input_description"] == "none"
    assert "input_json_schema" not in jh["nothing"]
    assert jh["nothing"]["output_json_schema"] == {"type": "string"}
    assert jh["total"]["input_json_schema"] == {"type": "array", "items": {"type": "integer"}}
    assert jh["total"]["output_json_schema"] == {"type": "integer"}

    ch = _handlers(cbor_svc)
    summarize_in = ch["summarize"]["input_json_schema"]
    assert isinstance(summarize_in, dict)
    assert summarize_in["title"] == "Reading"
    assert summarize_in["properties"]["raw"] == {"type": "string", "contentEncoding": "base64"}
    assert ch["ping"]["input_description"] == "none"
    assert ch["ping"]["output_description"] == "none"

    (reverse,) = _handlers(bytes_svc).values()
    assert reverse["input_description"] == "application/octet-stream"
    assert reverse["output_description"] == "optional application/octet-stream"  # set if empty
    assert "input_json_schema" not in reverse
    assert "output_json_schema" not in reverse

    vh = _handlers(vo)
    assert vh["put"]["ty"] == "Exclusive"
    assert vh["read"]["ty"] == "Shared"
    assert vh["put"]["output_description"] == "none"

    # Content types, as the server's OpenAPI document of each service shows them.
    def request_type(bodies: dict[str, tuple[object, object]], handler: str) -> tuple[str, bool]:
        request = bodies[handler][0]
        assert isinstance(request, dict), (handler, request)
        (ct,) = request["content"]
        return ct, request["required"]

    def response_type(bodies: dict[str, tuple[object, object]], handler: str) -> str | None:
        content = bodies[handler][1]
        if content is None:
            return None
        assert isinstance(content, dict)
        (ct,) = content
        return str(ct)

    jb = _openapi_bodies(json_api, "JsonSvc")
    assert request_type(jb, "point") == ("application/json", True)
    assert response_type(jb, "point") == "application/json"
    assert request_type(jb, "total") == ("application/cbor", True)
    assert response_type(jb, "total") == "application/json"
    assert request_type(jb, "shout") == ("text/*", False)
    assert response_type(jb, "shout") == "text/plain; charset=utf-8"
    assert jb["nothing"][0] is None
    cb = _openapi_bodies(cbor_api, "CborSvc")
    for handler in ("summarize", "point", "item"):
        assert request_type(cb, handler) == ("application/cbor", True)
        assert response_type(cb, handler) == "application/cbor"
    assert cb["ping"] == (None, None)
    bb = _openapi_bodies(bytes_api, "BytesSvc")
    assert request_type(bb, "reverse") == ("application/octet-stream", False)
    assert response_type(bb, "reverse") == "application/octet-stream"
    assert bb["reverse"][0] == {"content": {"application/octet-stream": {}}, "required": False}


# --------------------------------------------------------------------------- 8. serde preview


_PREVIEW = "dev.restate.serde.preview."


def _preview_keys(service: Mapping[str, object]) -> set[str]:
    metadata = service.get("metadata") or {}
    assert isinstance(metadata, dict)
    for key, value in metadata.items():
        if key.startswith(_PREVIEW):
            assert value == "true", (key, value)
    return {key[len(_PREVIEW) :] for key in metadata if key.startswith(_PREVIEW)}


async def _serde(server: RestateServer, op: str, serde: str, body: bytes) -> HttpResponse:
    service, _, name = serde.partition(".")
    content = "application/octet-stream" if op == "decode" else "application/json"
    return await server.admin_request(
        "POST",
        f"/internal/services/{service}/serdes/{op}/{name}",
        body,
        headers={"content-type": content},
    )


async def test_serde_preview_metadata(restate_server: RestateServer) -> None:
    async with serving(restate_server):
        cbor_svc = await _admin_json(restate_server, "/services/CborSvc")
        json_svc = await _admin_json(restate_server, "/services/JsonSvc")
        bytes_svc = await _admin_json(restate_server, "/services/BytesSvc")
        cbor_vo = await _admin_json(restate_server, "/services/CborVo")

    assert _preview_keys(cbor_svc) == {
        f"{handler}/{direction}"
        for handler in ("summarize", "point", "item")
        for direction in ("input", "output")
    }  # not ping: no input, no output
    # JSON payloads need no preview: only the CBOR input of total and the text handler.
    assert _preview_keys(json_svc) == {"total/input", "shout/input", "shout/output"}
    assert _preview_keys(bytes_svc) == set()
    # put/input is CBOR; read and read_default are JSON handlers.
    assert _preview_keys(cbor_vo) == {"put/input"}


async def test_serde_preview_decode_and_encode_through_the_admin_api(
    restate_server: RestateServer,
) -> None:
    point = {"x": 1, "y": -2, "label": "ä"}
    reading = {"sensor": "r", "raw": b"\x00\xfe", "values": [0.25]}
    reading_json = {"sensor": "r", "raw": base64.b64encode(b"\x00\xfe").decode(), "values": [0.25]}
    async with serving(restate_server) as served:
        decoded_point = await _serde(restate_server, "decode", "CborSvc.point/input", cbor(point))
        decoded_escaped = await _serde(
            restate_server, "decode", "CborSvc.point%2Foutput", cbor(point)
        )
        decoded_reading = await _serde(
            restate_server, "decode", "CborSvc.summarize/input", cbor(reading)
        )
        decoded_total = await _serde(restate_server, "decode", "JsonSvc.total/input", cbor([5, 6]))
        decoded_text = await _serde(restate_server, "decode", "JsonSvc.shout/input", "hé".encode())
        encoded_text = await _serde(restate_server, "encode", "JsonSvc.shout/output", b'"ok"')
        encoded_point = await _serde(
            restate_server, "encode", "CborSvc.point/input", json.dumps(point).encode()
        )
        encoded_reading = await _serde(
            restate_server, "encode", "CborSvc.summarize/input", json.dumps(reading_json).encode()
        )
        encoded_summary = await _serde(
            restate_server,
            "encode",
            "CborSvc.summarize/output",
            b'{"total": 1.5, "size": 300, "sensor": "q"}',
        )
        requests = dict(served.observed.requests)

    assert json.loads(ok(decoded_point)) == point
    assert json.loads(ok(decoded_escaped)) == point
    assert json.loads(ok(decoded_reading)) == reading_json  # bytes as base64, as in the schema
    assert json.loads(ok(decoded_total)) == [5, 6]
    assert json.loads(ok(decoded_text)) == "hé"  # our own text codec, previewed as JSON
    assert ok(encoded_text) == b"ok"
    assert ok(encoded_point) == cbor(point)
    assert ok(encoded_reading) == cbor(reading)
    assert ok(encoded_summary) == cbor({"sensor": "q", "size": 300, "total": 1.5})
    # The server forwarded them to our endpoint's preview route.
    decode_requests = requests["/serdes/CborSvc/decode/point/input"]
    assert len(decode_requests) == 1
    assert decode_requests[0].get("x-restate-serdes-protocol") == "v1"
    assert len(requests["/serdes/CborSvc/encode/summarize/input"]) == 1
    assert not any(path.startswith("/invoke/") for path in requests)  # no invocation involved


async def test_serde_preview_conversion_failures_surface_from_the_admin_api(
    restate_server: RestateServer,
) -> None:
    async with serving(restate_server) as served:
        bad_cbor = await _serde(restate_server, "decode", "CborSvc.point/input", b"\xff\x00")
        bad_json = await _serde(
            restate_server, "encode", "CborSvc.point/input", b'{"x": "one", "y": 2, "label": ""}'
        )
        not_json = await _serde(restate_server, "encode", "CborSvc.point/input", b"{nope")
        unknown = await _serde(restate_server, "decode", "CborSvc.nope/input", cbor(1))
        no_input = await _serde(restate_server, "decode", "CborSvc.ping/input", b"")
        requests = dict(served.observed.requests)

    for response, reason in (
        (bad_cbor, "cannot decode CBOR into Point"),
        (bad_json, "cannot decode JSON into Point"),
        (not_json, "cannot decode JSON into Point"),
    ):
        assert response.status == 500, (response.status, response.text)
        message = str(_json_object(response.body)["message"])
        assert "422" in message, message
        assert reason in message, message
    # Unknown serdes: our endpoint answers 404, which the admin API reports as an error.
    for response in (unknown, no_input):
        assert not response.ok, (response.status, response.text)
        assert "404" in response.text, response.text
    assert len(requests["/serdes/CborSvc/decode/nope/input"]) == 1
    assert len(requests["/serdes/CborSvc/decode/ping/input"]) == 1
