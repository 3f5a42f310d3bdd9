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
    }
    assert expected <= set(restate_trio.__all__)


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
