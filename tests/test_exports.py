"""The public surface: exactly what ``__all__`` says, typed, documented, nothing private."""

from __future__ import annotations

import importlib
import inspect

import pytest

import restate_trio

PUBLIC_MODULES = [
    "restate_trio",
    "restate_trio.codecs",
    "restate_trio.combinators",
    "restate_trio.context",
    "restate_trio.endpoint",
    "restate_trio.errors",
    "restate_trio.retry",
    "restate_trio.service",
    "restate_trio.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__), "duplicates in __all__"
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names a missing {symbol}"
        assert not symbol.startswith("_") or symbol == "__version__"


def test_top_level_exports() -> None:
    expected = {
        "Context",
        "ObjectContext",
        "ObjectSharedContext",
        "WorkflowContext",
        "WorkflowSharedContext",
        "Endpoint",
        "TerminalError",
        "reflect",
        "service_name",
        "Request",
        "ServiceDefinition",
        "HandlerDefinition",
        "HandlerKind",
        "ServiceKind",
        "RetryPolicy",
        "InvocationRetryPolicy",
    }
    assert expected <= set(restate_trio.__all__)


@pytest.mark.parametrize("name", ["restate_trio.service", "restate_trio.retry"])
def test_service_and_retry_names_say_their_public_module(name: str) -> None:
    module = importlib.import_module(name)
    for symbol in module.__all__:
        where = getattr(module, symbol).__module__
        assert not any(part.startswith("_") for part in where.split(".")), (symbol, where)
        assert getattr(importlib.import_module(where), symbol) is getattr(module, symbol)
        if symbol in restate_trio.__all__:
            assert getattr(restate_trio, symbol) is getattr(module, symbol)


def test_public_docstrings_name_no_private_module() -> None:
    for name in ("restate_trio.service", "restate_trio.retry", "restate_trio.errors"):
        module = importlib.import_module(name)
        docs = [inspect.getdoc(module)]
        for symbol in module.__all__:
            obj = getattr(module, symbol)
            docs.append(inspect.getdoc(obj))
            if inspect.isclass(obj):
                docs += [inspect.getdoc(member) for _, member in inspect.getmembers(obj)]
        for doc in filter(None, docs):
            assert "restate_trio._" not in doc, (name, doc[:80])


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_objects_are_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert inspect.getdoc(module), f"{name} has no module docstring"
    for symbol in module.__all__:
        obj = getattr(module, symbol)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name}.{symbol} has no docstring"


def test_internal_packages_are_private() -> None:
    for symbol in restate_trio.__all__:
        module = getattr(getattr(restate_trio, symbol), "__module__", "restate_trio")
        assert module.startswith("restate_trio")
