"""Replay: checking the commands a handler issues again against the journal it recorded before.

A new attempt re-runs the handler from the start. Each command it issues while recorded commands
remain must be the recorded command (same type, same fields, except the few decided by the clock
or by the runtime); otherwise the code changed between attempts and the attempt fails with a
journal mismatch (570), which Restate retries until the code is fixed or the invocation killed.

A mismatch is also data (:class:`Mismatch`, on :attr:`JournalMismatch.mismatch` and on the state
machine): which journal entry, what was recorded there and what the handler did instead, so the
endpoint can report it against the user's code.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from google.protobuf.message import Message

from . import messages as m
from .errors import JournalMismatch

#: A replay comparison: (new type, new command, recorded type, recorded command) → equal?
Comparer = Callable[[int, Message, int, Message], bool]


# ---------------------------------------------------------------------- mismatch as data


@dataclass(frozen=True, slots=True)
class CommandSummary:
    """A command, as a mismatch report names it."""

    #: The message type id (a :class:`~restate_trio._protocol.messages.MessageType` value).
    type_id: int
    #: The entry name the handler gave the command (``ctx.run("charge", …)``), or ``""``.
    name: str

    @property
    def type_name(self) -> str:
        """The type's name (``"RUN_COMMAND"``), or its hex id if unknown."""
        try:
            return m.MessageType(self.type_id).name
        except ValueError:
            return f"0x{self.type_id:04x}"

    @classmethod
    def of(cls, type_id: int, message: Message) -> CommandSummary:
        return cls(type_id, m.entry_name(message))

    def __str__(self) -> str:
        return f"{self.type_name} {self.name!r}" if self.name else self.type_name


class MismatchKind(enum.Enum):
    """How the handler diverged from its journal."""

    #: It issued a command unlike the one recorded at that position.
    DIFFERENT_COMMAND = "different command"
    #: It returned while recorded commands remained (a command was removed).
    HANDLER_ENDED = "handler ended"
    #: It awaited a result the journal does not have while recorded commands remained.
    AWAIT_ADDED = "await added"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Where and how a replayed handler diverged from its journal."""

    kind: MismatchKind
    #: Index of the journal command that was not replayed (0 is the input command).
    command_index: int
    #: The command the journal recorded at ``command_index``.
    expected: CommandSummary
    #: The command the handler issued there; ``None`` unless ``kind`` is DIFFERENT_COMMAND.
    actual: CommandSummary | None
    #: Recorded commands left unreplayed, ``expected`` included.
    remaining: int


def different_command(
    index: int, new_type: int, new: Message, recorded_type: int, recorded: Message, remaining: int
) -> JournalMismatch:
    """The mismatch of a command ``new`` issued where the journal recorded ``recorded``."""
    mismatch = Mismatch(
        MismatchKind.DIFFERENT_COMMAND,
        index,
        CommandSummary.of(recorded_type, recorded),
        CommandSummary.of(new_type, new),
        remaining,
    )
    return JournalMismatch(
        f"journal mismatch at command {index}: the handler issued {_describe(new_type, new)}, "
        f"but the journal recorded {_describe(recorded_type, recorded)}",
        mismatch=mismatch,
    )


def handler_ended(index: int, remaining: Sequence[tuple[int, Message]]) -> JournalMismatch:
    """The mismatch of a handler that returned while ``remaining`` (non-empty) were recorded."""
    mismatch = Mismatch(
        MismatchKind.HANDLER_ENDED, index, CommandSummary.of(*remaining[0]), None, len(remaining)
    )
    return JournalMismatch(
        f"the handler finished, but the journal has {len(remaining)} more recorded command(s), "
        f"the next being {mismatch.expected} at command {index}: the code changed",
        mismatch=mismatch,
    )


def await_added(index: int, remaining: Sequence[tuple[int, Message]]) -> JournalMismatch:
    """The mismatch of an await the journal cannot answer while ``remaining`` are recorded."""
    mismatch = Mismatch(
        MismatchKind.AWAIT_ADDED, index, CommandSummary.of(*remaining[0]), None, len(remaining)
    )
    return JournalMismatch(
        "the handler awaits a result that the journal does not have, while "
        f"{len(remaining)} recorded command(s) remain, the next being {mismatch.expected} at "
        f"command {index}: an await was added",
        mismatch=mismatch,
    )


def _describe(type_id: int, message: Message) -> str:
    text = str(message).replace("\n", " ").strip()
    if len(text) > 200:
        text = text[:200] + "…"
    return f"{CommandSummary(type_id, '').type_name} {{{text}}}"


# ---------------------------------------------------------------------- comparisons

# Fields that depend on wall-clock time or were decided by the runtime: not compared on replay.
_IGNORED_ON_REPLAY: Mapping[int, Sequence[str]] = {
    m.MessageType.SLEEP_COMMAND: ("wake_up_time", "result_completion_id"),
    m.MessageType.ONE_WAY_CALL_COMMAND: ("invoke_time",),
    m.MessageType.GET_EAGER_STATE_KEYS_COMMAND: ("value",),
}

# The payload field of each command that carries one.
_PAYLOAD_FIELDS: Mapping[int, str] = {
    m.MessageType.OUTPUT_COMMAND: "value",
    m.MessageType.SET_STATE_COMMAND: "value",
    m.MessageType.CALL_COMMAND: "parameter",
    m.MessageType.ONE_WAY_CALL_COMMAND: "parameter",
    m.MessageType.SEND_SIGNAL_COMMAND: "value",
    m.MessageType.COMPLETE_PROMISE_COMMAND: "completion_value",
    m.MessageType.COMPLETE_AWAKEABLE_COMMAND: "value",
}


def _without(message: Message, fields: Iterable[str]) -> Message:
    copy = type(message)()
    copy.CopyFrom(message)
    for field in fields:
        copy.ClearField(field)
    return copy


def same_type(t1: int, new: Message, t2: int, recorded: Message) -> bool:
    """Compare by type only (the Input command: copying its payload to compare nothing would
    cost on every invocation)."""
    return t1 == t2


def default_compare(t1: int, new: Message, t2: int, recorded: Message) -> bool:
    """Same type and equal fields, except those decided by the clock or the runtime."""
    if t1 != t2:
        return False
    ignored = _IGNORED_ON_REPLAY.get(t1)
    if ignored:
        return _without(new, ignored) == _without(recorded, ignored)
    return new == recorded


def compare_without_payload(t1: int, new: Message, t2: int, recorded: Message) -> bool:
    """:func:`default_compare`, except the payload's bytes (written by a codec that is not
    deterministic); a value must still replay as a value."""
    field = _PAYLOAD_FIELDS.get(t1)
    if t1 != t2 or field is None:
        return default_compare(t1, new, t2, recorded)
    ignored = (*_IGNORED_ON_REPLAY.get(t1, ()), field)
    descriptor = new.DESCRIPTOR.fields_by_name[field]
    if descriptor.has_presence and new.HasField(field) != recorded.HasField(field):
        return False
    return _without(new, ignored) == _without(recorded, ignored)


def compare_state_read(t1: int, new: Message, t2: int, recorded: Message) -> bool:
    """A state read replays against either the eager or the lazy command."""
    assert isinstance(new, m.GetLazyStateCommandMessage)
    if t2 == m.MessageType.GET_EAGER_STATE_COMMAND:
        assert isinstance(recorded, m.GetEagerStateCommandMessage)
        return recorded.key == new.key and recorded.name == new.name
    return default_compare(t1, new, t2, recorded)


def compare_keys_read(t1: int, new: Message, t2: int, recorded: Message) -> bool:
    """A state-keys read replays against either the eager or the lazy command."""
    if t2 == m.MessageType.GET_EAGER_STATE_KEYS_COMMAND:
        assert isinstance(recorded, m.GetEagerStateKeysCommandMessage)
        return recorded.name == m.entry_name(new)
    return default_compare(t1, new, t2, recorded)


def comparer(compare: Comparer | None, *, unstable: bool) -> Comparer:
    """The comparison for a command: ``compare`` if given, else by default or, for a payload
    from a non-deterministic codec (``unstable``), without the payload's bytes."""
    if compare is not None:
        return compare
    return compare_without_payload if unstable else default_compare


__all__ = [
    "CommandSummary",
    "Comparer",
    "Mismatch",
    "MismatchKind",
    "await_added",
    "compare_keys_read",
    "compare_state_read",
    "comparer",
    "default_compare",
    "different_command",
    "handler_ended",
    "same_type",
]
