"""When a request to Restate is tried again, and after how long.

Retries are opt-in and apply only to requests that are safe to repeat: the server deduplicates
them (an idempotency key, a workflow submission) or they only read (attach, get-output, GETs).
The decision is a pure function of the policy, the attempt number and what the last attempt
saw, so it is tested without a server.
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["RequestRetryPolicy", "retry_after_seconds"]

# Statuses that say "try again later" without having done anything the retry could repeat
# badly: too many requests, and a gateway or server that was unavailable.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RequestRetryPolicy:
    """How the client retries a request that is safe to retry.

    A request is retried when it failed with no answer (a network error) or with one of
    ``statuses``; after attempt *n* (1-based) it waits ``initial_delay * factor ** (n - 1)``,
    at most ``max_delay``, or what the server's ``Retry-After`` says when
    ``respect_retry_after`` (also capped by ``max_delay``). With ``jitter`` the wait is drawn
    uniformly from its upper half, so that many clients do not retry in step.

    Only requests Restate deduplicates or that only read are ever retried: calls and sends
    with an ``idempotency_key``, workflow submissions, attach and get-output, and the admin
    client's reads. Others fail at once whatever the policy. The whole sequence of attempts
    is bounded by the caller's trio cancel scope, e.g. ``with trio.fail_after(10): ...``.

    :param max_attempts: attempts in all, the first one included (1 disables retries).
    :param initial_delay: wait after the first failed attempt.
    :param factor: growth of the wait from one attempt to the next.
    :param max_delay: the longest wait between two attempts.
    :param respect_retry_after: wait what a ``Retry-After`` header asks, when there is one.
    :param jitter: randomise each wait within its upper half.
    :param statuses: the HTTP statuses that are retried.
    """

    max_attempts: int = 3
    initial_delay: timedelta = timedelta(milliseconds=100)
    factor: float = 2.0
    max_delay: timedelta = timedelta(seconds=5)
    respect_retry_after: bool = True
    jitter: bool = True
    statuses: frozenset[int] = field(default=_RETRY_STATUSES)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_delay < timedelta(0) or self.max_delay < timedelta(0):
            raise ValueError("initial_delay and max_delay must not be negative")
        if not (self.factor >= 1.0 and math.isfinite(self.factor)):
            raise ValueError(f"factor must be a finite number >= 1, got {self.factor}")

    def should_retry(self, attempt: int, status: int | None) -> bool:
        """Whether to try again after failed attempt ``attempt`` (1-based), which got
        ``status`` (``None``: no answer, a network error)."""
        if attempt >= self.max_attempts:
            return False
        return status is None or status in self.statuses

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based); ``retry_after`` is the
        server's ``Retry-After`` in seconds, if it sent one."""
        cap = self.max_delay.total_seconds()
        if self.respect_retry_after and retry_after is not None:
            return min(max(retry_after, 0.0), cap)
        base = self.initial_delay.total_seconds() * self.factor ** (attempt - 1)
        wait = min(base, cap)
        if self.jitter:
            wait = random.uniform(wait / 2, wait)
        return wait


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or
    ``None`` if it is missing or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
