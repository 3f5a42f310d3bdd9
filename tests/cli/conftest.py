"""Fixtures for the ``restate-trio`` tests (helpers in cli_helpers.py).

* ``cli``: a factory, ``cli("dev", "shop.py:endpoint", ...)``, that starts the installed
  console script with stdout and stderr on pipes (so the output is the non-terminal, plain
  one) and ``RESTATE_SERVER_BIN`` pointing at the test binary; whatever is still running after
  the test is killed, by PID.
* ``cli_env``: that environment, with a private TMPDIR to check nothing is left in it.
* ``shop``: a folder with ``shop.py``, a Greeter service and a Counter object.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cli_helpers import SCRIPT, SHOP, Cli, Launched

import restate_trio

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def cli_env(restate_server_binary: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a ``restate-trio`` process: the test server binary, and a private
    TMPDIR (to check that nothing is left in it)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(
        # The code under test, not a copy installed into the environment: the package this
        # test process imported comes first on the children's path.
        PYTHONPATH=os.pathsep.join(
            [str(Path(restate_trio.__file__).parent.parent)]
            + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
        RESTATE_SERVER_BIN=str(restate_server_binary),
        TMPDIR=str(tmp),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def cli(cli_env: dict[str, str]) -> Iterator[Cli]:
    """Start ``restate-trio ARGS...``; whatever is still running after the test is killed."""
    assert SCRIPT.is_file(), f"the restate-trio console script is not installed ({SCRIPT})"
    started: list[Launched] = []

    def launch(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Launched:
        process = subprocess.Popen(
            [str(SCRIPT), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env if env is not None else cli_env,
        )
        launched = Launched(process)
        launched.start_pumps()
        started.append(launched)
        return launched

    yield launch
    for launched in started:
        if launched.process.poll() is None:
            leftovers = launched.descendants()
            launched.process.kill()
            launched.process.wait()
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
        launched.close()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A folder with ``shop.py``: a Greeter service and a Counter object."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "shop.py").write_text(SHOP)
    return folder
