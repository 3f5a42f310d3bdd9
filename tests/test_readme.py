"""The README's walkthrough cannot rot: its excerpts are the tested example files, its other
Python blocks compile, and the endpoints its commands name load."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from restate_trio import Endpoint
from restate_trio._cli._target import load_endpoint

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.DOTALL)
PYTHON = [body for lang, body in BLOCKS if lang == "python"]
EXCERPT = re.compile(r"# (examples/\w+\.py) \(excerpt\)\n")


def test_the_readme_has_the_walkthrough_excerpts() -> None:
    named = {m.group(1) for body in PYTHON if (m := EXCERPT.match(body))}
    assert {"examples/shop.py", "examples/test_shop.py"} <= named


@pytest.mark.parametrize(
    "body", [b for b in PYTHON if EXCERPT.match(b)], ids=lambda b: b.splitlines()[0]
)
def test_an_excerpt_is_a_verbatim_part_of_its_example(body: str) -> None:
    # examples/shop.py is run by the e2e suite through examples/test_shop.py, which
    # tests/test_plugin.py runs with the plugin: an excerpt that drifted from them fails here.
    match = EXCERPT.match(body)
    assert match is not None
    source = (ROOT / match.group(1)).read_text(encoding="utf-8")
    assert body[match.end() :] in source


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_every_python_block_compiles(index: int) -> None:
    ast.parse(PYTHON[index])


def test_the_commands_name_endpoints_that_load() -> None:
    targets = set(re.findall(r"restate-trio (?:dev|serve) (\S+:\w+)", README))
    assert targets, "the walkthrough runs restate-trio dev and serve"
    for target in targets:
        assert isinstance(load_endpoint(target), Endpoint), target
