"""The command line, ``python -m restate_trio.testing {install,path,run}``.

``noxfile.py`` runs ``install`` and reads the binary's path from the last line of its output.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import suppress
from typing import TYPE_CHECKING, cast

from ._errors import HarnessError
from ._install import RESTATE_SERVER_VERSION, find_restate_server, install_restate_server
from ._server import RestateServer

if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m restate_trio.testing {install,path,run}``.

    * ``install`` installs restate-server into the cache and prints its path;
    * ``path`` prints the binary that would be used (exit 1 if none);
    * ``run`` starts a server like the tests do and waits for Ctrl-C.
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
    run = commands.add_parser("run", help="start a throwaway server until Ctrl-C")
    run.add_argument("--protocol-v7", action="store_true", help="enable service protocol V7")
    args = parser.parse_args(argv)

    try:
        if args.command == "install":
            print(install_restate_server(cast("str", args.version)))
        elif args.command == "path":
            print(find_restate_server(cast("str", args.version)))
        else:
            with RestateServer(enable_protocol_v7=cast("bool", args.protocol_v7)) as server:
                print(f"ingress: {server.ingress_url}")
                print(f"admin:   {server.admin_url}")
                print(f"log:     {server.log_path}", flush=True)
                with suppress(KeyboardInterrupt):
                    server.process.wait()
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
