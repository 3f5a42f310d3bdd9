"""The commands of ``restate-trio`` (click): arguments and options only; each command's work
is in its own module."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import click

from .._version import __version__
from ._output import Output

_PORT = click.IntRange(1, 65535)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="restate-trio")
def cli() -> None:
    """Develop, serve and call Restate services written with restate-trio."""


@cli.command(short_help="Serve an endpoint against a local Restate, reloading on changes.")
@click.argument("target")
@click.option("--ingress-port", type=_PORT, help="Ingress port [default: 8080, or the next free]")
@click.option(
    "--admin-port", type=_PORT, help="Admin API and UI port [default: 9070, or next free]"
)
@click.option(
    "--port", "endpoint_port", type=_PORT, help="Endpoint port [default: 9080, or the next free]"
)
@click.option(
    "--watch",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder to watch for changes (repeatable) [default: the target's folder]",
)
def dev(
    target: str,
    ingress_port: int | None,
    admin_port: int | None,
    endpoint_port: int | None,
    watch: tuple[Path, ...],
) -> None:
    """Run TARGET (module:endpoint or file.py:endpoint) against a local Restate, reloading on
    every change.

    Starts restate-server with its UI, serves the endpoint, registers it and prints a call
    per handler. On a change to a .py file the endpoint is served anew and re-registered;
    the server (and its state) keeps running. Ctrl-C or SIGTERM stops everything.
    """
    from ._dev import run_dev

    run_dev(
        target,
        ingress_port=ingress_port,
        admin_port=admin_port,
        endpoint_port=endpoint_port,
        watch=watch,
        out=Output(),
    )


@cli.command(short_help="Serve an endpoint in production (workers, graceful SIGTERM).")
@click.argument("target")
@click.option("--bind", default="0.0.0.0:9080", show_default=True, help="HOST:PORT to listen on")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes sharing the port",
)
@click.option(
    "--server",
    "http_server",
    type=click.Choice(["builtin", "hypercorn"]),
    default="builtin",
    show_default=True,
    help="HTTP server",
)
@click.option("--dev-parent", type=int, hidden=True)
def serve(target: str, bind: str, workers: int, http_server: str, dev_parent: int | None) -> None:
    """Serve TARGET (module:endpoint or file.py:endpoint) in production.

    HTTP/2 cleartext and HTTP/1.1 on one port; SIGTERM drains (invocations waiting on Restate
    suspend, the others get 5 s) and exits.
    """
    from ._serve import run_serve

    run_serve(
        target,
        bind=bind,
        workers=workers,
        server=cast("Literal['builtin', 'hypercorn']", http_server),
        out=Output(),
        dev_parent=dev_parent,
    )


@cli.command(short_help="Run a local restate-server with a persistent data folder.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the server keeps its data [default: the user data folder]",
)
@click.option("--ingress-port", type=_PORT, help="Ingress port [default: 8080, or the next free]")
@click.option(
    "--admin-port", type=_PORT, help="Admin API and UI port [default: 9070, or next free]"
)
def server(data_dir: Path | None, ingress_port: int | None, admin_port: int | None) -> None:
    """Run a local restate-server (UI enabled, data kept) until Ctrl-C or SIGTERM."""
    from ._local import default_data_dir, run_server

    run_server(
        data_dir=data_dir or default_data_dir(),
        ingress_port=ingress_port,
        admin_port=admin_port,
        out=Output(),
    )


@cli.command(short_help="Register a deployment with Restate.")
@click.argument("uri")
@click.option("--admin", default="http://127.0.0.1:9070", show_default=True, help="Admin API URL")
@click.option("--force", is_flag=True, help="Overwrite an existing deployment at URI")
@click.option("--http1.1", "http1", is_flag=True, help="Reach the deployment over HTTP/1.1")
def register(uri: str, admin: str, force: bool, http1: bool) -> None:
    """Register the deployment at URI (e.g. http://127.0.0.1:9080) with Restate."""
    from ._remote import run_register

    run_register(uri, admin=admin, force=force, http1=http1, out=Output())


@cli.command(short_help="Call a handler through the ingress and print the answer.")
@click.argument("path")
@click.argument("body", required=False)
@click.option("--ingress", default="http://127.0.0.1:8080", show_default=True, help="Ingress URL")
def call(path: str, body: str | None, ingress: str) -> None:
    """Call PATH (Service/handler or Service/key/handler) with the JSON BODY; print the answer."""
    from ._remote import run_call

    run_call(path, body, ingress=ingress, out=Output())


def main() -> None:
    """The ``restate-trio`` console script."""
    cli(prog_name="restate-trio")
