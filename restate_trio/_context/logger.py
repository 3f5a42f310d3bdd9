"""The loggers of an invocation: ``ctx.logger`` and the SDK's records about the attempt.

Both carry the invocation's identity as record attributes (``restate_invocation_id``, …; see
:data:`restate_trio.observability.RECORD_ATTRIBUTES`). They are built when first used: an
invocation that logs nothing pays nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..observability import HANDLER_LOGGER, InvocationLogger

if TYPE_CHECKING:
    from .invocation import Attempt

__all__ = ["handler_logger", "invocation_attributes", "sdk_logger"]

#: The SDK's records about attempts (failed, journal mismatch, suspended, …).
sdk_logger = logging.getLogger("restate_trio.invocation")

_handler_logger = logging.getLogger(HANDLER_LOGGER)


def invocation_attributes(attempt: Attempt) -> dict[str, object]:
    """The record attributes of ``attempt`` (before its StartMessage: what is known)."""
    start = attempt.machine.start
    return {
        "restate_invocation_id": start.debug_id if start is not None else "?",
        "restate_service": attempt.service,
        "restate_handler": attempt.handler.name,
        "restate_key": start.key if start is not None else "",
        "restate_attempt": start.retry_count_since_last_stored_entry + 1
        if start is not None
        else 0,
    }


def handler_logger(attempt: Attempt) -> InvocationLogger:
    """``ctx.logger`` of ``attempt``: silent while its state machine replays."""
    machine = attempt.machine
    return InvocationLogger(
        _handler_logger, invocation_attributes(attempt), lambda: machine.replaying
    )
