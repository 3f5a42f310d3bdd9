"""End-to-end: the reference's examples of service definitions, endpoints and codecs.

``examples/reference/{service,endpoint,codecs}.py`` hold one region per public name of those
modules (the reference pages include them; codecs' other names have doctests). Importing
them runs their assertions; each test here serves one example against a real restate-server
and checks what the server was told, and what the handlers answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pytest
import trio
from primitives_services import DEADLINE, ok

import examples.reference.codecs as ref_codecs
import examples.reference.endpoint as ref_endpoint
import examples.reference.service as ref_service
from restate_trio.codecs import CborCodec
from restate_trio.testing import RestateServer, serve_endpoint


async def described(server: RestateServer, service: str) -> Mapping[str, object]:
    """The server's view of ``service`` (``GET /services/{service}``)."""
    response = await server.admin_get(f"/services/{service}")
    assert response.ok, (response.status, response.text)
    decoded = response.json()
    assert isinstance(decoded, dict)
    return decoded


def handlers(service: Mapping[str, object]) -> dict[str, dict[str, object]]:
    rows = service["handlers"]
    assert isinstance(rows, list)
    return {row["name"]: row for row in rows}


# --------------------------------------------------------------------------- service


async def test_reflected_services_as_the_server_sees_them(restate_server: RestateServer) -> None:
    async with serve_endpoint(ref_service.endpoint, restate_server):
        with trio.fail_after(DEADLINE):
            # reflect: the docstring is the documentation; polite() is not a handler.
            greeter = await described(restate_server, "Greeter")
            hello = await described(restate_server, "Hello")
            polite = await described(restate_server, "Polite")
            cart = await described(restate_server, "Cart")
            assert ok(await restate_server.ingress("/Greeter/greet", "Ada")) == "Hello Ada!"
            refused = await restate_server.ingress("/Cart/basket/clear")
    assert greeter["documentation"] == "Greets people (the Restate UI shows this text)."
    assert list(handlers(greeter)) == ["greet"]
    assert greeter["ty"] == "Service"

    # ServiceDefinition.configure_handler: options of one handler.
    hello_greet = handlers(hello)["greet"]
    assert hello_greet["documentation"] == "Says hello."
    assert hello_greet["inactivity_timeout"] == "1m"
    assert "documentation" not in handlers(greeter)["greet"]

    # ServiceOptions
    assert polite["documentation"] == "Greets people, politely."
    assert polite["metadata"] == {"team": "front desk"}
    assert polite["inactivity_timeout"] == "2m"

    # ServiceKind, HandlerKind
    assert cart["ty"] == "VirtualObject"
    kinds = {name: row["ty"] for name, row in handlers(cart).items()}
    assert kinds == {"add": "Exclusive", "items": "Shared", "clear": "Exclusive"}

    # HandlerOptions: Cart.clear is private; the ingress refuses it.
    assert handlers(cart)["clear"]["public"] is False
    assert handlers(cart)["add"]["public"] is True
    assert refused.status == 400, (refused.status, refused.text)
    assert "not public" in refused.text


async def test_codecs_and_names_of_reflected_services(restate_server: RestateServer) -> None:
    cbor = CborCodec()
    async with serve_endpoint(ref_service.endpoint, restate_server):
        with trio.fail_after(DEADLINE):
            # Cart works (HandlerOptions left its other handlers public).
            assert ok(await restate_server.ingress("/Cart/basket/add", "apple")) == 1
            assert ok(await restate_server.ingress("/Cart/basket/add", "apple")) == 2
            assert ok(await restate_server.ingress("/Cart/basket/items")) == ["apple"]

            # service_codec: the service speaks CBOR, and a caller by reference does too.
            reading = ref_service.Reading("roof", 100.0)
            direct = await restate_server.ingress(
                "/Sensors/fahrenheit",
                cbor.encode(reading),
                headers={"content-type": "application/cbor"},
            )
            report = await restate_server.ingress(
                "/Station/report", {"sensor": "roof", "celsius": 100.0}
            )

            # handler: raw bytes in, whatever their content type.
            raw = b"\x00\x01\x02\xff"
            sizes = [
                await restate_server.ingress(
                    "/Uploads/size", raw, headers={"content-type": content_type}
                )
                for content_type in ("application/octet-stream", "text/plain")
            ]

            # service_name
            named = await restate_server.ingress("/greetings/greet", "Ada")
    assert direct.status == 200, (direct.status, direct.text)
    assert direct.headers["content-type"] == "application/cbor"
    assert cbor.decode(direct.body, float) == 212.0
    assert ok(report) == "roof: 212.0 °F"
    assert [ok(size) for size in sizes] == [4, 4]
    assert ok(named) == "Greetings, Ada!"


# --------------------------------------------------------------------------- endpoint


async def test_endpoint_served_in_a_trio_program(restate_server: RestateServer) -> None:
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            url = await ref_endpoint.serve_in(nursery)
            assert url.startswith("http://127.0.0.1:")
            registered = await restate_server.register(url)
            assert "services" in registered
            echoed = await restate_server.ingress("/Echo/echo", "over h2c")
            nursery.cancel_scope.cancel()
    assert ok(echoed) == "over h2c"


async def test_endpoint_as_an_asgi_app(restate_server: RestateServer) -> None:
    # serve_endpoint runs an ASGI app on hypercorn's trio worker.
    async with serve_endpoint(ref_endpoint.app, restate_server):
        with trio.fail_after(DEADLINE):
            echoed = await restate_server.ingress("/Echo/echo", "over ASGI")
    assert ok(echoed) == "over ASGI"


# --------------------------------------------------------------------------- codecs


async def test_codec_errors_and_schemas(
    restate_server: RestateServer, caplog: pytest.LogCaptureFixture
) -> None:
    batch = b'{"sensor": "roof", "celsius": 21.5}\nnot json\n{"sensor": "cellar"}\n'
    caplog.set_level(logging.WARNING, logger="restate_trio.handler")
    async with serve_endpoint(ref_codecs.endpoint, restate_server):
        with trio.fail_after(DEADLINE):
            # CodecError: two bad lines skipped and logged, one reading accepted.
            accepted = await restate_server.ingress(
                "/Telemetry/ingest", batch, headers={"content-type": "application/x-ndjson"}
            )
            telemetry = await described(restate_server, "Telemetry")
    assert ok(accepted) == 1
    skipped = [r.getMessage() for r in caplog.records if r.name == "restate_trio.handler"]
    assert len(skipped) == 2, skipped
    assert all(m.startswith("skipped a line: cannot decode JSON into Reading") for m in skipped)

    # JsonSchema: what the server was given for Telemetry.record's input.
    schema = ref_codecs.reading_schema()
    assert schema is not None
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    given = handlers(telemetry)["record"]["input_json_schema"]
    assert isinstance(given, dict)
    assert {k: given[k] for k in ("properties", "required", "title")} == {
        k: defs["Reading"][k] for k in ("properties", "required", "title")
    }
