"""``python -m restate_trio.testing run``: fixed ports, the UI on demand, and a SIGTERM that
stops the server child and removes its temporary folder (both leaked before)."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
from cli_helpers import DEADLINE, Launched, no_leftovers_in, pidfds, wait_gone

from restate_trio.testing._process import free_ports

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

import pytest


@pytest.fixture
def harness_run(cli_env: dict[str, str]) -> Iterator[tuple[Launched, int, int]]:
    ingress, admin = free_ports(2)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "restate_trio.testing",
            "run",
            "--ui",
            f"--ingress-port={ingress}",
            f"--admin-port={admin}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
    )
    launched = Launched(process)
    launched.start_pumps()
    try:
        yield launched, ingress, admin
    finally:
        if process.poll() is None:
            for pid in launched.descendants():
                subprocess.run(["kill", "-9", str(pid)], check=False)
            process.kill()
            process.wait()
        launched.close()


def test_run_has_port_flags_and_ui_and_stops_clean_on_sigterm(
    harness_run: tuple[Launched, int, int], tmp_path: Path
) -> None:
    run, ingress, admin = harness_run
    run.wait_for("log:")
    assert f"ingress: http://127.0.0.1:{ingress}" in run.output
    assert f"UI:      http://127.0.0.1:{admin}/ui/" in run.output
    assert httpx.get(f"http://127.0.0.1:{admin}/ui/", timeout=DEADLINE).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{ingress}/restate/health", timeout=DEADLINE).is_success
    children = run.descendants()
    assert len(children) == 1, children
    fds = pidfds(children)
    assert run.stop(signal.SIGTERM) == 0, run.error_output
    assert wait_gone(fds) == []
    assert no_leftovers_in(tmp_path / "tmp") == []
