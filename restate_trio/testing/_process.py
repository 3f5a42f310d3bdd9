"""Child-process supervision for the server: free ports, stopping one PID, and a finalizer
that stops a server nobody stopped (also at interpreter exit)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import weakref
from typing import TYPE_CHECKING, TypeAlias, cast

if TYPE_CHECKING:
    from pathlib import Path

LOCALHOST = "127.0.0.1"

if TYPE_CHECKING:
    # The finalizer's callback arguments; the owner it watches is any object.
    Finalizer: TypeAlias = weakref.finalize[[subprocess.Popen[bytes], Path | None, float], object]


def free_ports(count: int) -> list[int]:
    """Ask the kernel for ``count`` distinct free TCP ports on localhost."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((LOCALHOST, 0))
        return [cast("tuple[str, int]", sock.getsockname())[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def terminate(process: subprocess.Popen[bytes], grace: float, *, kill: bool = False) -> None:
    """Stop ``process`` (only that PID): SIGTERM, then SIGKILL after ``grace`` s."""
    if process.poll() is None:
        try:
            if kill:
                process.kill()
            else:
                process.send_signal(signal.SIGTERM)
        except ProcessLookupError:  # pragma: no cover - exited in between
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def _cleanup(process: subprocess.Popen[bytes], base_dir: Path | None, grace: float) -> None:
    """Finalizer: also runs at interpreter exit for servers never stopped."""
    terminate(process, grace)
    if base_dir is not None:
        shutil.rmtree(base_dir, ignore_errors=True)


def make_finalizer(
    owner: object,
    process: subprocess.Popen[bytes],
    base_dir: Path | None,
    grace: float,
) -> Finalizer:
    """Stop ``process`` and remove ``base_dir`` once ``owner`` is garbage (or at exit)."""
    return weakref.finalize(owner, _cleanup, process, base_dir, grace)
