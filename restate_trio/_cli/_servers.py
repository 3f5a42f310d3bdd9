"""The local restate-server behind ``dev`` and ``server``: its binary (installed from npm on
first use, with progress), its ports (Restate's defaults when free) and its settings."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from ..testing import (
    RESTATE_SERVER_VERSION,
    RestateServer,
    RestateServerNotFoundError,
    default_cache_dir,
    find_restate_server,
    install_restate_server,
)
from ._output import CliError

if TYPE_CHECKING:
    from pathlib import Path

    from ._output import Output

LOCALHOST = "127.0.0.1"
# Restate's own defaults, so the URLs in its docs and UI work as they are.
DEFAULT_INGRESS_PORT = 8080
DEFAULT_ADMIN_PORT = 9070
DEFAULT_NODE_PORT = 5122
DEFAULT_ENDPOINT_PORT = 9080
# How far past a default port to look for a free one before asking the kernel for any.
_PORT_SEARCH = 50
# A fixed node name: the server stores it in its data folder and refuses another one later.
NODE_NAME = "restate-trio"


def ensure_binary(out: Output) -> Path:
    """The restate-server binary; on first use it is installed from npm, showing npm's
    progress. ``$RESTATE_SERVER_BIN`` wins when set."""
    try:
        return find_restate_server()
    except RestateServerNotFoundError as exc:
        if os.environ.get("RESTATE_SERVER_BIN"):
            raise CliError(str(exc)) from None
    out.event(
        f"restate-server {RESTATE_SERVER_VERSION} is not installed yet: installing it from npm "
        f"into {default_cache_dir()} (once; set RESTATE_SERVER_BIN to use another binary)"
    )
    try:
        binary = install_restate_server(progress=True)
    except RestateServerNotFoundError as exc:
        raise CliError(str(exc)) from None
    out.event(f"installed {binary}")
    return binary


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves bind: a port left in TIME_WAIT by the previous run is
        # free; one another process listens on (on any address) is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, *, taken: set[int]) -> int:
    """``preferred`` if it is free, else the next free port after it (or any free one)."""
    for port in range(preferred, min(preferred + _PORT_SEARCH, 65536)):
        if port not in taken and _is_free(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        free: int = sock.getsockname()[1]
        return free


def choose_port(name: str, explicit: int | None, default: int, taken: set[int], out: Output) -> int:
    """An explicit port as given (the server fails if it is busy); else the default, or the
    next free one, saying so."""
    if explicit is not None:
        port = explicit
    else:
        port = pick_port(default, taken=taken)
        if port != default:
            out.event(f"port {default} ({name}) is in use: using {port}")
    taken.add(port)
    return port


def local_server(
    out: Output,
    *,
    ingress_port: int | None,
    admin_port: int | None,
    node_port: int | None = None,
    base_dir: Path | None = None,
) -> RestateServer:
    """A not yet started single-node server with the web UI, on Restate's default ports when
    they are free. ``base_dir`` keeps its data across runs; without it the data lives in a
    temporary folder removed on stop."""
    binary = ensure_binary(out)
    taken: set[int] = set()
    ingress = choose_port("ingress", ingress_port, DEFAULT_INGRESS_PORT, taken, out)
    admin = choose_port("admin", admin_port, DEFAULT_ADMIN_PORT, taken, out)
    node = choose_port("node", node_port, DEFAULT_NODE_PORT, taken, out)
    return RestateServer(
        binary=binary,
        ingress_port=ingress,
        admin_port=admin,
        node_port=node,
        web_ui=True,
        base_dir=base_dir,
        node_name=NODE_NAME,
        # Local development: the server's default partition count costs start-up time only.
        num_partitions=4,
        startup_timeout=60.0,
    )
