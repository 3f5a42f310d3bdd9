"""Static typing checks of ``ctx.logger`` and the hooks (see check_calls.py for the rules)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import assert_type

import restate_trio as restate
from restate_trio.observability import AttemptInfo, Hook, InvocationLogger, RunInfo
from restate_trio.otel import tracing_hook


class Shop:
    async def buy(self, ctx: restate.ObjectContext, item: str) -> None:
        assert_type(ctx.logger, InvocationLogger)
        ctx.logger.info("buying %s", item, extra={"item": item})
        ctx.logger.exception("failed")
        adapter: logging.LoggerAdapter[logging.Logger] = ctx.logger
        adapter.debug("standard")


@asynccontextmanager
async def on_attempt(info: AttemptInfo) -> AsyncGenerator[None]:
    assert_type(info.headers.get("traceparent"), str | None)
    yield


@asynccontextmanager
async def on_run(info: RunInfo) -> AsyncGenerator[None]:
    assert_type(info.attempt.invocation_id, str)
    yield


endpoint = restate.Endpoint(hooks=[Hook(attempt=on_attempt, run=on_run), tracing_hook()])
Hook(attempt=on_run)  # type: ignore[arg-type]


def not_a_manager(info: RunInfo) -> None: ...


Hook(run=not_a_manager)  # type: ignore[arg-type]
