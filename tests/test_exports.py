"""The public surface: exactly what ``__all__`` says, typed, documented, nothing private."""

from __future__ import annotations

import importlib
import inspect

import pytest

import restate_trio

PUBLIC_MODULES = [
    "restate_trio",
    "restate_trio.client",
    "restate_trio.codecs",
    "restate_trio.combinators",
    "restate_trio.concurrency",
    "restate_trio.context",
    "restate_trio.endpoint",
    "restate_trio.errors",
    "restate_trio.retry",
    "restate_trio.service",
    "restate_trio.testing",
]


TOP_LEVEL = {
    "CallFuture",
    "CallOptions",
    "Cancelled",
    "Context",
    "DurableFuture",
    "DurablePromise",
    "DurableCancelScope",
    "DurableNursery",
    "DurableRandom",
    "DurableTimeoutError",
    "Endpoint",
    "HandlerDefinition",
    "HandlerKind",
    "InvocationRetryPolicy",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "RetryPolicy",
    "SendHandle",
    "SendOptions",
    "TaskResult",
    "ServiceDefinition",
    "ServiceDefinitionError",
    "ServiceKind",
    "TerminalError",
    "WorkflowContext",
    "WorkflowSharedContext",
    "__version__",
    "all_completed",
    "all_succeeded",
    "as_completed",
    "fail_after",
    "fail_at",
    "first_completed",
    "first_succeeded",
    "handler",
    "move_on_after",
    "move_on_at",
    "open_nursery",
    "reflect",
    "service_codec",
    "service_name",
    "with_timeout",
}


def _is_private(module_name: str) -> bool:
    return any(part.startswith("_") for part in module_name.split("."))


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_the_public_names(name: str) -> None:
    """``__all__`` is exactly the module's public names: nothing missing, nothing extra."""
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__), "duplicates in __all__"
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names a missing {symbol}"
        assert not symbol.startswith("_") or symbol == "__version__"
    # Every public class or function whose home is this module is exported (names imported
    # for annotations live elsewhere and are exported there).
    ours = {
        symbol
        for symbol, obj in vars(module).items()
        if not symbol.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == name
    }
    assert ours <= exported, f"{name} has public names missing from __all__: {ours - exported}"


def test_top_level_exports() -> None:
    assert set(restate_trio.__all__) == TOP_LEVEL


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_name_says_its_public_module(name: str) -> None:
    """Docs, reprs and tracebacks name a public module, where the object really is."""
    module = importlib.import_module(name)
    for symbol in module.__all__:
        obj = getattr(module, symbol)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        where = obj.__module__
        assert not _is_private(where), (name, symbol, where)
        assert getattr(importlib.import_module(where), symbol) is obj, (name, symbol, where)
        if symbol in restate_trio.__all__:
            assert getattr(restate_trio, symbol) is obj


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_docstrings_name_no_private_module(name: str) -> None:
    module = importlib.import_module(name)
    docs = [inspect.getdoc(module)]
    for symbol in module.__all__:
        obj = getattr(module, symbol)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
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
