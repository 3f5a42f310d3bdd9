"""The documentation site's promises that need no Sphinx to check (``nox -s docs`` builds
it and checks the rest, see docs/_ext/checks.py):

* every public name has an entry in the reference pages (docs/reference/*.rst), under the
  module it says it is from, and every public method or property has a docstring;
* every example that a docstring shows at least compiles (they are marked illustrative on
  the site; tests/test_docstring_examples.py executes the complete ones);
* every public name's entry includes a short example region of examples/reference/, which a
  test runs;
* every file of examples/ that a page includes is run by a test.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest
from test_exports import PUBLIC_MODULES

import restate_trio

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_DIRECTIVE = re.compile(r"^\.\. (auto\w+|py:\w+):: +(\S+)", re.MULTILINE)


def _public_modules() -> list[str]:
    """PUBLIC_MODULES, and any public module that list forgot."""
    found = pkgutil.walk_packages(restate_trio.__path__, "restate_trio.")
    walked = {m.name for m in found if not any(p.startswith("_") for p in m.name.split("."))}
    return sorted(set(PUBLIC_MODULES) | walked | {"restate_trio"})


def _documented() -> set[str]:
    """The full names the reference pages document (``automodule`` sets the module that
    the following directives' short names belong to)."""
    names: set[str] = set()
    for page in sorted((DOCS / "reference").glob("*.rst")):
        module = ""
        for directive, name in _DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            if directive in {"automodule", "py:module", "py:currentmodule"}:
                module = name
                names.add(name)
            elif name.startswith("restate_trio"):
                names.add(name)
            else:
                names.add(f"{module}.{name}")
    return names


def _home(module: str, symbol: str, obj: object) -> str:
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{module}.{symbol}"


def _public_objects() -> list[tuple[str, object]]:
    seen: dict[str, object] = {}
    for name in _public_modules():
        module = importlib.import_module(name)
        for symbol in module.__all__:
            obj = getattr(module, symbol)
            seen.setdefault(_home(name, symbol, obj), obj)
    return sorted(seen.items())


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_name_is_in_the_reference(name: str) -> None:
    documented = _documented()
    assert name in documented, f"no docs/reference page has `.. automodule:: {name}`"
    module = importlib.import_module(name)
    missing = [
        home
        for symbol in module.__all__
        if (home := _home(name, symbol, getattr(module, symbol))) not in documented
    ]
    assert not missing, f"not in docs/reference/*.rst: {missing}"


def test_the_reference_documents_nothing_that_is_not_public() -> None:
    public = {home for home, _ in _public_objects()} | set(_public_modules())
    extra = _documented() - public
    assert not extra, f"docs/reference documents names that are not public: {extra}"


def _members(cls: type) -> list[tuple[str, object]]:
    """The public methods and properties a class defines itself (autodoc lists them)."""
    kinds = (property, classmethod, staticmethod)
    return [
        (name, getattr(cls, name))
        for name, value in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, kinds))
    ]


def test_public_methods_and_properties_have_docstrings() -> None:
    # A member without one (inherited docstrings count) would silently be left out of the
    # reference: autodoc lists only documented members. A member of a public protocol that
    # a class implements structurally (JsonCodec.encode: PayloadCodec.encode) is documented
    # by the protocol.
    protocols = [obj for _, obj in _public_objects() if inspect.isclass(obj) and _is_protocol(obj)]

    def documented(cls: type, name: str, member: object) -> bool:
        if inspect.getdoc(member):
            return True
        return any(
            inspect.getdoc(getattr(protocol, name))
            for protocol in protocols
            if name in vars(protocol) and all(hasattr(cls, m) for m, _ in _members(protocol))
        )

    missing = [
        f"{home}.{name}"
        for home, obj in _public_objects()
        if inspect.isclass(obj)
        for name, member in _members(obj)
        if not documented(obj, name, member)
    ]
    assert not missing, f"no docstring: {missing}"


def _is_protocol(cls: type) -> bool:
    return bool(getattr(cls, "_is_protocol", False))


def test_docstring_doctests_are_all_run() -> None:
    # The site labels a docstring's ``>>>`` examples tested: tests/codecs/test_codecs.py runs
    # those of restate_trio.codecs, and there are no others.
    elsewhere = [
        where
        for where, doc in _docstrings()
        if ">>>" in doc and not where.startswith("restate_trio.codecs")
    ]
    assert not elsewhere, f"doctests that no test runs: {elsewhere}"


def _literal_blocks(doc: str) -> list[str]:
    """The ``::`` literal blocks of a docstring (indented below a line ending in ``::``)."""
    lines = inspect.cleandoc(doc).splitlines()
    blocks: list[str] = []
    for index, line in enumerate(lines):
        if not line.rstrip().endswith("::") or line.lstrip().startswith(".."):
            continue
        indent = len(line) - len(line.lstrip())
        block: list[str] = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following)
        if "".join(block).strip():
            blocks.append(textwrap.dedent("\n".join(block)).strip("\n"))
    return blocks


def _docstrings() -> list[tuple[str, str]]:
    docs: list[tuple[str, str]] = []
    for name in _public_modules():
        docs.append((name, inspect.getdoc(importlib.import_module(name)) or ""))
    for home, obj in _public_objects():
        docs.append((home, inspect.getdoc(obj) or ""))
        if inspect.isclass(obj):
            docs += [(f"{home}.{n}", inspect.getdoc(m) or "") for n, m in _members(obj)]
    return docs


def test_docstring_examples_compile() -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST
    failures: list[str] = []
    count = 0
    for where, doc in _docstrings():
        for block in _literal_blocks(doc):
            count += 1
            try:
                compile(block, f"<docstring of {where}>", "exec", flags=flags)
            except SyntaxError as error:
                failures.append(f"{where}: {error}\n{block}")
    assert count > 10  # the parser finds them
    assert not failures, "\n\n".join(failures)


_INCLUDE = re.compile(r"(?:literalinclude[}:]*\s+)(\S+)")


def test_every_included_example_is_run_by_a_test() -> None:
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py"))
    # An example's own test module that a test runs by path (through pytester) runs what it
    # imports too: examples/tutorial/test_app.py imports the tutorial's modules.
    for example_test in sorted((ROOT / "examples").rglob("test_*.py")):
        by_path = " / ".join(f'"{part}"' for part in example_test.relative_to(ROOT).parts)
        if by_path in tests:
            tests += "\n" + example_test.read_text(encoding="utf-8")
    # A parenthesised import over several lines (as ruff's isort writes it) reads as one line.
    tests = re.sub(r"import \(([^)]*)\)", lambda m: "import " + " ".join(m[1].split()), tests)
    included: set[Path] = set()
    for page in [*DOCS.rglob("*.md"), *DOCS.rglob("*.rst")]:
        if "_build" in page.parts:
            continue
        for target in _INCLUDE.findall(page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.relative_to(ROOT)} includes a missing {target}"
            assert path.is_relative_to(ROOT / "examples"), (page, target)
            included.add(path)
    assert included, "no page includes an example (the front page does)"
    for path in sorted(included):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        package, _, name = module.rpartition(".")
        # Imported, or (a test module: examples/test_services.py) read by path from a test
        # that runs it in a fresh pytest session: `... / "examples" / "test_services.py"`.
        by_path = " / ".join(f'"{part}"' for part in path.relative_to(ROOT).parts)
        imported = re.search(
            rf"\b{re.escape(module)}\b|from {re.escape(package)} import [^\n]*\b{name}\b"
            rf"|{re.escape(by_path)}",
            tests,
        )
        assert imported, f"{path.relative_to(ROOT)} is shown in the docs but no test runs it"


# Each public name's reference entry shows a short example that a test runs: a region of a
# file in examples/reference/ between the marker comments ``# [Name]`` and ``# [/Name]``,
# included inside the entry's directive (a docstring doctest that a test runs counts too:
# restate_trio.codecs has them). Regions stay short: the guides carry the long stories.
_REFERENCE_EXAMPLES = ROOT / "examples" / "reference"
_MAX_EXAMPLE_LINES = 30
_ENTRY = re.compile(r"^\.\. (?:auto\w+|py:\w+):: +(\S+)\n((?:[ \t]+.*\n|\n)*)", re.MULTILINE)
_REGION_INCLUDE = re.compile(
    r"\.\. literalinclude:: +(\S+)\n((?:[ \t]+:[\w-]+:.*\n)*)", re.MULTILINE
)


def _entries() -> dict[str, tuple[Path, str]]:
    """Each documented full name -> (its page, the directive's indented content)."""
    entries: dict[str, tuple[Path, str]] = {}
    for page in sorted((DOCS / "reference").glob("*.rst")):
        module = ""
        for name, body in _ENTRY.findall(page.read_text(encoding="utf-8")):
            if name.startswith("restate_trio") and not module:
                module = name
                continue
            full = name if name.startswith("restate_trio") else f"{module}.{name}"
            if name == module:
                continue
            entries[full] = (page, body)
    return entries


def _region(path: Path, name: str) -> list[str] | None:
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == f"# [{name}]"]
    ends = [i for i, line in enumerate(lines) if line.strip() == f"# [/{name}]"]
    if len(starts) != 1 or len(ends) != 1 or ends[0] <= starts[0] + 1:
        return None
    return lines[starts[0] + 1 : ends[0]]


def _example_problem(home: str, obj: object, entry: tuple[Path, str] | None) -> str | None:
    if ">>>" in (inspect.getdoc(obj) or "") and home.startswith("restate_trio.codecs"):
        return None  # a doctest tests/codecs/test_codecs.py runs
    if entry is None:
        return "no reference entry"
    page, body = entry
    short = home.rpartition(".")[2]
    for target, options in _REGION_INCLUDE.findall(body):
        path = (page.parent / target).resolve()
        if (
            not path.is_relative_to(_REFERENCE_EXAMPLES)
            or f":start-after: [{short}]" not in options
        ):
            continue
        if f":end-before: [/{short}]" not in options:
            return f"{target}: the include must end before [/{short}]"
        region = _region(path, short)
        if region is None:
            return f"{target} has no single region # [{short}] ... # [/{short}]"
        if len(region) > _MAX_EXAMPLE_LINES:
            return f"{target}'s region {short} has {len(region)} lines (> {_MAX_EXAMPLE_LINES})"
        return None
    return f"its entry in {page.name} includes no region [{short}] of examples/reference/"


@pytest.mark.parametrize("module", [m for m in _public_modules() if m != "restate_trio"])
def test_every_public_name_shows_a_tested_example(module: str) -> None:
    entries = _entries()
    problems = [
        f"{home}: {problem}"
        for home, obj in _public_objects()
        if home.rpartition(".")[0] == module
        and (problem := _example_problem(home, obj, entries.get(home)))
    ]
    assert not problems, "\n".join(problems)
