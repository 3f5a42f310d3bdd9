"""Plain values the state machine hands to the context layer: ids and results."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

# Built-in signal ids (BuiltInSignal): 1 is CANCEL, 2..16 are reserved, awakeables start at 17.
CANCEL_SIGNAL_ID = 1
FIRST_AWAKEABLE_SIGNAL_ID = 17


class NotificationKind(enum.IntEnum):
    COMPLETION = 0
    SIGNAL = 1
    NAMED_SIGNAL = 2


class NotificationId(NamedTuple):
    """What a durable future waits for: a completion id, a signal index or a signal name."""

    # A NamedTuple, not a frozen dataclass: journal operations make and hash several per step
    # (dict keys of the machine's tables), and a tuple's C-level construction and hash cost
    # about half as much (profiled in the steps10 benchmark: ~18 hashes and ~10 constructions
    # per ctx.run).
    kind: NotificationKind
    value: int | str

    @staticmethod
    def completion(completion_id: int) -> NotificationId:
        return NotificationId(NotificationKind.COMPLETION, completion_id)

    @staticmethod
    def signal(index: int) -> NotificationId:
        return NotificationId(NotificationKind.SIGNAL, index)

    @staticmethod
    def named(name: str) -> NotificationId:
        return NotificationId(NotificationKind.NAMED_SIGNAL, name)


CANCEL = NotificationId.signal(CANCEL_SIGNAL_ID)


@dataclass(frozen=True, slots=True)
class Void:
    """A completion without a value (e.g. a timer fired, a state key is absent)."""


VOID = Void()


@dataclass(frozen=True, slots=True)
class Success:
    """A completion with a payload."""

    value: bytes


@dataclass(frozen=True, slots=True)
class Failure:
    """A terminal failure carried by a completion or written as output."""

    code: int
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict[str, str])


@dataclass(frozen=True, slots=True)
class InvocationIdResult:
    """The invocation id of a call or send."""

    invocation_id: str


@dataclass(frozen=True, slots=True)
class StateKeysResult:
    """The state keys of an object."""

    keys: Sequence[str]


Result = Void | Success | Failure | InvocationIdResult | StateKeysResult


@dataclass(frozen=True, slots=True)
class Header:
    key: str
    value: str


@dataclass(slots=True)
class StartInfo:
    """What the StartMessage told us about this attempt (read-only by convention: not frozen,
    because a frozen dataclass's ten field assignments were the largest cost of handling Start
    in the greet profile)."""

    id: bytes
    debug_id: str
    key: str
    known_entries: int
    retry_count_since_last_stored_entry: int
    duration_since_last_stored_entry_ms: int
    random_seed: int | None
    scope: str | None
    limit_key: str | None
    idempotency_key: str | None


class KeyValue(Protocol):
    """A header as the wire message holds it (``Header`` messages of the protocol)."""

    @property
    def key(self) -> str: ...
    @property
    def value(self) -> str: ...


@dataclass(slots=True)  # read-only by convention; not frozen: one per invocation (see StartInfo)
class InputInfo:
    """The handler's input: the caller's headers and the raw payload.

    ``raw_headers`` are the input message's own header entries: most handlers never look at
    them, and a tuple of :class:`Header` per invocation was the largest allocation of a parked
    invocation (Restate forwards every ingress header: ~0.9 KiB for 15 of them).
    """

    raw_headers: Sequence[KeyValue]
    value: bytes

    @property
    def headers(self) -> tuple[Header, ...]:
        return tuple(Header(h.key, h.value) for h in self.raw_headers)


@dataclass(frozen=True, slots=True)
class WorkflowTarget:
    """A workflow run, addressed by workflow name and key."""

    name: str
    key: str
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class IdempotentTarget:
    """An invocation made with an idempotency key."""

    service: str
    handler: str
    idempotency_key: str
    key: str | None = None
    scope: str | None = None


# An invocation id (``inv_…``), or one of the targets above.
InvocationTarget = str | WorkflowTarget | IdempotentTarget
