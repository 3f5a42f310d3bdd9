"""Developer and CI tasks. ``nox`` runs lint, typecheck and tests; see ``nox -l``.

Sessions use the interpreter that runs nox (no interpreter is ever downloaded)
and uv when it is installed, virtualenv otherwise. Sessions that talk to a
restate-server install it from npm into ``~/.cache/restate-trio`` (or
``$RESTATE_TRIO_CACHE``) once, unless ``RESTATE_SERVER_BIN`` points at one.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")


def _groups(*names: str) -> tuple[str, ...]:
    return nox.project.dependency_groups(PYPROJECT, *names)


def _use_restate_server(session: nox.Session) -> None:
    """Install restate-server (once, into the cache) and export RESTATE_SERVER_BIN."""
    explicit = os.environ.get("RESTATE_SERVER_BIN")
    if explicit:
        session.env["RESTATE_SERVER_BIN"] = explicit
        return
    output = session.run("python", "-m", "restate_trio.testing", "install", silent=True)
    if not isinstance(output, str) or not output.strip():
        # `nox --no-install` may skip the run; fall back to the harness's own lookup.
        return
    binary = output.strip().splitlines()[-1]
    session.log(f"restate-server: {binary}")
    session.env["RESTATE_SERVER_BIN"] = binary


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (``nox -s tests -- tests/test_harness.py -x`` to narrow it)."""
    session.install(".[testing]", *_groups("tests"))
    _use_restate_server(session)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and the import-linter architecture contracts."""
    session.install(".", *_groups("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict and pyright (strict) over the package."""
    session.install(".[testing]", *_groups("typecheck"))
    session.run("mypy", "--strict", "restate_trio", "tests/type_tests", "examples")
    session.run("pyright")
    # Every public symbol has a known type (the package, as installed from the wheel).
    session.run("pyright", "--verifytypes", "restate_trio", "--ignoreexternal")


@nox.session
def proto(session: nox.Session) -> None:
    """Regenerate the protobuf bindings (``nox -s proto -- --check`` to verify them)."""
    session.install(*_groups("proto"))
    args = ["--check"] if "--check" in session.posargs else []
    session.run("python", "tools/gen_proto.py", *args)


@nox.session
def demo(session: nox.Session) -> None:
    """Run the end-to-end demo against a real restate-server."""
    session.install(".[testing]")
    _use_restate_server(session)
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark against the official Python SDK (``nox -s bench -- --help``)."""
    session.install(".[testing]", *_groups("bench"))
    _use_restate_server(session)
    session.run("python", "bench/run.py", *session.posargs)
