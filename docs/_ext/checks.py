"""The site's own checks, run by every build (warnings are errors in ``nox -s docs``).

* Every Python code block on a page is either **tested** (included with ``literalinclude``
  from ``examples/``, whose files the test suite runs: ``tests/test_docs_reference.py``
  checks that each included file is imported by a test) or **marked illustrative** (the
  ``illustrative`` class: ``{.illustrative}`` on the line before a MyST fence, or
  ``:class: illustrative`` on a ``code-block``). A bare one is a warning. Both kinds are
  labelled on the page, so a reader sees which code runs in CI. A page whose code a test
  runs as it is written says so in its front matter, ``tested-by: tests/test_x.py``; that
  test must exist and name the page (its file name), and then the page's fenced
  ``python`` blocks (exactly the ones such a test extracts, not ``py`` or ``pycon``) are
  tested. In docstrings, ``>>>``
  examples are doctests the suite runs, and ``::`` blocks are illustrative by rule (the
  reference labels them so; ``tests/test_docs_reference.py`` compiles each of them, and
  ``tests/test_docstring_examples.py`` executes each complete one and reflects the services
  it defines). Every public name's entry also shows a tested region of
  ``examples/reference/``.
* Every public name (each ``__all__`` of each public module of ``restate_trio``) has an
  entry in the reference, under the module it says it is from (``__module__``).

It also resolves what nitpicky mode would otherwise reject for no fault of the docstrings:
``restate_trio.reflect`` (a re-export) links to where it is documented,
``restate_trio.service.reflect``; a type variable (``T`` in ``DurableFuture[T]``) is plain
text; a private base class (``ManifestOptions``) is left out of "Bases:". Any other reference
into ``restate_trio`` that names nothing documented stays a warning.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any, TypeVar

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.nodes import make_refnode

logger = logging.getLogger(__name__)

PYTHON = {"python", "python3", "py", "py3", "pycon", "default"}
ILLUSTRATIVE = "illustrative"
TESTED = "tested"
TESTED_BY = "tested-by"  # the front-matter key of a page whose blocks a test runs


def _examples(app: Sphinx) -> Path:
    return (Path(app.srcdir).parent / "examples").resolve()


def _run_by_a_test(app: Sphinx, doctree: nodes.document) -> bool:
    """Whether the page's front matter names a test that runs its fenced ``python`` blocks
    (the test must exist and name the page: a stale or mistyped ``tested-by`` warns)."""
    test = app.env.metadata[app.env.docname].get(TESTED_BY)
    if test is None:
        return False
    page = Path(doctree["source"])
    path = (Path(app.srcdir).parent / str(test)).resolve()
    if not path.is_file() or page.name not in path.read_text(encoding="utf-8"):
        logger.warning(
            f"{TESTED_BY}: {test} is not a test that names {page.name}",
            location=(app.env.docname, 1),
            type="restate",
            subtype="code",
        )
        return False
    return True


def check_code_blocks(app: Sphinx, doctree: nodes.document) -> None:
    examples = _examples(app)
    run_by_a_test = _run_by_a_test(app, doctree)
    blocks = [*doctree.findall(nodes.literal_block), *doctree.findall(nodes.doctest_block)]
    for node in blocks:
        language = node.get("language") or app.config.highlight_language
        if isinstance(node, nodes.literal_block) and language not in PYTHON:
            continue
        if ILLUSTRATIVE in node["classes"]:
            continue
        included = node.get("source")  # set by literalinclude: the file it read
        if included and Path(included).resolve().is_relative_to(examples):
            node["classes"].append(TESTED)
            continue
        if run_by_a_test and node.get("language") == "python" and not included:
            node["classes"].append(TESTED)
            continue
        if ":docstring of " in (node.source or ""):
            # A docstring's ``>>>`` examples are doctests that tests/codecs/test_codecs.py
            # runs (tests/test_docs_reference.py checks there are no others); its ``::``
            # blocks are illustrative, and that test compiles them.
            doctest = isinstance(node, nodes.doctest_block)
            node["classes"].append(TESTED if doctest else ILLUSTRATIVE)
            continue
        logger.warning(
            "a bare Python code block: include it from examples/ (literalinclude) or mark it "
            "illustrative ({.illustrative} before the fence, or :class: illustrative)",
            location=node,
            type="restate",
            subtype="code",
        )


def public_modules() -> list[str]:
    """``restate_trio`` and every module under it with no ``_`` part in its name."""
    import restate_trio

    found = pkgutil.walk_packages(restate_trio.__path__, "restate_trio.")
    names = [m.name for m in found if not any(p.startswith("_") for p in m.name.split("."))]
    return ["restate_trio", *sorted(names)]


def documented_name(module: str, symbol: str, obj: object) -> str:
    """Where the reference must document ``module.symbol``: classes and functions at the
    module they name (a re-export is documented once, at home); anything else in place."""
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{module}.{symbol}"


def check_reference(app: Sphinx, env: Any) -> None:
    objects = env.get_domain("py").objects
    modules = env.get_domain("py").data["modules"]
    for module_name in public_modules():
        if module_name not in modules:
            logger.warning(f"the reference has no page for module {module_name}", type="restate")
        module = importlib.import_module(module_name)
        for symbol in module.__all__:
            target = documented_name(module_name, symbol, getattr(module, symbol))
            if target not in objects:
                logger.warning(
                    f"{module_name}.{symbol} is not in the reference (expected {target})",
                    type="restate",
                    subtype="reference",
                )


def _lookup(path: str) -> object | None:
    """The object that the dotted ``path`` names, importing the longest module prefix."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(path: str) -> str | None:
    """Where ``path`` (``restate_trio.reflect``, ``restate_trio.Endpoint.serve``) is
    documented: its class or function at home, then the rest of the path."""
    parts = path.split(".")
    # The shortest prefix that is a class or a function: a method's own ``__module__`` may
    # be private where its class's is public.
    for cut in range(2, len(parts) + 1):
        obj = _lookup(".".join(parts[:cut]))
        if inspect.isclass(obj) or inspect.isfunction(obj):
            home = f"{obj.__module__}.{obj.__qualname__}"
            return ".".join([home, *parts[cut:]])
    return None


def resolve_reference(
    app: Sphinx, env: Any, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Node | None:
    if node.get("refdomain") != "py":
        return None
    target = str(node["reftarget"])
    if not target.startswith("restate_trio"):
        return None
    if isinstance(_lookup(target), TypeVar):
        return contnode
    home = _canonical(target)
    objects = env.get_domain("py").objects
    if home is None or home == target or home not in objects:
        return None
    entry = objects[home]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode)


def drop_private_bases(app: Sphinx, name: str, obj: object, options: Any, bases: list[Any]) -> None:
    """A base class that only a private module defines is an implementation detail."""
    bases[:] = [
        base
        for base in bases
        if not any(part.startswith("_") for part in getattr(base, "__module__", "").split("."))
    ]


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("doctree-read", check_code_blocks)
    app.connect("missing-reference", resolve_reference)
    app.connect("autodoc-process-bases", drop_private_bases)
    app.connect("env-check-consistency", check_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
