"""The manifest options are declared once; every way of setting them agrees with that."""

from __future__ import annotations

import dataclasses
import typing
from datetime import timedelta

import pytest

import restate_trio as restate
from restate_trio._service.manifest import build_manifest
from restate_trio._service.options import ManifestOptions, OptionSpec, manifest_options
from restate_trio.codecs import PayloadCodec
from restate_trio.service import (
    HandlerDefinition,
    HandlerOptions,
    ServiceDefinition,
    ServiceOptions,
    reflect,
)


class Counter:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        return delta


class Signup:
    async def run(self, ctx: restate.WorkflowContext, email: str) -> str:
        return email


def _option_fields(cls: type) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {
        item.name: hints[item.name]
        for item in dataclasses.fields(cls)
        if isinstance(item.metadata.get("restate_trio.option"), OptionSpec)
    }


def test_keywords_are_the_declared_options() -> None:
    handler_options = _option_fields(HandlerDefinition)
    service_options = _option_fields(ServiceDefinition)
    shared = _option_fields(ManifestOptions)
    assert set(service_options) == set(shared)
    assert set(handler_options) == {*shared, "workflow_retention"}
    # reflect() takes every option plus the codec (workflow_retention goes to the run handler),
    # with the definitions' types (metadata may also be None there).
    keywords = typing.get_type_hints(ServiceOptions)
    assert set(keywords) == {*handler_options, "codec"}
    for name, tp in handler_options.items():
        expected = tp | None if name == "metadata" else tp
        assert keywords[name] == expected, name
    assert keywords["codec"] == PayloadCodec | None
    # configure_handler() takes those and the handler's own codecs and accept.
    assert set(typing.get_type_hints(HandlerOptions)) == {
        *keywords,
        "input_codec",
        "output_codec",
        "accept",
    }
    assert HandlerOptions.__required_keys__ == ServiceOptions.__required_keys__ == frozenset()


def test_every_option_set_reaches_the_manifest() -> None:
    policy = restate.InvocationRetryPolicy(max_attempts=3)
    values: dict[str, object] = {
        "documentation": "Docs.",
        "metadata": {"k": "v"},
        "inactivity_timeout": timedelta(seconds=1),
        "abort_timeout": timedelta(seconds=2),
        "journal_retention": timedelta(seconds=3),
        "idempotency_retention": timedelta(seconds=4),
        "enable_lazy_state": True,
        "ingress_private": True,
        "retry_policy": policy,
    }
    definition = reflect(Counter(), **values)  # type: ignore[arg-type]
    definition = definition.configure_handler("add", **values)  # type: ignore[arg-type]
    manifest = build_manifest([definition], protocol_mode="BIDI_STREAM")
    services = typing.cast("list[dict[str, object]]", manifest["services"])
    handler = typing.cast("list[dict[str, object]]", services[0]["handlers"])[0]
    for entry in (services[0], handler):
        for name, spec, _ in manifest_options(definition):
            if name == "retry_policy":
                assert entry["retryPolicyMaxAttempts"] == 3
            else:
                assert spec.key in entry, name
        assert entry["inactivityTimeout"] == 1000
        assert entry["idempotencyRetention"] == 4000


def test_workflow_retention_reaches_the_run_handler_in_the_manifest() -> None:
    definition = reflect(Signup(), workflow_retention=timedelta(days=1))
    manifest = build_manifest([definition], protocol_mode="BIDI_STREAM")
    service = typing.cast("list[dict[str, object]]", manifest["services"])[0]
    run = typing.cast("list[dict[str, object]]", service["handlers"])[0]
    assert run["workflowCompletionRetention"] == 86_400_000
    assert "workflowCompletionRetention" not in service


def test_unknown_options_are_rejected() -> None:
    with pytest.raises(TypeError, match="unknown options: colour"):
        reflect(Counter(), colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unknown options: fn"):
        reflect(Counter()).configure_handler("add", fn=None)  # type: ignore[call-arg]


def test_retry_policy_option_is_checked() -> None:
    with pytest.raises(restate.ServiceDefinitionError, match="retry_policy must be a"):
        reflect(Counter(), retry_policy=3)  # type: ignore[arg-type]
