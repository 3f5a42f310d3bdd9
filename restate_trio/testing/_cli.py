"""The command line, ``python -m restate_trio.testing {install,path,run}``.

``noxfile.py`` runs ``install`` and reads the binary's path from the last line of its output.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import TYPE_CHECKING, cast

from ._errors import HarnessError
from ._install import RESTATE_SERVER_VERSION, find_restate_server, install_restate_server
from ._server import RestateServer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m restate_trio.testing {install,path,run}``.

    * ``install`` installs restate-server into the cache and prints its path;
    * ``path`` prints the binary that would be used (exit 1 if none);
    * ``run`` starts a server like the tests do (``--ingress-port``/``--admin-port`` fix
      its ports, ``--ui`` serves the web UI) until Ctrl-C or SIGTERM, then stops it and
      removes its temporary folder.
    """
    parser = argparse.ArgumentParser(
        prog="python -m restate_trio.testing",
        description="Manage the restate-server used by restate-trio's test harness.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="install restate-server from npm (if missing)")
    install.add_argument("--version", default=RESTATE_SERVER_VERSION)
    path = commands.add_parser("path", help="print the restate-server binary in use")
    path.add_argument("--version", default=RESTATE_SERVER_VERSION)
    run = commands.add_parser("run", help="start a throwaway server until Ctrl-C or SIGTERM")
    run.add_argument("--protocol-v7", action="store_true", help="enable service protocol V7")
    run.add_argument("--ingress-port", type=int, help="ingress port (default: a free one)")
    run.add_argument("--admin-port", type=int, help="admin API port (default: a free one)")
    run.add_argument("--ui", action="store_true", help="serve the web UI on the admin port")
    args = parser.parse_args(argv)

    try:
        if args.command == "install":
            print(install_restate_server(cast("str", args.version)))
        elif args.command == "path":
            print(find_restate_server(cast("str", args.version)))
        else:
            _run(
                RestateServer(
                    enable_protocol_v7=cast("bool", args.protocol_v7),
                    ingress_port=cast("int | None", args.ingress_port),
                    admin_port=cast("int | None", args.admin_port),
                    web_ui=cast("bool", args.ui),
                ),
                ui=cast("bool", args.ui),
            )
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(server: RestateServer, *, ui: bool) -> None:
    """Run ``server`` until SIGINT or SIGTERM, then stop it and remove its folder.

    The signals only set a flag: stopping happens here, never inside a handler, so a signal
    cannot cut the cleanup short (without a handler, SIGTERM would end this process and
    leave the server running and its folder behind).
    """
    requested: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        requested.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with server:
            print(f"ingress: {server.ingress_url}")
            print(f"admin:   {server.admin_url}")
            if ui:
                print(f"UI:      {server.ui_url}")
            print(f"log:     {server.log_path}", flush=True)
            while not requested and server.is_running:
                time.sleep(0.1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
