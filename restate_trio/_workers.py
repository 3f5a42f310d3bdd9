"""Several worker processes on one port: a supervisor without trio, and its workers.

``Endpoint.run(address, workers=N)`` lands here for N > 1. The shape follows from two facts:

* Forking a process in which trio runs is unsafe (its I/O manager, wakeup fd and threads
  are not fork-aware), so the processes are made before any trio loop exists. The
  supervisor never runs trio; each worker calls ``trio.run`` after the fork. ``fork`` keeps
  the user's endpoint object as it is, without re-importing their module, which is why there
  is no ``spawn`` fallback: on a platform without ``os.fork`` this mode raises.
* The kernel spreads connections over sockets bound to one port with ``SO_REUSEPORT``, so
  every worker binds and listens on its own socket; there is no shared accept queue to
  hand around. The supervisor first binds (without listening: it receives no connections)
  to check the port and, for port 0, to pick the concrete port the workers then share; the
  reservation also keeps the port ours while a worker restarts.

No orphans: a worker stops when its supervisor dies, however it dies. On Linux the kernel
sends it SIGTERM (``PR_SET_PDEATHSIG``); everywhere, it watches a pipe whose only write end
the supervisor holds and treats EOF as a shutdown request. Both shutdowns are graceful (the
worker drains as ``Endpoint.serve`` does), and graceful shutdown closes the listening
socket first.

This module knows no HTTP: a worker serves through the ``serve`` callable it is given, on a
listening socket passed as an ``fd://N`` address (which both servers accept).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Protocol

import trio

__all__ = ["ServeOn", "restart_delay", "supervise"]

logger = logging.getLogger("restate_trio.workers")

# A worker that lived this long after it started serving counts as healthy: its next crash
# restarts it without delay growth from earlier crashes.
STABLE_AFTER = 10.0
FIRST_RESTART_DELAY = 0.1
MAX_RESTART_DELAY = 10.0
# After SIGTERM, what a worker gets to drain (the servers' graceful timeout is 5 s) before
# the supervisor kills it.
STOP_TIMEOUT = 10.0
BACKLOG = 1024
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_SUPERVISOR_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT)


class ServeOn(Protocol):
    """How a worker serves: ``Endpoint.serve`` on a listening socket (``fd://N``)."""

    def __call__(
        self,
        address: str,
        *,
        shutdown_trigger: Callable[[], Awaitable[None]],
        task_status: trio.TaskStatus[list[str]],
    ) -> Awaitable[None]: ...


def restart_delay(failures: int) -> float:
    """Seconds to wait before restarting a worker after its ``failures``-th consecutive
    crash: doubling from 0.1 s up to 10 s, so a crash loop does not spin."""
    return min(FIRST_RESTART_DELAY * 2.0 ** max(failures - 1, 0), MAX_RESTART_DELAY)


@dataclass
class _Slot:
    """One of the N worker places; its process changes when it is restarted."""

    index: int
    pid: int | None = None
    serving_since: float | None = None
    failures: int = 0
    restart_at: float | None = None


def _split(address: str) -> tuple[str | None, int]:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    host = host.strip("[]")
    return (host or None), int(port)


def _url(sockaddr: tuple[str, int] | tuple[str, int, int, int], family: int) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"http://[{host}]:{port}" if family == socket.AF_INET6 else f"http://{host}:{port}"


def _reuseport_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # As trio.open_tcp_listeners: "::" and "0.0.0.0" are separate sockets.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def _reserve(address: str) -> list[socket.socket]:
    """Bound, not listening, ``SO_REUSEPORT`` sockets for every address ``address``
    resolves to, all on one port (the first one's, for port 0)."""
    host, port = _split(address)
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    reserved: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, _, _, _, sockaddr in infos:
            if (family, sockaddr[0]) in seen:
                continue
            seen.add((family, sockaddr[0]))
            sock = _reuseport_socket(family)
            reserved.append(sock)
            sock.bind((sockaddr[0], port, *sockaddr[2:]))
            port = sock.getsockname()[1]
    except BaseException:
        for sock in reserved:
            sock.close()
        raise
    return reserved


def _listen_like(reserved: Sequence[socket.socket]) -> list[socket.socket]:
    """A worker's own listening sockets, on the reserved addresses."""
    listening: list[socket.socket] = []
    try:
        for template in reserved:
            sock = _reuseport_socket(template.family)
            listening.append(sock)
            sock.bind(template.getsockname())
            sock.listen(BACKLOG)
    except BaseException:
        for sock in listening:
            sock.close()
        raise
    return listening


def _die_with_parent() -> None:
    """Linux: have the kernel send us SIGTERM when the supervisor dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


async def _serve_fd(
    serve: ServeOn,
    fd: int,
    stop: trio.Event,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await serve(f"fd://{fd}", shutdown_trigger=stop.wait, task_status=task_status)


async def _worker_main(
    serve: ServeOn, listening: list[socket.socket], lifeline: int, report: int
) -> None:
    stop = trio.Event()

    async def supervisor_gone() -> None:
        # The supervisor never writes: readable means EOF, i.e. it exited.
        await trio.lowlevel.wait_readable(lifeline)
        stop.set()

    async def terminated() -> None:
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                stop.set()
                return

    async with trio.open_nursery() as watchers:
        watchers.start_soon(supervisor_gone)
        watchers.start_soon(terminated)
        async with trio.open_nursery() as servers:
            for sock in listening:
                # detach(): from here on the server's socket object owns the descriptor.
                await servers.start(_serve_fd, serve, sock.detach(), stop)
            os.write(report, f"{os.getpid()}\n".encode())
        watchers.cancel_scope.cancel()


def _run_worker(
    serve: ServeOn,
    reserved: Sequence[socket.socket],
    lifeline: int,
    report: int,
    supervisor: int,
    supervisor_only: Sequence[int],
) -> None:
    """The body of a forked worker; never returns (the user's code after ``run()`` must
    run in the supervisor only)."""
    status = 1
    try:
        signal.set_wakeup_fd(-1)  # the supervisor's; trio installs its own
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # Ctrl-C reaches the whole process group; the supervisor turns it into a SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Blocked by the supervisor around fork(): a SIGTERM sent meanwhile arrives now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SUPERVISOR_SIGNALS)
        _die_with_parent()
        for fd in supervisor_only:
            os.close(fd)
        if os.getppid() != supervisor or _is_readable(lifeline):
            os._exit(0)  # the supervisor died before PDEATHSIG was armed
        listening = _listen_like(reserved)
        for sock in reserved:
            sock.close()
        trio.run(_worker_main, serve, listening, lifeline, report)
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        logging.shutdown()
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)


def _is_readable(fd: int) -> bool:
    poller = selectors.DefaultSelector()
    try:
        poller.register(fd, selectors.EVENT_READ)
        return bool(poller.select(0))
    finally:
        poller.close()


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def supervise(
    address: str,
    workers: int,
    serve: ServeOn,
    *,
    on_ready: Callable[[list[str]], object] | None = None,
) -> None:
    """Run ``workers`` processes serving ``address`` until SIGTERM or SIGINT; restart the
    ones that die. Returns once all stopped cleanly; raises RuntimeError if a worker failed
    to start or to stop."""
    if not hasattr(os, "fork"):
        raise RuntimeError(
            "workers > 1 needs os.fork (Linux, macOS); on this platform start one process "
            "per port, or use hypercorn's --workers"
        )
    if not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("workers > 1 needs SO_REUSEPORT, which this platform lacks")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("run(workers=...) must be called from the main thread")
    if trio.lowlevel.in_trio_run():
        raise RuntimeError(
            "run(workers=...) forks, which is unsafe under a running trio loop: call it "
            "instead of trio.run (inside trio, use await endpoint.serve())"
        )
    if workers < 1:
        raise ValueError("workers must be at least 1")
    reserved = _reserve(address)
    try:
        _Supervisor(reserved, workers, serve, on_ready).run()
    finally:
        for sock in reserved:
            sock.close()


class _Supervisor:
    """The supervisor's loop: one ``select`` over the signal wakeup fd and the workers'
    "serving" reports, with restart and kill deadlines as its timeout."""

    def __init__(
        self,
        reserved: list[socket.socket],
        workers: int,
        serve: ServeOn,
        on_ready: Callable[[list[str]], object] | None,
    ) -> None:
        self._reserved = reserved
        self._urls = [_url(sock.getsockname(), sock.family) for sock in reserved]
        self._serve = serve
        self._on_ready = on_ready
        self._slots = [_Slot(index) for index in range(workers)]
        self._stopping = False
        self._stop_deadline: float | None = None
        self._ready_reported = False
        self._failure: str | None = None
        self._unclean: list[str] = []
        self._reports = b""

    def _live(self) -> list[_Slot]:
        return [slot for slot in self._slots if slot.pid is not None]

    def run(self) -> None:
        lifeline_r, self._lifeline_w = os.pipe()
        self._lifeline_r = lifeline_r
        self._report_r, self._report_w = os.pipe()
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
        previous_wakeup: int | None = None
        try:
            for signum in _SUPERVISOR_SIGNALS:
                previous[signum] = signal.signal(signum, _wake_only)
            previous_wakeup = signal.set_wakeup_fd(
                self._wakeup_w.fileno(), warn_on_full_buffer=False
            )
            self._selector.register(self._wakeup_r, selectors.EVENT_READ)
            self._selector.register(self._report_r, selectors.EVENT_READ)
            for slot in self._slots:
                self._spawn(slot)
            self._loop()
        finally:
            # Whatever went wrong in here, no worker outlives the supervisor's run().
            for slot in self._live():
                assert slot.pid is not None
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signal.SIGKILL)
                os.waitpid(slot.pid, 0)
            for number, handler in previous.items():
                signal.signal(number, handler)
            if previous_wakeup is not None:
                signal.set_wakeup_fd(previous_wakeup)
            self._selector.close()
            for fd in (self._lifeline_r, self._lifeline_w, self._report_r, self._report_w):
                os.close(fd)
            self._wakeup_r.close()
            self._wakeup_w.close()
        if self._failure is not None:
            raise RuntimeError(self._failure)
        if self._unclean:
            raise RuntimeError("; ".join(self._unclean) + " while stopping")

    def _spawn(self, slot: _Slot) -> None:
        supervisor_only = [
            self._lifeline_w,
            self._report_r,
            self._wakeup_r.fileno(),
            self._wakeup_w.fileno(),
        ]
        # Buffered output would otherwise be written once more by every worker.
        sys.stdout.flush()
        sys.stderr.flush()
        supervisor = os.getpid()
        # Until the worker has reset its handlers, a signal must not run ours in it.
        signal.pthread_sigmask(signal.SIG_BLOCK, _SUPERVISOR_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                _run_worker(
                    self._serve,
                    self._reserved,
                    self._lifeline_r,
                    self._report_w,
                    supervisor,
                    supervisor_only,
                )
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SUPERVISOR_SIGNALS)
        slot.pid, slot.serving_since, slot.restart_at = pid, None, None

    def _stop(self, *, kill: bool = False) -> None:
        if not self._stopping:
            self._stopping = True
            self._stop_deadline = time.monotonic() + STOP_TIMEOUT
        for slot in self._live():
            assert slot.pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGKILL if kill else signal.SIGTERM)

    def _timeout(self) -> float | None:
        if self._stopping:
            deadlines = [] if self._stop_deadline is None else [self._stop_deadline]
        else:
            deadlines = [slot.restart_at for slot in self._slots if slot.restart_at is not None]
        return max(min(deadlines) - time.monotonic(), 0.0) if deadlines else None

    def _loop(self) -> None:
        while not self._stopping or self._live():
            for key, _ in self._selector.select(self._timeout()):
                if key.fileobj is self._wakeup_r:
                    with contextlib.suppress(BlockingIOError):
                        for signum in self._wakeup_r.recv(64):
                            if signum in (signal.SIGTERM, signal.SIGINT):
                                # A second request while draining: stop at once.
                                self._stop(kill=self._stopping)
                else:
                    self._read_reports()
            self._reap()
            now = time.monotonic()
            if self._stopping:
                if self._stop_deadline is not None and now >= self._stop_deadline:
                    logger.error("workers still running %.0f s after SIGTERM", STOP_TIMEOUT)
                    self._stop(kill=True)
                    self._stop_deadline = None
                continue
            for slot in self._slots:
                if slot.restart_at is not None and slot.restart_at <= now:
                    self._spawn(slot)
            if not self._ready_reported and all(s.serving_since for s in self._slots):
                self._ready_reported = True
                logger.info(
                    "serving on %s with %d workers", ", ".join(self._urls), len(self._slots)
                )
                if self._on_ready is not None:
                    self._on_ready(list(self._urls))

    def _read_reports(self) -> None:
        self._reports += os.read(self._report_r, 4096)
        *lines, self._reports = self._reports.split(b"\n")
        for line in lines:
            for slot in self._slots:
                if slot.pid == int(line):
                    slot.serving_since = time.monotonic()
                    logger.info("worker %d (pid %d) serving", slot.index, slot.pid)

    def _reap(self) -> None:
        for slot in self._live():
            assert slot.pid is not None
            pid, status = os.waitpid(slot.pid, os.WNOHANG)
            if pid == 0:
                continue
            slot.pid = None
            what = f"worker {slot.index} (pid {pid}) {_describe(status)}"
            if self._stopping:
                # Killed by our SIGTERM before its loop took the signal over: also clean.
                if status != 0 and not (
                    os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
                ):
                    self._unclean.append(what)
            elif slot.serving_since is None and not self._ready_reported:
                # A worker that cannot start (bad configuration, import error) would fail
                # the same way on every restart.
                self._failure = f"{what} before it was serving"
                logger.error("%s; stopping", self._failure)
                self._stop()
            else:
                now = time.monotonic()
                stable = slot.serving_since is not None and (
                    now - slot.serving_since >= STABLE_AFTER
                )
                slot.failures = 1 if stable else slot.failures + 1
                delay = restart_delay(slot.failures)
                slot.restart_at = now + delay
                logger.warning("%s; restarting it in %.1f s", what, delay)


def _wake_only(signum: int, frame: FrameType | None) -> None:
    """The signal handler: the wakeup fd carries the signal number to the loop."""
