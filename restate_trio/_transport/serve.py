"""Serving an ASGI app with hypercorn's trio worker, tuned for Restate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve  # pyright: ignore[reportUnknownVariableType]
from hypercorn.typing import ASGIFramework

from .asgi import RestateApp

# Restate multiplexes many long-lived invocations over few HTTP/2 connections. hypercorn's
# browser-oriented defaults (GOAWAY after 1000 streams, 100 concurrent streams, 5 s keep-alive)
# make the runtime retry in-flight invocations under load.
_UNLIMITED = 2**31 - 1
# Not unlimited: hypercorn keeps open streams in a priority tree that raises past 1,000 entries,
# and that error escapes into its server nursery, ending serve() for every connection. Restate
# never puts more than 128 streams on one connection (it opens more connections instead) and
# assumes 50 until our SETTINGS arrive, so 128 costs Restate nothing; a peer that opens more
# loses its connection (GOAWAY: hypercorn's h2, and our http2.py), not the process.
MAX_CONCURRENT_STREAMS = 128


def restate_config(address: str) -> Config:
    """A hypercorn Config for serving Restate invocations on ``address`` (``host:port``)."""
    config = Config()
    config.bind = [address]
    config.keep_alive_max_requests = _UNLIMITED
    config.h2_max_concurrent_streams = MAX_CONCURRENT_STREAMS
    config.keep_alive_timeout = _UNLIMITED
    config.graceful_timeout = 5.0
    config.accesslog = None
    # The runtime reads neither; formatting them costs CPU on every invocation.
    config.include_date_header = False
    config.include_server_header = False
    return config


async def serve(
    app: RestateApp,
    address: str,
    *,
    config: Config | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    config = config or restate_config(address)
    await hypercorn_serve(
        cast(ASGIFramework, app),
        config,
        shutdown_trigger=shutdown_trigger,
        task_status=task_status,
    )
