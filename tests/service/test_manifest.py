"""The discovery manifest: exact JSON for the example services, options, negotiation."""

from __future__ import annotations

import dataclasses
import doctest
import re
import textwrap
from datetime import timedelta
from typing import TypeVar

import orjson
import pytest

# Needed at run time: reflect() resolves the string annotations that use it.
import restate_trio as restate
from restate_trio._service import manifest as manifest_module
from restate_trio._service.manifest import (
    build_manifest,
    manifest_content_type,
    negotiate_manifest_version,
    serialize_manifest,
)
from restate_trio.codecs import JsonCodec, JsonSchema
from restate_trio.service import HandlerKind, ServiceDefinition, ServiceDefinitionError, reflect

T = TypeVar("T")


class Greeter:
    """Greets people."""

    async def greet(self, ctx: restate.Context, name: str) -> str:
        """Say hello."""
        return name


class Counter:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        return delta

    async def current(self, ctx: restate.ObjectSharedContext) -> int:
        return 0


class Signup:
    async def run(self, ctx: restate.WorkflowContext, email: str) -> str:
        return email

    async def status(self, ctx: restate.WorkflowSharedContext) -> str | None:
        return None


def services_of(manifest: dict[str, object]) -> list[dict[str, object]]:
    services = manifest["services"]
    assert isinstance(services, list)
    return services


def only_service(*definitions: ServiceDefinition, version: int = 4) -> dict[str, object]:
    manifest = build_manifest(definitions, protocol_mode="BIDI_STREAM", manifest_version=version)
    return services_of(manifest)[0]


def handler_of(service: dict[str, object], name: str) -> dict[str, object]:
    handlers = service["handlers"]
    assert isinstance(handlers, list)
    for handler in handlers:
        if handler["name"] == name:
            return handler  # type: ignore[no-any-return]
    raise AssertionError(name)


JSON = "application/json"
STRING = {"type": "string"}
INTEGER = {"type": "integer"}


# --- snapshots of the three examples -------------------------------------------------------------


def test_greeter_manifest() -> None:
    manifest = build_manifest([reflect(Greeter())], protocol_mode="BIDI_STREAM")
    assert manifest == {
        "protocolMode": "BIDI_STREAM",
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [
            {
                "name": "Greeter",
                "ty": "SERVICE",
                "documentation": "Greets people.",
                "handlers": [
                    {
                        "name": "greet",
                        "input": {"required": True, "contentType": JSON, "jsonSchema": STRING},
                        "output": {
                            "contentType": JSON,
                            "setContentTypeIfEmpty": False,
                            "jsonSchema": STRING,
                        },
                        "documentation": "Say hello.",
                    }
                ],
            }
        ],
    }


def test_counter_manifest() -> None:
    manifest = build_manifest(
        [reflect(Counter())],
        protocol_mode="REQUEST_RESPONSE",
        min_protocol_version=6,
        max_protocol_version=6,
    )
    assert manifest == {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": 6,
        "maxProtocolVersion": 6,
        "services": [
            {
                "name": "Counter",
                "ty": "VIRTUAL_OBJECT",
                "handlers": [
                    {
                        "name": "add",
                        "ty": "EXCLUSIVE",
                        "input": {"required": True, "contentType": JSON, "jsonSchema": INTEGER},
                        "output": {
                            "contentType": JSON,
                            "setContentTypeIfEmpty": False,
                            "jsonSchema": INTEGER,
                        },
                    },
                    {
                        "name": "current",
                        "ty": "SHARED",
                        "input": {},
                        "output": {
                            "contentType": JSON,
                            "setContentTypeIfEmpty": False,
                            "jsonSchema": INTEGER,
                        },
                    },
                ],
            }
        ],
    }


def test_signup_manifest() -> None:
    assert only_service(reflect(Signup())) == {
        "name": "Signup",
        "ty": "WORKFLOW",
        "handlers": [
            {
                "name": "run",
                "ty": "WORKFLOW",
                "input": {"required": True, "contentType": JSON, "jsonSchema": STRING},
                "output": {
                    "contentType": JSON,
                    "setContentTypeIfEmpty": False,
                    "jsonSchema": STRING,
                },
            },
            {
                "name": "status",
                "ty": "SHARED",
                "input": {},
                "output": {
                    "contentType": JSON,
                    "setContentTypeIfEmpty": False,
                    "jsonSchema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
            },
        ],
    }


def test_several_services_keep_their_order() -> None:
    manifest = build_manifest(
        [reflect(Signup()), reflect(Greeter()), reflect(Counter())], protocol_mode="BIDI_STREAM"
    )
    assert [s["name"] for s in services_of(manifest)] == ["Signup", "Greeter", "Counter"]


def test_no_services() -> None:
    assert build_manifest([], protocol_mode="BIDI_STREAM")["services"] == []


# --- input and output ----------------------------------------------------------------------------


@dataclasses.dataclass
class Item:
    name: str
    children: list[Item]


class Shapes:
    async def untyped(self, ctx: restate.Context, data) -> None: ...  # type: ignore[no-untyped-def]

    async def optional(self, ctx: restate.Context, count: int | None) -> None: ...

    async def item(self, ctx: restate.Context, item: Item) -> list[Item]:
        return []


def test_untyped_input_is_optional_json_without_schema() -> None:
    handler = handler_of(only_service(reflect(Shapes())), "untyped")
    assert handler["input"] == {"required": False, "contentType": JSON}
    assert handler["output"] == {"setContentTypeIfEmpty": False}


def test_optional_input_is_not_required() -> None:
    handler = handler_of(only_service(reflect(Shapes())), "optional")
    assert handler["input"] == {
        "required": False,
        "contentType": JSON,
        "jsonSchema": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    }


def test_struct_schema_root_reference_is_inlined() -> None:
    handler = handler_of(only_service(reflect(Shapes())), "item")
    item_schema = {
        "title": "Item",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
        },
        "required": ["name", "children"],
    }
    assert handler["input"] == {
        "required": True,
        "contentType": JSON,
        "jsonSchema": {**item_schema, "$defs": {"Item": item_schema}},
    }
    # Not a bare reference at the root: nothing to inline.
    assert handler["output"] == {
        "contentType": JSON,
        "setContentTypeIfEmpty": False,
        "jsonSchema": {
            "type": "array",
            "items": {"$ref": "#/$defs/Item"},
            "$defs": {"Item": item_schema},
        },
    }


class FakeCodec(JsonCodec):
    """A JSON codec with a configurable schema and the optional manifest flags."""

    def __init__(
        self,
        schema: object = None,
        *,
        content_type: str = "application/x-fake",
        fail: bool = False,
        input_required: bool | None = None,
        set_content_type_if_empty: bool | None = None,
    ) -> None:
        self._schema = schema
        self._content_type = content_type
        self._fail = fail
        if input_required is not None:
            self.input_required = input_required
        if set_content_type_if_empty is not None:
            self.set_content_type_if_empty = set_content_type_if_empty

    @property
    def content_type(self) -> str:
        return self._content_type

    def json_schema(self, tp: object) -> JsonSchema | None:
        if self._fail:
            raise RuntimeError("boom")
        return self._schema  # type: ignore[return-value]


def fake_greeter(codec: FakeCodec) -> dict[str, object]:
    return handler_of(only_service(reflect(Greeter(), codec=codec)), "greet")


def test_codec_without_schema() -> None:
    handler = fake_greeter(FakeCodec(None))
    assert handler["input"] == {"required": True, "contentType": "application/x-fake"}
    assert handler["output"] == {
        "contentType": "application/x-fake",
        "setContentTypeIfEmpty": False,
    }


def test_failing_schema_is_left_out() -> None:
    assert "jsonSchema" not in fake_greeter(FakeCodec(fail=True))["input"]  # type: ignore[operator]


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "https://example.com/schema.json"},
        {"type": "object", "properties": {"a": {"$ref": "other.json#/x"}}},
        {"anyOf": [{"$ref": "#/$defs/A"}, {"$ref": "http://x/y"}], "$defs": {"A": {}}},
        {"type": "object", "default": {1, 2}},  # not JSON
        ["not", "an", "object"],
    ],
)
def test_unusable_schemas_are_left_out(schema: object) -> None:
    handler = fake_greeter(FakeCodec(schema))
    assert handler["input"] == {"required": True, "contentType": "application/x-fake"}


def test_schema_mappings_become_plain_json() -> None:
    from types import MappingProxyType

    schema = MappingProxyType({"type": "array", "items": ({"type": "integer"},)})
    handler = fake_greeter(FakeCodec(schema))
    assert handler["input"] == {
        "required": True,
        "contentType": "application/x-fake",
        "jsonSchema": {"type": "array", "items": [{"type": "integer"}]},
    }
    serialize_manifest(
        build_manifest([reflect(Greeter(), codec=FakeCodec(schema))], protocol_mode="BIDI_STREAM")
    )


def test_codec_flags() -> None:
    codec = FakeCodec(None, input_required=False, set_content_type_if_empty=True)
    handler = fake_greeter(codec)
    assert handler["input"] == {"required": False, "contentType": "application/x-fake"}
    assert handler["output"] == {
        "contentType": "application/x-fake",
        "setContentTypeIfEmpty": True,
    }


def test_per_direction_codecs() -> None:
    definition = reflect(Greeter()).configure_handler(
        "greet", input_codec=FakeCodec(None, content_type="text/plain")
    )
    handler = handler_of(only_service(definition), "greet")
    assert handler["input"] == {"required": True, "contentType": "text/plain"}
    assert handler["output"] == {
        "contentType": JSON,
        "setContentTypeIfEmpty": False,
        "jsonSchema": STRING,
    }


# --- options -------------------------------------------------------------------------------------


def test_service_options_in_milliseconds() -> None:
    definition = reflect(
        Counter(),
        documentation="Counts.",
        metadata={"team": "core"},
        inactivity_timeout=timedelta(seconds=90),
        abort_timeout=timedelta(minutes=10),
        idempotency_retention=timedelta(days=1),
        journal_retention=timedelta(hours=2),
        enable_lazy_state=True,
        ingress_private=False,
    )
    service = only_service(definition)
    handlers = service.pop("handlers")
    assert service == {
        "name": "Counter",
        "ty": "VIRTUAL_OBJECT",
        "documentation": "Counts.",
        "metadata": {"team": "core"},
        "inactivityTimeout": 90_000,
        "abortTimeout": 600_000,
        "journalRetention": 7_200_000,
        "idempotencyRetention": 86_400_000,
        "enableLazyState": True,
        "ingressPrivate": False,
    }
    # Service options are not copied onto the handlers.
    assert [set(h) for h in handlers] == [{"name", "ty", "input", "output"}] * 2  # type: ignore[attr-defined]


def test_sub_millisecond_durations_are_truncated() -> None:
    service = only_service(reflect(Greeter(), inactivity_timeout=timedelta(microseconds=1500)))
    assert service["inactivityTimeout"] == 1


def test_handler_options() -> None:
    definition = reflect(Counter()).configure_handler(
        "add",
        documentation="Adds.",
        metadata={"k": "v"},
        inactivity_timeout=timedelta(seconds=1),
        abort_timeout=timedelta(seconds=2),
        idempotency_retention=timedelta(seconds=3),
        journal_retention=timedelta(seconds=4),
        enable_lazy_state=False,
        ingress_private=True,
    )
    add = handler_of(only_service(definition), "add")
    del add["input"], add["output"]
    assert add == {
        "name": "add",
        "ty": "EXCLUSIVE",
        "documentation": "Adds.",
        "metadata": {"k": "v"},
        "inactivityTimeout": 1000,
        "abortTimeout": 2000,
        "journalRetention": 4000,
        "idempotencyRetention": 3000,
        "enableLazyState": False,
        "ingressPrivate": True,
    }


def test_workflow_retention_only_on_the_workflow_handler() -> None:
    definition = reflect(
        Signup(), workflow_retention=timedelta(days=7), idempotency_retention=timedelta(hours=1)
    ).configure_handler("status", idempotency_retention=timedelta(minutes=5))
    service = only_service(definition)
    assert service["idempotencyRetention"] == 3_600_000
    run, status = handler_of(service, "run"), handler_of(service, "status")
    assert run["workflowCompletionRetention"] == 7 * 86_400_000
    assert "idempotencyRetention" not in run
    assert status["idempotencyRetention"] == 300_000
    assert "workflowCompletionRetention" not in status


# The keys the server's schema allows (it rejects every other key).
TOP_KEYS = {"protocolMode", "minProtocolVersion", "maxProtocolVersion", "services"}
COMMON_KEYS = {
    "documentation",
    "metadata",
    "inactivityTimeout",
    "abortTimeout",
    "journalRetention",
    "idempotencyRetention",
    "enableLazyState",
    "ingressPrivate",
}
SERVICE_KEYS = {"name", "ty", "handlers", *COMMON_KEYS}
HANDLER_KEYS = {"name", "ty", "input", "output", "workflowCompletionRetention", *COMMON_KEYS}
INPUT_KEYS = {"required", "contentType", "jsonSchema"}
OUTPUT_KEYS = {"contentType", "setContentTypeIfEmpty", "jsonSchema"}
VALID_TY: dict[str, set[str | None]] = {
    "SERVICE": {None},
    "VIRTUAL_OBJECT": {"EXCLUSIVE", "SHARED"},
    "WORKFLOW": {"WORKFLOW", "SHARED"},
}


def test_everything_set_stays_within_the_schema() -> None:
    day = timedelta(days=1)
    options = {
        "documentation": "d",
        "metadata": {"a": "b"},
        "inactivity_timeout": day,
        "abort_timeout": day,
        "idempotency_retention": day,
        "journal_retention": day,
        "ingress_private": True,
    }
    definitions = [
        reflect(Greeter(), **options),  # type: ignore[arg-type]
        reflect(Counter(), enable_lazy_state=True, **options),  # type: ignore[arg-type]
        reflect(Signup(), enable_lazy_state=True, workflow_retention=day, **options),  # type: ignore[arg-type]
    ]
    configured = []
    for definition in definitions:
        for handler in definition.handlers.values():
            extra: dict[str, object] = {"journal_retention": day, "inactivity_timeout": day}
            if handler.kind is not None:
                extra["enable_lazy_state"] = False
            if handler.kind is HandlerKind.WORKFLOW:
                extra["workflow_retention"] = day
            else:
                extra["idempotency_retention"] = day
            definition = definition.configure_handler(handler.name, **extra)  # type: ignore[arg-type]
        configured.append(definition)
    manifest = orjson.loads(
        serialize_manifest(build_manifest(configured, protocol_mode="BIDI_STREAM"))
    )
    assert set(manifest) == TOP_KEYS
    for service in manifest["services"]:
        assert set(service) <= SERVICE_KEYS
        for handler in service["handlers"]:
            assert set(handler) <= HANDLER_KEYS
            assert set(handler["input"]) <= INPUT_KEYS
            assert set(handler["output"]) <= OUTPUT_KEYS
            assert handler.get("ty") in VALID_TY[service["ty"]]
            if handler.get("ty") == "WORKFLOW":
                assert "idempotencyRetention" not in handler
                assert "workflowCompletionRetention" in handler
            else:
                assert "workflowCompletionRetention" not in handler
            for key in ("inactivityTimeout", "journalRetention"):
                assert type(handler[key]) is int


# --- manifest version gating ---------------------------------------------------------------------


def test_v3_options_need_v3() -> None:
    definition = reflect(Greeter(), inactivity_timeout=timedelta(seconds=1))
    with pytest.raises(
        ServiceDefinitionError,
        match=re.escape(
            "Greeter: inactivity_timeout requires endpoint manifest version 3 or newer, but the "
            "Restate server asked for version 2"
        ),
    ):
        only_service(definition, version=2)
    assert only_service(definition, version=3)["inactivityTimeout"] == 1000


def test_handler_v3_options_need_v3() -> None:
    definition = reflect(Signup()).configure_handler("run", workflow_retention=timedelta(days=1))
    with pytest.raises(
        ServiceDefinitionError, match=re.escape("Signup.run: workflow_retention requires")
    ):
        only_service(definition, version=2)


def test_documentation_and_metadata_need_v2() -> None:
    service = only_service(reflect(Greeter()), version=1)
    assert "documentation" not in service  # left out quietly
    assert "documentation" not in handler_of(service, "greet")
    with pytest.raises(
        ServiceDefinitionError,
        match=re.escape("Greeter: metadata requires endpoint manifest version 2 or newer"),
    ):
        only_service(reflect(Greeter(), metadata={"a": "b"}), version=1)


# --- argument checks -----------------------------------------------------------------------------


def test_duplicate_service_names() -> None:
    with pytest.raises(ServiceDefinitionError, match="Greeter: two services have this name"):
        build_manifest(
            [reflect(Greeter()), reflect(Counter(), "Greeter")], protocol_mode="BIDI_STREAM"
        )


def test_invalid_arguments() -> None:
    greeter = [reflect(Greeter())]
    with pytest.raises(ValueError, match="invalid protocol mode: 'BIDI'"):
        build_manifest(greeter, protocol_mode="BIDI")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid protocol versions: min 7, max 5"):
        build_manifest(
            greeter, protocol_mode="BIDI_STREAM", min_protocol_version=7, max_protocol_version=5
        )
    with pytest.raises(ValueError, match="invalid protocol versions: min 0, max 5"):
        build_manifest(
            greeter, protocol_mode="BIDI_STREAM", min_protocol_version=0, max_protocol_version=5
        )
    with pytest.raises(ValueError, match="unsupported endpoint manifest version: 5"):
        build_manifest(greeter, protocol_mode="BIDI_STREAM", manifest_version=5)


# --- serialization -------------------------------------------------------------------------------


def test_serialize_manifest() -> None:
    manifest = build_manifest([reflect(Counter())], protocol_mode="BIDI_STREAM")
    data = serialize_manifest(manifest)
    assert isinstance(data, bytes)
    assert data.startswith(
        b'{"protocolMode":"BIDI_STREAM","minProtocolVersion":5,"maxProtocolVersion":7,'
        b'"services":[{"name":"Counter","ty":"VIRTUAL_OBJECT","handlers":[{"name":"add",'
        b'"ty":"EXCLUSIVE","input":{"required":true,"contentType":"application/json",'
    )
    assert orjson.loads(data) == manifest


# --- content negotiation -------------------------------------------------------------------------


SERVER_ACCEPT = (
    "application/vnd.restate.endpointmanifest.v1+json, "
    "application/vnd.restate.endpointmanifest.v2+json, "
    "application/vnd.restate.endpointmanifest.v3+json, "
    "application/vnd.restate.endpointmanifest.v4+json"
)


@pytest.mark.parametrize(
    ("accept", "version"),
    [
        (SERVER_ACCEPT, 4),
        (None, 4),
        ("", 4),
        ("   ", 4),
        ("application/vnd.restate.endpointmanifest.v1+json", 1),
        (
            "application/vnd.restate.endpointmanifest.v2+json,"
            "application/vnd.restate.endpointmanifest.v1+json",
            2,
        ),
        ("application/vnd.restate.endpointmanifest.v3+json", 3),
        ("application/vnd.restate.endpointmanifest.v5+json", None),
        (
            "application/vnd.restate.endpointmanifest.v5+json, "
            "application/vnd.restate.endpointmanifest.v3+json",
            3,
        ),
        ("application/json", None),
        ("text/html, application/xml;q=0.9", None),
        ("application/vnd.restate.endpointmanifest.v0+json", None),
        ("application/vnd.restate.endpointmanifest.v4", None),
        ("APPLICATION/VND.RESTATE.ENDPOINTMANIFEST.V3+JSON", 3),
        (
            "  application/vnd.restate.endpointmanifest.v2+json ; charset=utf-8 ,"
            "application/vnd.restate.endpointmanifest.v3+json;q=0.5  ",
            3,
        ),
        (
            "application/vnd.restate.endpointmanifest.v4+json;q=0, "
            "application/vnd.restate.endpointmanifest.v3+json",
            3,
        ),
        ("application/vnd.restate.endpointmanifest.v4+json; q=0.0", None),
        ("application/vnd.restate.endpointmanifest.v4+json; q=bad", 4),
        ("*/*", 4),
        ("application/*", 4),
        ("text/*", None),
        (",,", None),
    ],
)
def test_negotiate_manifest_version(accept: str | None, version: int | None) -> None:
    assert negotiate_manifest_version(accept) == version


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_manifest_content_type(version: int) -> None:
    content_type = manifest_content_type(version)
    assert content_type == f"application/vnd.restate.endpointmanifest.v{version}+json"
    assert negotiate_manifest_version(content_type) == version


@pytest.mark.parametrize("version", [0, 5, -1])
def test_manifest_content_type_rejects_unknown_versions(version: int) -> None:
    with pytest.raises(ValueError, match=f"unsupported endpoint manifest version: {version}"):
        manifest_content_type(version)


# --- documentation examples ----------------------------------------------------------------------


def test_doctests() -> None:
    failures, tried = doctest.testmod(manifest_module)
    assert tried >= 3
    assert failures == 0


def test_module_example_runs() -> None:
    doc = manifest_module.__doc__
    assert doc
    example = textwrap.dedent(doc.split("Example::", 1)[1])
    exec(compile(example, "<manifest docstring>", "exec"), {"__name__": "example"})


def test_invocation_retry_policy_on_service_and_handler() -> None:
    from datetime import timedelta

    from restate_trio.service import InvocationRetryPolicy

    policy = InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=250),
        factor=1.5,
        max_interval=timedelta(seconds=10),
        max_attempts=7,
        on_max_attempts="kill",
    )
    definition = reflect(Counter(), retry_policy=policy).configure_handler(
        "add", retry_policy=InvocationRetryPolicy(max_attempts=2, on_max_attempts="pause")
    )
    service = only_service(definition)
    for key, expected in {
        "retryPolicyInitialInterval": 250,
        "retryPolicyExponentiationFactor": 1.5,
        "retryPolicyMaxInterval": 10_000,
        "retryPolicyMaxAttempts": 7,
        "retryPolicyOnMaxAttempts": "KILL",
    }.items():
        assert service[key] == expected
    add = handler_of(service, "add")
    assert add["retryPolicyMaxAttempts"] == 2
    assert add["retryPolicyOnMaxAttempts"] == "PAUSE"
    assert "retryPolicyInitialInterval" not in add
    with pytest.raises(ServiceDefinitionError, match="manifest version 4"):
        build_manifest([definition], protocol_mode="BIDI_STREAM", manifest_version=3)
    with pytest.raises(ServiceDefinitionError, match="max_attempts"):
        InvocationRetryPolicy(max_attempts=0)
