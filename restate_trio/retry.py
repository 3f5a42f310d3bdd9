"""Retry policies: of one ``ctx.run`` step, and of a whole invocation.

Restate retries at two levels, and each has its policy:

* :class:`RetryPolicy` is an argument of ``ctx.run(..., retry=...)``: how often and how long the
  *closure* of one durable step is retried before its failure becomes a terminal error that the
  handler sees (and can catch). The SDK applies it.
* :class:`InvocationRetryPolicy` is a service or handler option (``reflect(...,
  retry_policy=...)``): how the Restate *server* retries failed attempts of an invocation (any
  non-terminal exception, a crash, a lost connection) and what it does when it gives up (pause or
  kill the invocation). It is sent to the server in the discovery manifest.

Both describe exponential backoff with the same words: ``initial_interval`` (the first delay),
``factor`` (the multiplier applied after every retry), ``max_interval`` (the largest delay) and
``max_attempts`` (executions allowed, the first included).

Example::

    from datetime import timedelta

    import restate_trio as restate

    step = restate.RetryPolicy(max_attempts=5, initial_interval=timedelta(milliseconds=100))
    invocation = restate.InvocationRetryPolicy(max_attempts=10, on_max_attempts="kill")
    assert step.verdict(attempt=1, elapsed_ms=0) == 100
    assert step.verdict(attempt=5, elapsed_ms=0) is None  # given up: the failure is terminal
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final, Literal

from .errors import ServiceDefinitionError

__all__ = ["InvocationRetryPolicy", "RetryPolicy"]

# The manifest key of each InvocationRetryPolicy field, in the field's metadata.
MANIFEST_KEY: Final = "restate_trio.manifest_key"


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing ``ctx.run`` closure is retried before its failure becomes terminal.

    This is the policy of one durable step, applied by the SDK: when it gives up, the step fails
    with a :class:`~restate_trio.TerminalError` that the handler sees. To control how the server
    retries whole invocations (failed attempts of a handler), use
    :class:`InvocationRetryPolicy` instead.

    Each retry is a new attempt of the invocation, scheduled by Restate after the delay; the
    closure runs again there. Unset limits mean "retry forever" (with the invocation's retry
    policy deciding the delays).

    :param max_attempts: total executions allowed, the first included.
    :param max_duration: how long to keep retrying, measured from the first failure.
    :param initial_interval: the delay before the first retry.
    :param factor: the multiplier applied to the delay after every retry.
    :param max_interval: the largest delay between two retries.
    """

    max_attempts: int | None = None
    max_duration: timedelta | None = None
    initial_interval: timedelta | None = None
    factor: float = 2.0
    max_interval: timedelta | None = None

    def __post_init__(self) -> None:
        _check_backoff(self, ValueError, "")
        _check_interval(self.max_duration, "max_duration", ValueError, "")

    def verdict(self, attempt: int, elapsed_ms: int) -> int | None:
        """After failed execution number ``attempt`` (from 1): the retry delay in ms (0 for
        the server's default), or ``None`` when the failure must become terminal."""
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return None
        if self.max_duration is not None and elapsed_ms >= _ms(self.max_duration):
            return None
        if self.initial_interval is None:
            return 0
        delay = _ms(self.initial_interval) * self.factor ** (attempt - 1)
        if self.max_interval is not None:
            delay = min(delay, _ms(self.max_interval))
        return max(1, int(delay))


@dataclass(frozen=True)
class InvocationRetryPolicy:
    """How Restate retries failed attempts of an invocation (service or handler option).

    This is the policy of the whole invocation, applied by the Restate server to every attempt
    that fails without a terminal error; it is sent in the discovery manifest. To retry one
    ``ctx.run`` step inside an attempt, pass a :class:`RetryPolicy` to ``ctx.run`` instead.

    Unset fields keep the server's defaults (1.7: initial 500 ms, factor 2, max interval 1 min,
    70 attempts, then pause). ``max_attempts`` counts the first attempt; ``on_max_attempts``
    decides what happens then: ``"pause"`` (resume it from the UI/CLI) or ``"kill"``.
    """

    initial_interval: timedelta | None = field(
        default=None, metadata={MANIFEST_KEY: "retryPolicyInitialInterval"}
    )
    factor: float | None = field(
        default=None, metadata={MANIFEST_KEY: "retryPolicyExponentiationFactor"}
    )
    max_interval: timedelta | None = field(
        default=None, metadata={MANIFEST_KEY: "retryPolicyMaxInterval"}
    )
    max_attempts: int | None = field(
        default=None, metadata={MANIFEST_KEY: "retryPolicyMaxAttempts"}
    )
    on_max_attempts: Literal["pause", "kill"] | None = field(
        default=None, metadata={MANIFEST_KEY: "retryPolicyOnMaxAttempts"}
    )

    def __post_init__(self) -> None:
        _check_backoff(self, ServiceDefinitionError, "retry_policy: ")
        if self.on_max_attempts not in (None, "pause", "kill"):
            raise ServiceDefinitionError("retry_policy: on_max_attempts is 'pause' or 'kill'")


def _check_backoff(
    policy: RetryPolicy | InvocationRetryPolicy, error: type[ValueError], prefix: str
) -> None:
    """The checks of the fields both policies share (the same words mean the same there)."""
    _check_interval(policy.initial_interval, "initial_interval", error, prefix)
    _check_interval(policy.max_interval, "max_interval", error, prefix)
    if policy.factor is not None and policy.factor < 1.0:
        raise error(f"{prefix}factor must be at least 1.0")
    if policy.max_attempts is not None and policy.max_attempts < 1:
        raise error(f"{prefix}max_attempts must be at least 1")


def _check_interval(value: object, name: str, error: type[ValueError], prefix: str) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta):
        raise error(f"{prefix}{name} must be a datetime.timedelta, got {type(value).__name__}")
    if value < timedelta(0):
        raise error(f"{prefix}{name} must not be negative, got {value}")


def _ms(d: timedelta) -> int:
    return int(d.total_seconds() * 1000)
