"""The reference's examples of :mod:`restate_trio.observability`: one region per public name.

tests/e2e/test_reference_observability.py serves ``make_endpoint(...)`` on a real
restate-server, calls ``Payments.charge`` and reads what the logger and the hooks recorded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

import trio

import restate_trio as restate
from restate_trio.observability import (
    HANDLER_LOGGER,
    RECORD_ATTRIBUTES,
    AttemptHook,
    AttemptInfo,
    AttemptOutcome,
    Hook,
    InvocationLogger,
    RunHook,
    RunInfo,
)

log = logging.getLogger("payments.hooks")


# [InvocationLogger]
def log_charge(logger: InvocationLogger, amount: int) -> None:
    # Given ctx.logger: the record carries the invocation's identity, and is dropped when
    # this line runs again while the invocation replays.
    logger.info("charging %d cents", amount)


# [/InvocationLogger]


class Payments:
    def __init__(self, outages: int = 0) -> None:
        self.outages = outages  # how many charges fail before the card network is back

    async def charge(self, ctx: restate.Context, amount: int) -> str:
        log_charge(ctx.logger, amount)
        return await ctx.run("charge card", self.charge_card, amount)

    async def charge_card(self, amount: int) -> str:
        if self.outages > 0:
            self.outages -= 1
            raise ConnectionError("the card network is down")
        return f"charged {amount}"


def show_handler_logs(handler: logging.Handler) -> None:
    # [HANDLER_LOGGER]
    # Where every ctx.logger record goes: show the handlers' INFO records.
    handler_logger = logging.getLogger(HANDLER_LOGGER)
    handler_logger.setLevel(logging.INFO)
    handler_logger.addHandler(handler)
    # [/HANDLER_LOGGER]


# [RECORD_ATTRIBUTES]
class JsonLines(logging.Formatter):
    """One JSON object per record, with the invocation's identity when the record has it."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            name: getattr(record, name) for name in RECORD_ATTRIBUTES if hasattr(record, name)
        }
        return json.dumps({"message": record.getMessage(), **fields})


# [/RECORD_ATTRIBUTES]


# [AttemptInfo]
@asynccontextmanager
async def log_attempt(info: AttemptInfo) -> AsyncGenerator[None]:
    started = trio.current_time()
    try:
        yield
    finally:
        # By now info.outcome says how the attempt ended.
        elapsed = trio.current_time() - started
        target = f"{info.service}/{info.handler}"
        outcome = info.outcome.value if info.outcome else None
        log.info(
            "%s %s #%d: %s in %.3fs", info.invocation_id, target, info.attempt, outcome, elapsed
        )


# [/AttemptInfo]


# [AttemptOutcome]
@asynccontextmanager
async def warn_on_failure(info: AttemptInfo) -> AsyncGenerator[None]:
    try:
        yield
    finally:
        if info.outcome is AttemptOutcome.FAILED:  # Restate retries it
            log.warning("%s failed, will be retried: %s", info.invocation_id, info.failure)


# [/AttemptOutcome]


# [AttemptHook]
def only_for(service: str, hook: AttemptHook) -> AttemptHook:
    """``hook`` around the attempts of one service only."""

    def attempt(info: AttemptInfo) -> AbstractAsyncContextManager[object]:
        return hook(info) if info.service == service else nullcontext()

    return attempt


# [/AttemptHook]


# [RunInfo]
@asynccontextmanager
async def log_run(info: RunInfo) -> AsyncGenerator[None]:
    # Only for a run that executes: a replayed one returns its journaled result instead.
    log.info(
        "run %r of %s, attempt %d", info.name, info.attempt.invocation_id, info.attempt.attempt
    )
    yield


# [/RunInfo]


# [RunHook]
def slow_runs(threshold: float) -> RunHook:
    """Warn about the runs that take longer than ``threshold`` seconds."""

    @asynccontextmanager
    async def run(info: RunInfo) -> AsyncGenerator[None]:
        started = trio.current_time()
        try:
            yield
        finally:
            if (elapsed := trio.current_time() - started) >= threshold:
                log.warning("run %r took %.3fs", info.name, elapsed)

    return run


# [/RunHook]


def make_endpoint(payments: Payments, slow_run_seconds: float = 1.0) -> restate.Endpoint:
    # [Hook]
    hooks = [
        Hook(attempt=log_attempt, run=log_run),  # the first is the outermost
        Hook(attempt=only_for("Payments", warn_on_failure), run=slow_runs(slow_run_seconds)),
    ]
    endpoint = restate.Endpoint(hooks=hooks).bind(restate.reflect(payments))
    # [/Hook]
    return endpoint
