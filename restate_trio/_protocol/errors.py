"""Errors raised by the sans-I/O protocol core, with Restate's error codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .replay import Mismatch

JOURNAL_MISMATCH = 570
PROTOCOL_VIOLATION = 571
UNSUPPORTED_FEATURE = 573
INTERNAL = 500


class AttemptClosed(Exception):
    """The attempt is over (ended, failed or suspended); no more commands may be issued."""


class ProtocolError(AttemptClosed):
    """The attempt failed because the protocol was not followed; ``code`` is Restate's code."""

    code = INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JournalMismatch(ProtocolError):
    """Replayed journal and handler code disagree (the code changed between attempts).

    ``mismatch`` says where and how (see :mod:`restate_trio._protocol.replay`).
    """

    code = JOURNAL_MISMATCH

    def __init__(self, message: str, *, mismatch: Mismatch | None = None) -> None:
        super().__init__(message)
        self.mismatch = mismatch


class ProtocolViolation(ProtocolError):
    """The runtime sent something the protocol does not allow at this point."""

    code = PROTOCOL_VIOLATION


class NotificationLimit(ProtocolError):
    """The runtime sent more notifications nobody asked for yet than one attempt holds.

    Not a protocol violation (see ``StateMachine._admit``): the attempt fails and Restate
    retries it, and the next attempt receives those notifications with its journal."""

    code = INTERNAL


class UnsupportedFeature(ProtocolError):
    """The handler used a feature the negotiated protocol version lacks."""

    code = UNSUPPORTED_FEATURE
