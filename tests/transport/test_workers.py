"""``Endpoint.run(workers=N)``: real supervisor and worker processes on one SO_REUSEPORT port.

Each test starts a script (written to a temporary file) whose handler returns its process id,
so a response says which worker served it. Synchronisation is on the processes' output (the
supervisor logs each worker as it starts serving; ``on_ready`` prints the URL), on stdout's
EOF (every process that inherited it has exited) and on exit statuses, each under a deadline.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from rawh2 import connect, input_frame, invocation_headers, start_frame

import restate_trio
import restate_trio as restate
from restate_trio._protocol import messages as m
from restate_trio._workers import MAX_RESTART_DELAY, restart_delay
from restate_trio.testing import RestateServer

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="worker processes are tested on Linux"
)

_DEADLINE = 20.0
_REPO = Path(restate_trio.__file__).resolve().parents[1]

_SCRIPT = """
import logging, os, sys
import restate_trio as restate

class Pid:
    async def pid(self, ctx: restate.Context) -> int:
        return os.getpid()

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
endpoint = restate.Endpoint()
endpoint.bind(restate.reflect(Pid()))
config = None
if sys.argv[3] == "hypercorn-config":  # the h2 server takes no config: workers fail to start
    from hypercorn.config import Config
    config = Config()
endpoint.run(
    "127.0.0.1:0",
    workers=int(sys.argv[2]),
    server=sys.argv[1],
    config=config,
    on_ready=lambda urls: print("ready", *urls, flush=True),
)
print("stopped", flush=True)
"""

_SERVING = re.compile(r"worker (\d+) \(pid (\d+)\) serving")


class Supervised:
    """The script's process, with its output read into lines as it comes."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.stdout_closed = trio.Event()
        self._changed = trio.Event()

    async def read(self, stream: trio.abc.ReceiveStream, lines: list[str]) -> None:
        pending = b""
        async for chunk in stream:
            *complete, pending = (pending + chunk).split(b"\n")
            lines.extend(line.decode() for line in complete)
            self._changed.set()
            self._changed = trio.Event()
        if lines is self.stdout:
            self.stdout_closed.set()
        self._changed.set()

    async def line(self, lines: list[str], pattern: str, start: int = 0) -> re.Match[str]:
        """The first line from index ``start`` on that matches ``pattern`` (waiting for it)."""
        with trio.fail_after(_DEADLINE):
            while True:
                for line in lines[start:]:
                    if found := re.search(pattern, line):
                        return found
                if self.stdout_closed.is_set() and self.process.returncode is not None:
                    raise AssertionError(f"no line matching {pattern!r}: {self.stderr}")
                await self._changed.wait()

    async def url(self) -> str:
        return (await self.line(self.stdout, r"^ready (\S+)"))[1]

    async def workers(self, count: int, start: int = 0) -> dict[int, int]:
        """Worker index → pid, from the supervisor's "serving" lines from ``start`` on."""
        with trio.fail_after(_DEADLINE):
            while True:
                serving = {
                    int(found[1]): int(found[2])
                    for line in self.stderr[start:]
                    if (found := _SERVING.search(line))
                }
                if len(serving) >= count:
                    return serving
                await self.line(self.stderr, _SERVING.pattern, len(self.stderr))

    async def exited(self) -> int:
        with trio.fail_after(_DEADLINE):
            await self.stdout_closed.wait()
            return await self.process.wait()


@asynccontextmanager
async def supervised(
    tmp_path: Path, server: str, workers: int = 2, variant: str = "-"
) -> AsyncIterator[Supervised]:
    script = tmp_path / "workers_app.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(_REPO)}
    process = await trio.lowlevel.open_process(
        [sys.executable, str(script), server, str(workers), variant],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    running = Supervised(process)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(running.read, process.stdout, running.stdout)
        nursery.start_soon(running.read, process.stderr, running.stderr)
        try:
            yield running
        finally:
            if process.returncode is None:
                process.kill()  # the workers follow it (that is tested below)
            with trio.move_on_after(_DEADLINE):
                await running.stdout_closed.wait()
            await process.wait()
            # Only if the code under test left orphans (and its test failed): end them too.
            for line in running.stderr:
                if (found := _SERVING.search(line)) and is_running(int(found[2])):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(found[2]), signal.SIGKILL)
            nursery.cancel_scope.cancel()


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def is_running(pid: int) -> bool:
    """True unless the process is gone or a zombie (which holds no sockets)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def process_gone(pid: int) -> None:
    """Return once process ``pid`` (not necessarily our child) has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await trio.lowlevel.wait_readable(fd)
    finally:
        os.close(fd)
    assert not is_running(pid)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def listen_on(port: int) -> None:
    """Listen on ``port`` as a server without SO_REUSEPORT would; raises if it is taken."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


async def pid_over_new_connection(url: str) -> int:
    """Invoke Pid.pid directly (no restate-server) over a fresh connection."""
    async with connect(url) as client:
        state = await client.request(
            "/invoke/Pid/pid",
            headers=invocation_headers(),
            body=start_frame() + input_frame(b""),
        )
        await client.response(state)
    assert state.status == 200, (state.status, bytes(state.body))
    output = state.frames()[0][1]
    assert isinstance(output, m.OutputCommandMessage)
    return int(json.loads(output.value.content))


async def pids_over_connections(url: str, count: int = 24) -> set[int]:
    # The kernel picks a listener per connection by a hash of its addresses: with 24
    # connections, two workers both get some but with probability 2**-23.
    with trio.fail_after(_DEADLINE):
        return {await pid_over_new_connection(url) for _ in range(count)}


async def pid_via_restate(restate_server: RestateServer) -> int:
    response = await restate_server.ingress("/Pid/pid")
    assert response.ok, response.text
    pid = response.json()
    assert isinstance(pid, int)
    return pid


async def test_workers_share_the_port_and_a_killed_one_is_replaced(
    restate_server: RestateServer, tmp_path: Path, transport: str
) -> None:
    async with supervised(tmp_path, transport) as running:
        url = await running.url()
        workers = await running.workers(2)
        assert sorted(workers) == [0, 1]
        pids = set(workers.values())
        assert all(parent_of(pid) == running.process.pid for pid in pids)

        await restate_server.register(url)
        for _ in range(4):
            assert await pid_via_restate(restate_server) in pids
        assert await pids_over_connections(url) == pids

        killed = workers[0]
        mark = len(running.stderr)
        os.kill(killed, signal.SIGKILL)
        await running.line(running.stderr, rf"\(pid {killed}\) was killed by SIGKILL", mark)
        replaced = (await running.workers(1, mark))[0]
        assert replaced not in pids
        assert parent_of(replaced) == running.process.pid
        new_pids = {replaced, workers[1]}
        assert await pids_over_connections(url) == new_pids
        # Restate replaces the connection it lost and keeps invoking.
        for _ in range(4):
            assert await pid_via_restate(restate_server) in new_pids

        running.process.send_signal(signal.SIGTERM)
        assert await running.exited() == 0
        assert "stopped" in running.stdout


async def test_a_sigkilled_supervisor_leaves_no_worker_holding_the_port(
    tmp_path: Path, transport: str
) -> None:
    async with supervised(tmp_path, transport) as running:
        url = await running.url()
        pids = set((await running.workers(2)).values())
        assert await pids_over_connections(url, 2) <= pids
        with pytest.raises(OSError) as taken:
            listen_on(port_of(url))
        assert taken.value.errno == errno.EADDRINUSE

        running.process.kill()
        # stdout reaches EOF once every process holding it (the workers too) has exited.
        assert await running.exited() == -signal.SIGKILL
        # A process closes its files (stdout, the listening socket) on its way out, a moment
        # before it is a zombie: wait for each worker's exit itself (a pidfd becomes readable
        # then), within a deadline.
        with trio.fail_after(10):
            for pid in pids:
                await process_gone(pid)
        listen_on(port_of(url))


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_stops_gracefully_with_status_0(
    tmp_path: Path, transport: str, workers: int
) -> None:
    async with supervised(tmp_path, transport, workers) as running:
        url = await running.url()
        assert await pid_over_new_connection(url) > 0
        running.process.send_signal(signal.SIGTERM)
        assert await running.exited() == 0
        assert running.stdout[-1] == "stopped"
        listen_on(port_of(url))


async def test_a_worker_that_cannot_start_stops_the_supervisor_with_an_error(
    tmp_path: Path,
) -> None:
    async with supervised(tmp_path, "builtin", 2, "hypercorn-config") as running:
        assert await running.exited() == 1
        stderr = "\n".join(running.stderr)
        assert "ValueError: config= configures hypercorn" in stderr
        assert "before it was serving" in stderr
        assert "RuntimeError" in stderr
        assert not any(line.startswith("ready") for line in running.stdout)


def test_restarts_back_off_up_to_a_cap() -> None:
    delays = [restart_delay(failures) for failures in range(1, 12)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays == sorted(delays)
    assert delays[-1] == MAX_RESTART_DELAY


async def test_run_with_workers_refuses_to_fork_under_trio() -> None:
    endpoint = restate.Endpoint()
    with pytest.raises(RuntimeError, match="unsafe under a running trio loop"):
        endpoint.run("127.0.0.1:0", workers=2)


def test_run_with_workers_needs_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "fork")
    with pytest.raises(RuntimeError, match=r"needs os\.fork"):
        restate.Endpoint().run("127.0.0.1:0", workers=2)
