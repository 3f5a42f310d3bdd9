"""Finding the ``restate-server`` binary, and installing it from npm into a cache folder."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ._errors import RestateServerNotFoundError

RESTATE_SERVER_VERSION = "1.7.12"
"""The restate-server release this SDK is tested against."""

_NPM_PACKAGE = "@restatedev/restate-server"
_BINARY_NAME = "restate-server"


def default_cache_dir() -> Path:
    """Return the folder where restate-server releases are installed.

    ``$RESTATE_TRIO_CACHE`` if set, else ``$XDG_CACHE_HOME/restate-trio``, else
    ``~/.cache/restate-trio``.
    """
    explicit = os.environ.get("RESTATE_TRIO_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "restate-trio"


def _npm_platform() -> str | None:
    """Name npm uses for this platform (``linux-x64``, ``darwin-arm64``, ...)."""
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if system is None or arch is None:
        return None
    return f"{system}-{arch}"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _binary_in(install_dir: Path) -> Path | None:
    """Locate the server binary inside an ``npm install --prefix`` folder."""
    scope = install_dir / "node_modules" / "@restatedev"
    candidates: list[Path] = []
    npm_platform = _npm_platform()
    if npm_platform is not None:
        candidates.append(scope / f"restate-server-{npm_platform}" / "bin" / _BINARY_NAME)
    if scope.is_dir():
        candidates.extend(sorted(scope.glob(f"restate-server-*/bin/{_BINARY_NAME}")))
    # The npm "bin" is a node wrapper that forwards signals to the native binary.
    candidates.append(install_dir / "node_modules" / ".bin" / _BINARY_NAME)
    for candidate in candidates:
        if _is_executable(candidate):
            return candidate
    return None


def _install_dir(version: str, cache_dir: Path | None) -> Path:
    return (cache_dir if cache_dir is not None else default_cache_dir()) / (
        f"restate-server-{version}"
    )


def find_restate_server(
    version: str = RESTATE_SERVER_VERSION, *, cache_dir: Path | None = None
) -> Path:
    """Return the path of the ``restate-server`` binary to use.

    ``$RESTATE_SERVER_BIN`` wins if set (it must point at an executable file).
    Otherwise the binary installed by :func:`install_restate_server` in the
    cache folder (see :func:`default_cache_dir`) is used.

    Raises:
        RestateServerNotFoundError: nothing suitable was found.
    """
    explicit = os.environ.get("RESTATE_SERVER_BIN")
    if explicit:
        path = Path(explicit).expanduser()
        if not _is_executable(path):
            raise RestateServerNotFoundError(
                f"RESTATE_SERVER_BIN={explicit!r} is not an executable file"
            )
        return path
    install_dir = _install_dir(version, cache_dir)
    found = _binary_in(install_dir)
    if found is None:
        raise RestateServerNotFoundError(
            f"restate-server {version} is not installed in {install_dir}; run "
            "`python -m restate_trio.testing install` or set RESTATE_SERVER_BIN"
        )
    return found


def _npm_output_flags(progress: bool) -> tuple[str, ...]:
    if not progress:
        return ("--loglevel=error",)
    if sys.stderr.isatty():
        # npm draws its progress bar only on a terminal.
        return ("--loglevel=notice", "--progress")
    # In a log, one "http fetch" line per downloaded tarball says it is working.
    return ("--loglevel=http",)


def install_restate_server(
    version: str = RESTATE_SERVER_VERSION,
    *,
    cache_dir: Path | None = None,
    timeout: float = 600.0,
    progress: bool = False,
) -> Path:
    """Install ``restate-server`` from npm into the cache folder (if missing).

    The package is installed into a temporary folder next to the final one
    and then renamed into place, so concurrent installs are safe. Returns the
    path of the binary. ``$RESTATE_SERVER_BIN`` is ignored here.

    With ``progress=True`` npm's own output (its progress bar when stderr is a
    terminal) goes to this process's stderr instead of being captured.

    Raises:
        RestateServerNotFoundError: ``npm`` is not available, or the install
            failed or did not produce a binary for this platform.
    """
    install_dir = _install_dir(version, cache_dir)
    found = _binary_in(install_dir)
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise RestateServerNotFoundError(
            f"npm is required to install restate-server {version} (it ships as the npm "
            f"package {_NPM_PACKAGE}) and was not found on PATH. Install Node.js, which "
            "comes with npm (e.g. `apt install npm`, `brew install node`), or set "
            "RESTATE_SERVER_BIN to the path of a restate-server binary"
        )
    install_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{install_dir.name}.", dir=install_dir.parent))
    staging.chmod(0o755)
    try:
        command = [
            npm,
            "install",
            "--prefix",
            str(staging),
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            *_npm_output_flags(progress),
            f"{_NPM_PACKAGE}@{version}",
        ]
        try:
            result = subprocess.run(
                command,
                stdout=sys.stderr if progress else subprocess.PIPE,
                stderr=None if progress else subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RestateServerNotFoundError(
                f"`npm install {_NPM_PACKAGE}@{version}` did not finish within {timeout} s"
            ) from exc
        if result.returncode != 0:
            raise RestateServerNotFoundError(
                f"`npm install {_NPM_PACKAGE}@{version}` failed "
                f"(exit {result.returncode})" + (f":\n{result.stdout}" if result.stdout else "")
            )
        if _binary_in(staging) is None:
            raise RestateServerNotFoundError(
                f"{_NPM_PACKAGE}@{version} installed no binary for this platform "
                f"({sys.platform}/{platform.machine()})"
            )
        try:
            staging.rename(install_dir)
        except OSError:
            # Someone else finished first; use their copy if it is complete.
            if _binary_in(install_dir) is None:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    found = _binary_in(install_dir)
    if found is None:  # pragma: no cover - the rename above guarantees it
        raise RestateServerNotFoundError(f"no restate-server binary in {install_dir}")
    return found
