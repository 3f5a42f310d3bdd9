"""``restate-trio server``: a local restate-server, web UI on, data kept in a folder across
runs, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import platformdirs

from ..testing import ServerStartError
from ._output import CliError
from ._servers import local_server
from ._signals import stop_on_signals

if TYPE_CHECKING:
    from pathlib import Path

    from ._output import Output

_POLL = 0.1


def default_data_dir() -> Path:
    """``~/.local/share/restate-trio/server`` on Linux (the platform's user data folder)."""
    return platformdirs.user_data_path("restate-trio") / "server"


def run_server(
    *, data_dir: Path, ingress_port: int | None, admin_port: int | None, out: Output
) -> None:
    """Serve until a stop is requested or the server exits."""
    with stop_on_signals() as stop:
        server = local_server(
            out, ingress_port=ingress_port, admin_port=admin_port, base_dir=data_dir
        )
        try:
            server.start()
        except ServerStartError:
            if stop.is_set():  # Ctrl-C reached the server too: it stopped, as asked
                return
            raise
        try:
            out.heading("Restate is running (restate-trio server)")
            out.field("ingress", server.ingress_url)
            out.field("UI", server.ui_url)
            out.field("admin", server.admin_url)
            out.field("data", str(data_dir))
            out.field("log", str(server.log_path))
            out.line()
            out.line("Ctrl-C to stop (the data stays).")
            while not stop.is_set():
                if not server.is_running:
                    raise CliError(
                        f"restate-server exited (status {server.process.returncode}); "
                        f"log tail:\n{server.log_tail(20)}"
                    )
                time.sleep(_POLL)
        finally:
            server.stop()
            out.event("stopped")
