"""Helpers for "golden transcript" tests of the protocol core.

Build the runtime's side of a conversation from protobuf messages, and parse the state
machine's output bytes back into ``(MessageType, message)`` pairs for assertions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import FrameDecoder, encode_frame
from restate_trio._protocol.machine import StateMachine

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

T = m.MessageType

INVOCATION_ID = bytes(range(1, 25))  # 24 bytes, like the real server's
DEBUG_ID = "inv_1afeVIM8FIgd0ETawdDjblcQazBwrgX6bB"

Transcript = list[tuple[m.MessageType, m.Message]]


# --------------------------------------------------------------------------- building input


def frame(message: m.Message, *, flags: int = 0) -> bytes:
    """One frame (header + payload) carrying ``message``."""
    type_id, payload = m.encode(message)
    return encode_frame(type_id, payload, flags=flags)


def frames(*messages: m.Message) -> bytes:
    """Frames for ``messages``, concatenated."""
    return b"".join(frame(msg) for msg in messages)


def start(
    known_entries: int = 1,
    *,
    state: Mapping[str, bytes] | None = None,
    partial_state: bool = True,
    key: str = "",
    invocation_id: bytes = INVOCATION_ID,
    debug_id: str = DEBUG_ID,
    random_seed: int = 0,
    retry_count: int = 0,
    duration_ms: int = 0,
) -> m.StartMessage:
    return m.StartMessage(
        id=invocation_id,
        debug_id=debug_id,
        known_entries=known_entries,
        state_map=[
            m.StartMessage.StateEntry(key=k.encode(), value=v) for k, v in (state or {}).items()
        ],
        partial_state=partial_state,
        key=key,
        random_seed=random_seed,
        retry_count_since_last_stored_entry=retry_count,
        duration_since_last_stored_entry=duration_ms,
    )


def input_command(
    body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
) -> m.InputCommandMessage:
    return m.InputCommandMessage(
        headers=[m.Header(key=k, value=v) for k, v in headers], value=m.Value(content=body)
    )


def lazy_state_completion(
    completion_id: int, value: bytes | None = None
) -> m.GetLazyStateCompletionNotificationMessage:
    """0x8002: ``value=None`` means the key is absent (void)."""
    if value is None:
        return m.GetLazyStateCompletionNotificationMessage(
            completion_id=completion_id, void=m.Void()
        )
    return m.GetLazyStateCompletionNotificationMessage(
        completion_id=completion_id, value=m.Value(content=value)
    )


def lazy_keys_completion(
    completion_id: int, keys: Iterable[str]
) -> m.GetLazyStateKeysCompletionNotificationMessage:
    return m.GetLazyStateKeysCompletionNotificationMessage(
        completion_id=completion_id, state_keys=m.StateKeys(keys=[k.encode() for k in keys])
    )


def cancel_signal() -> m.SignalNotificationMessage:
    """The built-in CANCEL signal: SignalNotification{idx: 1, void}."""
    return m.SignalNotificationMessage(idx=1, void=m.Void())


def journal_bytes(
    journal: Sequence[m.Message] = (),
    *,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    **start_kw: object,
) -> bytes:
    """Start (known_entries = 1 + len(journal)) + Input + ``journal``, as frames."""
    first = start(1 + len(journal), **start_kw)  # type: ignore[arg-type]
    return frames(first, input_command(body, headers), *journal)


def machine(
    version: int = 6,
    journal: Sequence[m.Message] = (),
    *,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    **start_kw: object,
) -> StateMachine:
    """A bootstrapped machine: Start + Input + ``journal`` already fed."""
    sm = StateMachine(version)
    sm.feed(journal_bytes(journal, body=body, headers=headers, **start_kw))
    assert sm.ready, "bootstrap did not complete"
    assert not sm.closed, parse(sm.take_output())
    return sm


def started(version: int = 6, journal: Sequence[m.Message] = (), **kw: object) -> StateMachine:
    """A bootstrapped machine whose input has been consumed (``sys_input`` called)."""
    sm = machine(version, journal, **kw)  # type: ignore[arg-type]
    sm.sys_input()
    return sm


# --------------------------------------------------------------------------- parsing output


def parse_frames(data: bytes) -> list[tuple[m.MessageType, int, m.Message]]:
    """Every frame in ``data`` as ``(type, flags, message)``; ``data`` must hold whole frames."""
    decoder = FrameDecoder()
    out = []
    for f in decoder.feed(data):
        out.append((m.MessageType(f.type), f.flags, m.decode(f.type, f.payload)))
    assert decoder.pending == 0, f"{decoder.pending} trailing bytes in the output"
    return out


def parse(data: bytes) -> Transcript:
    """Every frame in ``data`` as ``(type, message)``."""
    return [(t, msg) for t, _flags, msg in parse_frames(data)]


def output(sm: StateMachine) -> Transcript:
    """Take and parse what the machine has written since the last call."""
    return parse(sm.take_output())


def types(transcript: Transcript) -> list[m.MessageType]:
    return [t for t, _ in transcript]


def commands(transcript: Transcript) -> list[m.Message]:
    """Only the command messages of ``transcript`` (as a runtime would journal them)."""
    return [msg for t, msg in transcript if m.is_command(t)]


def only(transcript: Transcript, type_id: m.MessageType) -> m.Message:
    """The single message of ``transcript``, asserting it has type ``type_id``."""
    assert types(transcript) == [type_id], transcript
    return transcript[0][1]


def error_of(sm: StateMachine) -> m.ErrorMessage:
    """The machine's output must be exactly one ErrorMessage; return it."""
    msg = only(output(sm), T.ERROR)
    assert isinstance(msg, m.ErrorMessage)
    return msg


def assert_closed_with(sm: StateMachine, code: int) -> m.ErrorMessage:
    """The machine closed with an ErrorMessage of ``code`` and recorded that failure."""
    err = error_of(sm)
    assert err.code == code, err
    assert sm.closed
    assert sm.failure is not None
    assert sm.failure[0] == code
    return err


# --------------------------------------------------------------------------- notifications


def failure(code: int, message: str, metadata: Mapping[str, str] | None = None) -> m.Failure:
    """A protocol Failure (``metadata`` travels since V6)."""
    return m.Failure(
        code=code,
        message=message,
        metadata=[{"key": k, "value": v} for k, v in (metadata or {}).items()],
    )


def run_completion(
    completion_id: int, value: bytes | None = None, *, error: m.Failure | None = None
) -> m.RunCompletionNotificationMessage:
    """0x8011: the journaled result of a run (a value, or ``error``)."""
    if error is not None:
        return m.RunCompletionNotificationMessage(completion_id=completion_id, failure=error)
    return m.RunCompletionNotificationMessage(
        completion_id=completion_id, value=m.Value(content=value or b"")
    )


def sleep_completion(completion_id: int) -> m.SleepCompletionNotificationMessage:
    """0x800C: a timer fired."""
    return m.SleepCompletionNotificationMessage(completion_id=completion_id, void=m.Void())


def call_invocation_id(
    completion_id: int, invocation_id: str
) -> m.CallInvocationIdCompletionNotificationMessage:
    """0x800E: the invocation id of a call (its ``invocation_id_notification_idx``)."""
    return m.CallInvocationIdCompletionNotificationMessage(
        completion_id=completion_id, invocation_id=invocation_id
    )


def call_completion(
    completion_id: int, value: bytes = b"", *, error: m.Failure | None = None
) -> m.CallCompletionNotificationMessage:
    """0x800D: the result of a call (a value, or ``error``)."""
    if error is not None:
        return m.CallCompletionNotificationMessage(completion_id=completion_id, failure=error)
    return m.CallCompletionNotificationMessage(
        completion_id=completion_id, value=m.Value(content=value)
    )


def signal(
    idx: int, value: bytes = b"", *, error: m.Failure | None = None
) -> m.SignalNotificationMessage:
    """0xFBFF by index: awakeables use indexes from 17 on."""
    if error is not None:
        return m.SignalNotificationMessage(idx=idx, failure=error)
    return m.SignalNotificationMessage(idx=idx, value=m.Value(content=value))
