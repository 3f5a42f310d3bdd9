"""The examples in docstrings (IDE users read them; the reference shows them, marked
illustrative): each complete one is executed, and every service class it defines must reflect
into a valid service definition. Fragments (a few lines with a top-level ``await``) are only
compiled, by tests/test_docs_reference.py. The reference's tested examples are the regions of
examples/reference/ (see test_every_public_name_shows_a_tested_example)."""

from __future__ import annotations

import importlib
import inspect

import pytest
from test_docs_reference import _docstrings, _literal_blocks  # pyright: ignore[reportPrivateUsage]

import restate_trio as restate
from restate_trio.errors import ServiceDefinitionError


def _blocks() -> list[tuple[str, str]]:
    return [(where, block) for where, doc in _docstrings() for block in _literal_blocks(doc)]


def _is_fragment(block: str) -> bool:
    """A few lines that only make sense inside a handler: a top-level ``await``/``async for``."""
    try:
        compile(block, "<docstring>", "exec")
    except SyntaxError:
        return True  # a top-level await compiles only as a fragment
    return False


_PROGRAMS = [(where, block) for where, block in _blocks() if not _is_fragment(block)]


def test_the_docstrings_have_complete_examples() -> None:
    assert len(_PROGRAMS) >= 10, _PROGRAMS  # the module docstrings' examples, at least


def _module_names(where: str) -> dict[str, object]:
    parts = where.split(".")
    while parts:
        try:
            module = importlib.import_module(".".join(parts))
        except ImportError:
            parts.pop()
            continue
        return {name: getattr(module, name) for name in getattr(module, "__all__", ())}
    return {}


@pytest.mark.parametrize(("where", "block"), _PROGRAMS, ids=[w for w, _ in _PROGRAMS])
def test_a_docstring_example_runs_and_its_services_reflect(where: str, block: str) -> None:
    # A class's or function's example may use the names of its own module unimported.
    namespace: dict[str, object] = {**_module_names(where), "__name__": "docstring"}
    exec(compile(block, f"<docstring of {where}>", "exec"), namespace)
    for name, value in namespace.items():
        if not inspect.isclass(value) or value.__module__ != "docstring":
            continue
        try:
            definition = restate.reflect(value.__new__(value))
        except ServiceDefinitionError as exc:
            if "no handlers" in str(exc):
                continue  # a plain helper class, not a service
            raise AssertionError(f"{where}: {name} does not reflect: {exc}") from exc
        assert definition.handlers, f"{where}: {name} reflects to no handlers"
