"""Developer and CI tasks. ``nox`` runs lint, typecheck and tests; see ``nox -l``.

Every session installs exactly the versions in ``uv.lock``: ``uv sync --locked`` into the
session's virtualenv (``UV_PROJECT_ENVIRONMENT``), with only the extras and dependency
groups the session needs. ``--locked`` fails when the lock no longer matches
pyproject.toml: run ``uv lock`` after changing a dependency, ``uv lock --upgrade`` to move
to newer versions. So a fresh machine and CI test what was tested when the lock was
committed.

Two sessions outside the default set check that the ranges in pyproject.toml are honest,
resolving them afresh and ignoring the lock: ``tests_latest`` (the newest allowed versions)
and ``tests_lowest`` (the lowest allowed version of every direct dependency).

Sessions use the interpreter that runs nox (no interpreter is ever downloaded). uv is
nox's own (``$UV``, ``nox[uv]``) or the one on PATH; when there is none (``pip install
nox`` alone), the uv pinned in ``.ci/tools.txt`` is installed once into ``.nox/.cache``.
Sessions that talk to a restate-server install it from npm into ``~/.cache/restate-trio``
(or ``$RESTATE_TRIO_CACHE``) once, unless ``RESTATE_SERVER_BIN`` points at one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import nox

# `download_python` (2025.10.14) and `default=False` sessions.
nox.needs_version = ">=2025.10.14"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).resolve().parent
# The exact nox and uv (with hashes) that .ci/run installs; the uv bootstrap uses it too.
TOOLS = ROOT / ".ci" / "tools.txt"


def _uv(session: nox.Session) -> str:
    """The uv executable: the one nox would use, else the pinned one (installed once)."""
    explicit = os.environ.get("UV")
    if explicit:
        return explicit
    try:
        from uv import find_uv_bin  # uv installed next to nox (`nox[uv]`)

        return os.fsdecode(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    return _bootstrap_uv(session)


def _bootstrap_uv(session: nox.Session) -> str:
    # Keyed by the pins, so a changed tools.txt gets a new environment.
    digest = hashlib.sha256(TOOLS.read_bytes()).hexdigest()[:12]
    home = session.cache_dir / f"tools-{digest}"
    scripts = home / ("Scripts" if os.name == "nt" else "bin")
    uv = scripts / ("uv.exe" if os.name == "nt" else "uv")
    if not uv.exists():
        session.log(
            f"uv not found: installing the pinned uv of {TOOLS.relative_to(ROOT)} into {home}"
        )
        # virtualenv is a dependency of nox; run apart, as it reconfigures logging in-process.
        session.run(
            sys.executable, "-m", "virtualenv", "--clear", "--quiet", str(home), external=True
        )
        python = scripts / ("python.exe" if os.name == "nt" else "python")
        # The hashes in tools.txt make pip check every file (--require-hashes is implied).
        session.run(
            str(python),
            *("-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("-r", str(TOOLS)),
            external=True,
            silent=True,
        )
    return str(uv)


def _uv_env(session: nox.Session) -> dict[str, str]:
    return {
        # uv's project commands target the session's virtualenv instead of ./.venv.
        "UV_PROJECT_ENVIRONMENT": session.virtualenv.location,
        "UV_PYTHON": _python(session),
        "UV_PYTHON_DOWNLOADS": "never",
    }


def _python(session: nox.Session) -> str:
    bindir = session.bin
    return str(Path(bindir) / ("python.exe" if os.name == "nt" else "python"))


def _sync(
    session: nox.Session,
    *,
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    project: bool = True,
) -> None:
    """Install the locked versions of the project (unless not ``project``), ``extras`` and
    ``groups`` into the session, and nothing else (``uv sync`` removes what is not asked for,
    except the pip and setuptools that the virtualenv backend seeds).

    The project is installed as a wheel (``--no-editable``), as users get it, and built
    afresh each time.
    """
    args = [_uv(session), "sync", "--locked", "--no-default-groups"]
    if project:
        # uv caches the built wheel by pyproject.toml's mtime only: rebuild it every time, so
        # that the session tests the working tree, not an older build of it.
        args += ["--no-editable", "--reinstall-package=restate-trio"]
        args += [f"--extra={extra}" for extra in extras]
        args += [f"--group={group}" for group in groups]
    else:
        args += [f"--only-group={group}" for group in groups]
    session.run_install(*args, env=_uv_env(session), external=True)


def _resolve_afresh(session: nox.Session, resolution: Literal["highest", "lowest-direct"]) -> None:
    """Install the project with the testing extra and the tests group as pyproject.toml's
    ranges resolve today with ``resolution``, ignoring uv.lock.

    ``uv pip compile pyproject.toml`` treats the project's dependencies, its extras and the
    group as the direct dependencies (so ``lowest-direct`` lowers all of them); the resolved
    pins are printed, then installed exactly, then the project itself without dependencies.
    """
    uv = _uv(session)
    env = _uv_env(session)
    pins = Path(session.create_tmp()) / f"requirements-{resolution}.txt"
    session.run_install(
        *(uv, "pip", "compile", "pyproject.toml", "--extra=testing", "--group=tests"),
        *(f"--resolution={resolution}", "--no-header", "--no-annotate"),
        *("--output-file", str(pins)),
        env=env,
        external=True,
    )
    session.run_install(uv, "pip", "sync", str(pins), env=env, external=True)
    session.run_install(
        *(uv, "pip", "install", "--no-deps", "--reinstall-package=restate-trio", "."),
        env=env,
        external=True,
    )


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
    """Run the test suite (``nox -s tests -- tests/test_harness.py -x`` to narrow it).

    Without arguments, the end-to-end tests then run once more with the endpoints served by
    hypercorn's trio worker (``Endpoint.serve(server="hypercorn")``; the default run uses the
    builtin server).
    """
    _sync(session, extras=["testing"], groups=["tests"])
    _use_restate_server(session)
    session.run("pytest", *session.posargs)
    if not session.posargs:
        session.run("pytest", "tests/e2e", env={"RESTATE_TRIO_SERVER": "hypercorn"})


@nox.session(default=False)
def tests_latest(session: nox.Session) -> None:
    """The test suite on the newest versions pyproject.toml allows (ignores uv.lock)."""
    _resolve_afresh(session, "highest")
    _use_restate_server(session)
    session.run("pytest", *session.posargs)


@nox.session(default=False)
def tests_lowest(session: nox.Session) -> None:
    """The test suite on the lowest version of every direct dependency (ignores uv.lock)."""
    _resolve_afresh(session, "lowest-direct")
    _use_restate_server(session)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and the import-linter architecture contracts."""
    _sync(session, groups=["lint"])
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict and pyright (strict) over the package."""
    _sync(session, extras=["testing"], groups=["typecheck"])
    session.run("mypy", "--strict", "restate_trio", "tests/type_tests", "examples")
    session.run("pyright")
    # Every public symbol has a known type (the package, as installed from the wheel).
    session.run("pyright", "--verifytypes", "restate_trio", "--ignoreexternal")


def _debian_tools(session: nox.Session, tools: dict[str, str]) -> dict[str, str]:
    """The path of each program of ``tools`` (program: the Debian package that brings it).
    Missing ones are installed with apt-get when this is a Debian machine and we are root
    (as on CI); otherwise the session fails, saying what to install."""
    missing = {program: package for program, package in tools.items() if not shutil.which(program)}
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        packages = sorted(set(missing.values()))
        session.log(f"not found: {', '.join(missing)}; apt-get install {' '.join(packages)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
        # A fresh machine's package lists may be missing or stale: update once, then retry.
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
    found = {program: shutil.which(program) for program in tools}
    absent = [tools[program] for program, path in found.items() if path is None]
    if absent:
        session.error(f"install the Debian packages {' '.join(absent)} (or their programs)")
    return {program: path for program, path in found.items() if path is not None}


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into docs/_build/html, then check it as readers see it.

    The build treats warnings as errors (``-W --keep-going``, nitpicky references into the
    package, and docs/_ext/checks.py: every Python block on a page included from examples/,
    run by the test its front matter names, or marked illustrative, every public name in
    the reference). Then docs/test_checks.py
    (the checks catch what they should) and docs/test_site.py (links within the site; the
    navigation, the search and the diagrams in headless Chromium). Graphviz (the diagrams)
    and Chromium come from Debian and are installed when missing.
    ``nox -s docs -- --no-browser`` skips the browser test (and Chromium).
    """
    _sync(session, extras=["testing"], groups=["docs"])
    browser = "--no-browser" not in session.posargs
    wanted = {"dot": "graphviz"} | ({"chromium": "chromium"} if browser else {})
    tools = _debian_tools(session, wanted)
    html = ROOT / "docs" / "_build" / "html"
    # -E: a fresh environment every time, so an unchanged page's warnings still count.
    session.run(
        *("sphinx-build", "-E", "-W", "--keep-going", "-n", "-q", "-b", "html"),
        *("docs", str(html)),
    )
    tests = ["docs/test_checks.py", *(["docs/test_site.py"] if browser else [])]
    session.run(
        *("pytest", *tests, "-p", "no:cacheprovider"),
        env={"DOCS_HTML": str(html), "CHROMIUM": tools.get("chromium", "")},
    )


@nox.session
def proto(session: nox.Session) -> None:
    """Regenerate the protobuf bindings (``nox -s proto -- --check`` to verify them)."""
    _sync(session, groups=["proto"], project=False)
    args = ["--check"] if "--check" in session.posargs else []
    session.run("python", "tools/gen_proto.py", *args)


@nox.session
def demo(session: nox.Session) -> None:
    """Run the end-to-end demo against a real restate-server."""
    _sync(session, extras=["testing"])
    _use_restate_server(session)
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark against the official Python SDK (``nox -s bench -- --help``)."""
    _sync(session, extras=["testing"], groups=["bench"])
    _use_restate_server(session)
    session.run("python", "bench/run.py", *session.posargs)
