"""Helpers for the ``restate-trio`` tests: the processes it starts, and what they leave.

* ``Launched.wait_for(text)`` waits for an output line, with a deadline.
* ``Launched.descendants()`` lists the process tree (from /proc) and
  ``wait_gone(pidfds(pids))`` waits, on pidfds, until each of them has exited.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

SCRIPT = Path(sys.executable).parent / "restate-trio"
DEADLINE = 30.0

# docs/cli.md's endpoint (a Greeter, a Counter object, a CBOR Pricing service), as the tests
# write it into a folder of their own as shop.py.
SHOP_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dev_shop.py"
SHOP = SHOP_EXAMPLE.read_text(encoding="utf-8")


@dataclass
class Launched:
    """A started ``restate-trio`` process and the lines it printed so far."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _pumps: list[threading.Thread] = field(default_factory=list)

    def _pump(self, stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            into.append("")  # EOF marker for waiters
            self._changed.notify_all()

    def start_pumps(self) -> None:
        for stream, into in ((self.process.stdout, self.lines), (self.process.stderr, self.errors)):
            pump = threading.Thread(target=self._pump, args=(stream, into), daemon=True)
            pump.start()
            self._pumps.append(pump)

    def close(self) -> None:
        """Once the process has exited: read its output to the end and close the pipes."""
        for pump in self._pumps:
            pump.join(DEADLINE)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def error_output(self) -> str:
        return "\n".join(self.errors)

    def wait_for(self, text: str, timeout: float = DEADLINE) -> str:
        """The first line (stdout or stderr) containing ``text``; fails if the process exits
        first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in (*self.lines, *self.errors):
                    if text in line:
                        return line
                if self.process.poll() is not None and self.lines[-1:] == [""]:
                    pytest.fail(
                        f"exited ({self.process.returncode}) before printing {text!r}:\n"
                        f"{self.output}\n{self.error_output}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(
                        f"no {text!r} within {timeout} s:\n{self.output}\n{self.error_output}"
                    )
                self._changed.wait(remaining)

    def descendants(self) -> list[int]:
        """PIDs of every process under this one (children, grandchildren, ...)."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found: list[int] = []
        frontier = [self.process.pid]
        while frontier:
            pid = frontier.pop()
            children = [child for child, parent in parents.items() if parent == pid]
            found.extend(children)
            frontier.extend(children)
        return found

    def stop(self, signum: int, timeout: float = DEADLINE) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


def pidfds(pids: list[int]) -> dict[int, int]:
    """pidfds for ``pids``, opened now so that a reused PID cannot fool ``wait_gone``."""
    fds: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # already gone
            fds[pid] = os.pidfd_open(pid)
    return fds


def wait_gone(fds: dict[int, int], timeout: float = DEADLINE) -> list[int]:
    """Wait until every process has exited (its pidfd is readable); the PIDs still alive."""
    poller = select.poll()
    for fd in fds.values():
        poller.register(fd, select.POLLIN)
    alive = dict(fds)
    deadline = time.monotonic() + timeout
    try:
        while alive:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for fd, _ in poller.poll(remaining * 1000):
                poller.unregister(fd)
                alive = {pid: f for pid, f in alive.items() if f != fd}
        return sorted(alive)
    finally:
        for fd in fds.values():
            os.close(fd)


class Cli(Protocol):
    def __call__(
        self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> Launched: ...


def run_cli(
    *args: str, env: dict[str, str], timeout: float = DEADLINE
) -> subprocess.CompletedProcess[str]:
    """Run a short ``restate-trio`` command to completion."""
    return subprocess.run(
        [str(SCRIPT), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def no_leftovers_in(folder: Path) -> list[str]:
    """What is left in ``folder`` (nothing, hopefully)."""
    return sorted(p.name for p in folder.iterdir())
