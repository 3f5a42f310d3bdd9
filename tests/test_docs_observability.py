"""The Python examples of docs/observability.md run as written (each block on its own).

The page's front matter (``tested-by:`` this file) tells the site's checks
(docs/_ext/checks.py) that its fenced ``python`` blocks are the ones run here."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "observability.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The examples configure loggers: put them back as they were."""
    names = ["restate_trio.handler", "restate_trio.invocation", "restate_trio.transport"]
    saved = [
        (lg, lg.level, list(lg.handlers), lg.propagate) for lg in map(logging.getLogger, names)
    ]
    try:
        yield
    finally:
        for lg, level, handlers, propagate in saved:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index: int) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_observability_{index}"}
    exec(compile(BLOCKS[index], f"{DOC.name}[{index}]", "exec"), namespace)
