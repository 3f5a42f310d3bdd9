"""Golden-transcript tests for restate_trio._protocol.machine (protocol reference §4).

Each test feeds the runtime's frames to a :class:`StateMachine`, drives it the way the context
layer would (``sys_*`` calls in program order, ``do_progress`` for awaits), and asserts the exact
frames it writes back.
"""

from __future__ import annotations

import hashlib
import itertools
import struct

import pytest
from hypothesis import given, settings, strategies as st
from transcripts import (
    INVOCATION_ID,
    assert_closed_with,
    cancel_signal,
    commands,
    error_of,
    frame,
    frames,
    input_command,
    journal_bytes,
    lazy_keys_completion,
    lazy_state_completion,
    machine,
    only,
    output,
    start,
    started,
    types,
)

from restate_trio._protocol import messages as m
from restate_trio._protocol.errors import (
    AttemptClosed,
    JournalMismatch,
    ProtocolError,
    ProtocolViolation,
)
from restate_trio._protocol.framing import encode_frame
from restate_trio._protocol.futures import Combinator, Leaf, Node
from restate_trio._protocol.machine import EagerValue, Phase, Progress, StateMachine
from restate_trio._protocol.types import (
    CANCEL,
    VOID,
    Failure,
    Header,
    NotificationId,
    StateKeysResult,
    Success,
)

T = m.MessageType
VERSIONS = [5, 6, 7]
all_versions = pytest.mark.parametrize("version", VERSIONS)


def c(cid: int) -> Leaf:
    return Leaf(NotificationId.completion(cid))


def phase(sm: StateMachine) -> Phase:
    """``sm.phase``, read through a call so that type checkers do not narrow it."""
    return sm.phase


def ready(sm: StateMachine) -> bool:
    return sm.ready


def assert_protocol_violation(sm: StateMachine) -> m.ErrorMessage:
    return assert_closed_with(sm, 571)


def assert_journal_mismatch(sm: StateMachine) -> m.ErrorMessage:
    return assert_closed_with(sm, 570)


# =========================================================================== basic flows


@all_versions
def test_fresh_invocation_golden(version: int) -> None:
    sm = StateMachine(version)
    assert sm.phase is Phase.WAITING_START
    assert not ready(sm)
    sm.feed(frames(start(1), input_command(b'{"name":"x"}', [("x-custom", "1"), ("a", "b")])))
    assert ready(sm)
    assert sm.take_output() == b""

    info = sm.sys_input()
    assert info.headers == (Header("x-custom", "1"), Header("a", "b"))
    assert info.value == b'{"name":"x"}'
    assert phase(sm) is Phase.PROCESSING
    assert not sm.has_output  # replaying Input writes nothing

    sm.sys_write_output(Success(b'"hello"'))
    sm.sys_end()
    expected = frames(m.OutputCommandMessage(value=m.Value(content=b'"hello"')), m.EndMessage())
    assert sm.take_output() == expected
    assert types(output(sm)) == []  # taken once
    assert phase(sm) is Phase.CLOSED
    assert sm.closed
    assert sm.failure is None


@all_versions
def test_output_terminal_failure(version: int) -> None:
    sm = started(version)
    sm.sys_write_output(Failure(409, "cancelled"))
    sm.sys_end()
    out = output(sm)
    assert types(out) == [T.OUTPUT_COMMAND, T.END]
    assert out[0][1] == m.OutputCommandMessage(failure=m.Failure(code=409, message="cancelled"))


@all_versions
def test_empty_input_body(version: int) -> None:
    sm = StateMachine(version)
    sm.feed(frame(start(1)) + encode_frame(T.INPUT_COMMAND, bytes.fromhex("7200")))
    info = sm.sys_input()
    assert info.value == b""
    assert info.headers == ()


@all_versions
def test_start_info(version: int) -> None:
    sm = machine(version, key="my key/1", random_seed=42, retry_count=3, duration_ms=708)
    assert sm.start is not None
    assert sm.start.id == INVOCATION_ID
    assert sm.start.key == "my key/1"
    assert sm.start.known_entries == 1
    assert sm.start.retry_count_since_last_stored_entry == 3
    assert sm.start.duration_since_last_stored_entry_ms == 708
    assert sm.start.random_seed == (None if version == 5 else 42)
    assert sm.start.scope is None
    assert sm.start.idempotency_key is None


def test_v7_start_optional_fields() -> None:
    msg = start(1)
    msg.idempotency_key = "idem-123"
    msg.scope = ""
    sm = StateMachine(7)
    sm.feed(frames(msg, input_command()))
    assert sm.start is not None
    assert sm.start.idempotency_key == "idem-123"
    assert sm.start.scope == ""  # explicit presence, even when empty
    assert sm.start.limit_key is None


def test_unsupported_version() -> None:
    for version in (4, 8):
        with pytest.raises(ValueError):
            StateMachine(version)


# =========================================================================== bootstrap


@all_versions
def test_bootstrap_byte_by_byte(version: int) -> None:
    journal = [
        m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1")),
        m.GetLazyStateCommandMessage(key=b"k", result_completion_id=1),
        lazy_state_completion(1, b"v"),
    ]
    data = journal_bytes(journal, body=b"in")
    sm = StateMachine(version)
    for i in range(len(data)):
        sm.feed(data[i : i + 1])
        sm.feed(b"")
        if i < len(data) - 1:
            with pytest.raises(AttemptClosed):  # the journal is not complete yet
                sm.sys_input()
    assert sm.ready
    assert not sm.closed
    assert sm.sys_input().value == b"in"
    sm.sys_set_state("a", b"1")
    nid = sm.sys_get_state("k")
    assert nid == NotificationId.completion(1)
    assert sm.phase is Phase.PROCESSING
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == Success(b"v")
    assert sm.take_output() == b""


@all_versions
def test_ready_only_after_all_known_entries(version: int) -> None:
    data = journal_bytes([m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1"))])
    sm = StateMachine(version)
    for i in range(len(data) - 1):
        sm.feed(data[i : i + 1])
        assert not sm.ready, f"ready after {i + 1} of {len(data)} bytes"
    sm.feed(data[-1:])
    assert sm.ready


def test_waiting_journal_until_the_start_message_and_its_entries_arrived() -> None:
    # What the servers' start timeout looks at: Start, then the two entries it announces.
    sm = StateMachine(6)
    whole = frame(start(2))
    sm.feed(whole[:-1])
    assert sm.waiting_journal
    sm.feed(whole[-1:])
    assert sm.waiting_journal  # the journal is still to come
    sm.feed(frame(input_command()))
    assert sm.waiting_journal
    sm.feed(frame(m.SetStateCommandMessage(key=b"k", value=m.Value(content=b"1"))))
    assert not sm.waiting_journal
    assert ready(sm)
    closed = StateMachine(6)
    closed.feed(frame(input_command()))  # not a StartMessage: closed
    assert not closed.waiting_journal
    trickling = StateMachine(6)
    trickling.feed(frame(start(3)) + frame(input_command()))
    assert trickling.waiting_journal
    trickling.notify_error(500, "the runtime disconnected")
    assert not trickling.waiting_journal  # closed: nothing left to wait for


@all_versions
def test_first_frame_not_start(version: int) -> None:
    sm = StateMachine(version)
    sm.feed(frames(input_command(), start(1)))
    assert_protocol_violation(sm)
    assert not sm.ready
    with pytest.raises(AttemptClosed):
        sm.sys_input()


@all_versions
def test_known_entries_zero(version: int) -> None:
    sm = StateMachine(version)
    sm.feed(frame(start(0)))
    assert_protocol_violation(sm)


@all_versions
def test_eof_before_all_entries(version: int) -> None:
    sm = StateMachine(version)
    sm.feed(frames(start(3), input_command()))
    assert not sm.has_output
    sm.feed_eof()
    err = assert_protocol_violation(sm)
    assert "journal" in err.message
    assert sm.input_closed


def test_eof_before_start() -> None:
    sm = StateMachine(6)
    sm.feed_eof()
    assert_protocol_violation(sm)


def test_eof_in_the_middle_of_a_frame() -> None:
    sm = machine(6)
    sm.feed(frame(cancel_signal())[:5])
    sm.feed_eof()
    assert_protocol_violation(sm)


def test_eof_after_bootstrap_is_fine() -> None:
    sm = machine(6)
    sm.feed_eof()
    assert not sm.closed
    assert not sm.has_output
    sm.sys_input()
    sm.sys_write_output(Success(b""))
    sm.sys_end()
    assert types(output(sm)) == [T.OUTPUT_COMMAND, T.END]


@all_versions
def test_command_after_bootstrap(version: int) -> None:
    sm = started(version)
    sm.feed(frame(m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1"))))
    assert_protocol_violation(sm)
    with pytest.raises(AttemptClosed):
        sm.sys_set_state("a", b"1")


def test_command_after_bootstrap_before_input_consumed() -> None:
    sm = machine(6)  # bootstrapped, Input not consumed yet
    sm.feed(frame(m.ClearAllStateCommandMessage()))
    assert_protocol_violation(sm)


def test_journal_not_starting_with_input() -> None:
    sm = StateMachine(6)
    sm.feed(frames(start(1), m.SetStateCommandMessage(key=b"a")))
    assert_protocol_violation(sm)


def test_second_start() -> None:
    sm = started(6)
    sm.feed(frame(start(1)))
    assert_protocol_violation(sm)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encode_frame(T.START, b"\xff\xff\xff"), id="garbage-start-payload"),
        pytest.param(b"\x00" * 8 + b"\x01", id="bad-varint"),
        pytest.param(encode_frame(0x0123, b""), id="unknown-control-type"),
        pytest.param(encode_frame(0xFC00, b""), id="custom-entry"),
        pytest.param(encode_frame(T.START, b"\x0a\x05ab"), id="truncated-field"),
    ],
)
def test_garbage_before_start(data: bytes) -> None:
    sm = StateMachine(6)
    sm.feed(data)  # must not raise
    assert_protocol_violation(sm)
    sm.feed(journal_bytes())  # ignored once closed
    assert not sm.has_output


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encode_frame(T.SLEEP_COMPLETION, b"\xff\xff"), id="undecodable-notification"),
        pytest.param(encode_frame(T.SLEEP_COMPLETION, b"\x22\x00"), id="notification-without-id"),
        pytest.param(encode_frame(0x0123, b""), id="unknown-control-type"),
        pytest.param(encode_frame(0x7000, b""), id="unknown-command-type"),
        pytest.param(encode_frame(0xFC00, b""), id="custom-entry"),
        pytest.param(encode_frame(T.END, b""), id="end-from-runtime"),
        pytest.param(encode_frame(T.ERROR, b""), id="error-from-runtime"),
        pytest.param(encode_frame(T.SUSPENSION, b""), id="suspension-from-runtime"),
        pytest.param(encode_frame(T.PROPOSE_RUN_COMPLETION, b""), id="proposal-from-runtime"),
    ],
)
@all_versions
def test_garbage_after_bootstrap(version: int, data: bytes) -> None:
    sm = started(version)
    sm.feed(data)  # must not raise
    assert_protocol_violation(sm)


def test_garbage_during_bootstrap() -> None:
    sm = StateMachine(6)
    sm.feed(frame(start(2)) + frame(input_command()) + encode_frame(T.RUN_COMPLETION, b"\xff"))
    assert_protocol_violation(sm)


def test_non_utf8_state_key_is_rejected() -> None:
    msg = start(1, partial_state=False)
    msg.state_map.add(key=b"\xff\xfe", value=b"x")
    sm = StateMachine(6)
    sm.feed(frames(msg, input_command()))
    err = error_of(sm)
    assert sm.closed
    assert err.code == 571


def test_oversized_frame_fails_the_attempt() -> None:
    sm = StateMachine(6, max_message_size=256)
    sm.feed(frames(start(1), input_command()))
    sm.sys_input()
    sm.feed(struct.pack(">Q", (T.SLEEP_COMPLETION << 48) | 257))  # only the header arrives
    assert_protocol_violation(sm)


def test_command_ack_is_tolerated() -> None:
    sm = StateMachine(7)
    sm.feed(frames(start(2), m.CommandAckMessage(command_index=0), input_command()))
    sm.feed(frame(lazy_state_completion(7)))  # unrelated, but is the 2nd entry
    assert sm.ready
    sm.sys_input()
    sm.feed(frame(m.CommandAckMessage(command_index=1)))
    assert not sm.closed
    assert not sm.has_output


def test_sys_calls_before_start() -> None:
    sm = StateMachine(6)
    for call in (sm.sys_input, lambda: sm.sys_get_state("a"), sm.sys_end, sm.random_seed):
        with pytest.raises(AttemptClosed):
            call()


def test_input_consumed_twice() -> None:
    sm = started(6)
    with pytest.raises(ProtocolError):
        sm.sys_input()


# =========================================================================== eager state


STATE = {"b": b"22", "a": b"1", "empty": b""}


@all_versions
def test_eager_get_existing(version: int) -> None:
    sm = started(version, state=STATE, partial_state=False)
    assert sm.sys_get_state("a") == EagerValue(b"1")
    assert only(output(sm), T.GET_EAGER_STATE_COMMAND) == m.GetEagerStateCommandMessage(
        key=b"a", value=m.Value(content=b"1")
    )


@all_versions
def test_eager_get_empty_value_is_present(version: int) -> None:
    sm = started(version, state=STATE, partial_state=False)
    assert sm.sys_get_state("empty") == EagerValue(b"")
    msg = only(output(sm), T.GET_EAGER_STATE_COMMAND)
    assert isinstance(msg, m.GetEagerStateCommandMessage)
    assert msg.WhichOneof("result") == "value"
    assert msg.value.content == b""


@all_versions
def test_eager_get_missing(version: int) -> None:
    sm = started(version, state=STATE, partial_state=False)
    assert sm.sys_get_state("nope") == EagerValue(None)
    assert only(output(sm), T.GET_EAGER_STATE_COMMAND) == m.GetEagerStateCommandMessage(
        key=b"nope", void=m.Void()
    )


@all_versions
def test_eager_keys_sorted(version: int) -> None:
    sm = started(version, state=STATE, partial_state=False)
    assert sm.sys_get_state_keys() == ["a", "b", "empty"]
    assert only(output(sm), T.GET_EAGER_STATE_KEYS_COMMAND) == (
        m.GetEagerStateKeysCommandMessage(value=m.StateKeys(keys=[b"a", b"b", b"empty"]))
    )


@all_versions
def test_set_clear_update_local_view(version: int) -> None:
    sm = started(version, state=STATE, partial_state=False)
    sm.sys_set_state("c", b"3")
    sm.sys_clear_state("a")
    assert sm.sys_get_state("c") == EagerValue(b"3")
    assert sm.sys_get_state("a") == EagerValue(None)
    assert sm.sys_get_state_keys() == ["b", "c", "empty"]
    assert output(sm) == [
        (T.SET_STATE_COMMAND, m.SetStateCommandMessage(key=b"c", value=m.Value(content=b"3"))),
        (T.CLEAR_STATE_COMMAND, m.ClearStateCommandMessage(key=b"a")),
        (
            T.GET_EAGER_STATE_COMMAND,
            m.GetEagerStateCommandMessage(key=b"c", value=m.Value(content=b"3")),
        ),
        (T.GET_EAGER_STATE_COMMAND, m.GetEagerStateCommandMessage(key=b"a", void=m.Void())),
        (
            T.GET_EAGER_STATE_KEYS_COMMAND,
            m.GetEagerStateKeysCommandMessage(value=m.StateKeys(keys=[b"b", b"c", b"empty"])),
        ),
    ]


@all_versions
def test_clear_all_makes_partial_state_complete(version: int) -> None:
    sm = started(version, state={"a": b"1"}, partial_state=True)
    sm.sys_clear_all_state()
    assert sm.sys_get_state("a") == EagerValue(None)
    assert sm.sys_get_state("unknown") == EagerValue(None)
    assert sm.sys_get_state_keys() == []
    sm.sys_set_state("z", b"26")
    assert sm.sys_get_state_keys() == ["z"]
    assert types(output(sm)) == [
        T.CLEAR_ALL_STATE_COMMAND,
        T.GET_EAGER_STATE_COMMAND,
        T.GET_EAGER_STATE_COMMAND,
        T.GET_EAGER_STATE_KEYS_COMMAND,
        T.SET_STATE_COMMAND,
        T.GET_EAGER_STATE_KEYS_COMMAND,
    ]


@all_versions
def test_partial_state_known_keys_are_eager(version: int) -> None:
    sm = started(version, state={"a": b"1"}, partial_state=True)
    assert sm.sys_get_state("a") == EagerValue(b"1")  # consumes completion id 1
    assert sm.sys_get_state("b") == NotificationId.completion(2)
    sm.sys_set_state("b", b"2")
    assert sm.sys_get_state("b") == EagerValue(b"2")  # id 3
    sm.sys_clear_state("a")
    assert sm.sys_get_state("a") == EagerValue(None)  # id 4, known absent
    assert sm.sys_get_state("x") == NotificationId.completion(5)
    assert output(sm) == [
        (
            T.GET_EAGER_STATE_COMMAND,
            m.GetEagerStateCommandMessage(key=b"a", value=m.Value(content=b"1")),
        ),
        (T.GET_LAZY_STATE_COMMAND, m.GetLazyStateCommandMessage(key=b"b", result_completion_id=2)),
        (T.SET_STATE_COMMAND, m.SetStateCommandMessage(key=b"b", value=m.Value(content=b"2"))),
        (
            T.GET_EAGER_STATE_COMMAND,
            m.GetEagerStateCommandMessage(key=b"b", value=m.Value(content=b"2")),
        ),
        (T.CLEAR_STATE_COMMAND, m.ClearStateCommandMessage(key=b"a")),
        (T.GET_EAGER_STATE_COMMAND, m.GetEagerStateCommandMessage(key=b"a", void=m.Void())),
        (T.GET_LAZY_STATE_COMMAND, m.GetLazyStateCommandMessage(key=b"x", result_completion_id=5)),
    ]


def test_partial_state_keys_are_lazy() -> None:
    sm = started(6, state={"a": b"1"}, partial_state=True)
    assert sm.sys_get_state_keys() == NotificationId.completion(1)
    assert only(output(sm), T.GET_LAZY_STATE_KEYS_COMMAND) == m.GetLazyStateKeysCommandMessage(
        result_completion_id=1
    )


def test_eager_keys_consume_a_completion_id() -> None:
    sm = started(6, partial_state=False)
    assert sm.sys_get_state_keys() == []
    sm.sys_clear_all_state()
    assert sm.sys_get_state_keys() == []
    sm.sys_set_state("k", b"v")
    sm.sys_clear_state("k")
    assert sm.sys_get_state_keys() == []
    sm.take_output()

    lazy = started(6)
    lazy.sys_get_state_keys()  # 1
    lazy.sys_set_state("a", b"")
    lazy.sys_get_state("q")  # 2
    assert commands(output(lazy))[-1] == m.GetLazyStateCommandMessage(
        key=b"q", result_completion_id=2
    )


# =========================================================================== lazy state


@all_versions
def test_lazy_get_value(version: int) -> None:
    sm = started(version)  # partial_state=True, no state
    nid = sm.sys_get_state("k")
    assert nid == NotificationId.completion(1)
    assert only(output(sm), T.GET_LAZY_STATE_COMMAND) == m.GetLazyStateCommandMessage(
        key=b"k", result_completion_id=1
    )
    assert isinstance(nid, NotificationId)
    assert sm.do_progress(Leaf(nid)) is Progress.WAIT_INPUT
    assert sm.do_progress(Leaf(nid)) is Progress.WAIT_INPUT
    assert sm.result(nid) is None
    sm.feed(frame(lazy_state_completion(1, b"value")))
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == Success(b"value")
    assert not sm.has_output


@all_versions
def test_lazy_get_void(version: int) -> None:
    sm = started(version)
    nid = sm.sys_get_state("k")
    assert isinstance(nid, NotificationId)
    sm.feed(frame(lazy_state_completion(1)))
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == VOID


def test_lazy_completion_ids_follow_program_order() -> None:
    sm = started(6)
    assert sm.sys_get_state("x") == NotificationId.completion(1)
    assert sm.sys_get_state("y") == NotificationId.completion(2)
    assert sm.sys_get_state_keys() == NotificationId.completion(3)
    assert [msg.result_completion_id for msg in commands(output(sm))] == [1, 2, 3]  # type: ignore[attr-defined]

    # Completions in the other order: each await sees its own result.
    sm.feed(frames(lazy_keys_completion(3, ["y", "x"]), lazy_state_completion(2, b"Y")))
    sm.feed(frame(lazy_state_completion(1)))
    assert sm.do_progress(c(1)) is Progress.RESOLVED
    assert sm.result(NotificationId.completion(1)) == VOID
    assert sm.result(NotificationId.completion(2)) == Success(b"Y")
    assert sm.result(NotificationId.completion(3)) == StateKeysResult(("y", "x"))
    assert sm.do_progress(c(2)) is Progress.RESOLVED
    # Race positions follow arrival order: 3 came first, then 2, then 1.
    race = Node(Combinator.FIRST_COMPLETED, (c(1), c(2), c(3)))
    assert sm.resolved_at(race) == 0
    assert sm.resolved_at(c(1)) == 2
    assert sm.resolved_at(c(99)) is None


@all_versions
def test_failure_completion_keeps_metadata(version: int) -> None:
    sm = started(version)
    nid = sm.sys_get_state("k")
    assert isinstance(nid, NotificationId)
    failure = m.Failure(code=500, message="x", metadata=[m.FailureMetadata(key="k", value="v")])
    sm.feed(frame(m.GetLazyStateCompletionNotificationMessage(completion_id=1, failure=failure)))
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == Failure(500, "x", {"k": "v"})


# =========================================================================== suspension


@pytest.mark.parametrize("version", [5, 6])
def test_suspension_lists(version: int) -> None:
    sm = started(version)
    nid = sm.sys_get_state("k")
    assert isinstance(nid, NotificationId)
    sm.take_output()
    sm.feed_eof()
    assert sm.do_progress(Leaf(nid)) is Progress.SUSPENDED
    data = sm.take_output()
    assert data == frame(m.SuspensionMessage(waiting_completions=[1], waiting_signals=[1]))
    # Repeated scalars are emitted packed (§2): field 1 [1], field 2 [1].
    assert data == bytes.fromhex("0001000000000006 0a0101 120101")
    assert sm.phase is Phase.CLOSED
    with pytest.raises(AttemptClosed):
        sm.do_progress(Leaf(nid))


def test_suspension_v7_future() -> None:
    sm = started(7)
    nid = sm.sys_get_state("k")
    assert isinstance(nid, NotificationId)
    sm.take_output()
    sm.feed_eof()
    assert sm.do_progress(Leaf(nid)) is Progress.SUSPENDED
    msg = only(output(sm), T.SUSPENSION)
    assert isinstance(msg, m.SuspensionMessage)
    assert list(msg.waiting_completions) == []
    assert list(msg.waiting_signals) == []
    assert list(msg.waiting_named_signals) == []
    assert msg == m.SuspensionMessage(
        awaiting_on=m.Future(
            combinator_type=m.CombinatorType.FIRST_COMPLETED,
            waiting_completions=[1],
            waiting_signals=[1],
        )
    )
    assert sm.closed


def _await_all_of_two(version: int) -> StateMachine:
    sm = started(version)
    sm.sys_get_state("a")
    sm.sys_get_state("b")
    sm.take_output()
    sm.feed(frame(lazy_state_completion(1, b"A")))
    tree = Node(Combinator.ALL_COMPLETED, (c(1), c(2)))
    assert sm.do_progress(tree) is Progress.WAIT_INPUT
    sm.feed_eof()
    assert sm.do_progress(tree) is Progress.SUSPENDED
    return sm


@pytest.mark.parametrize("version", [5, 6])
def test_suspension_lists_exclude_completed_leaves(version: int) -> None:
    msg = only(output(_await_all_of_two(version)), T.SUSPENSION)
    assert msg == m.SuspensionMessage(waiting_completions=[2], waiting_signals=[1])


def test_suspension_v7_prunes_the_tree() -> None:
    msg = only(output(_await_all_of_two(7)), T.SUSPENSION)
    assert msg == m.SuspensionMessage(
        awaiting_on=m.Future(
            combinator_type=m.CombinatorType.FIRST_COMPLETED,
            waiting_signals=[1],
            nested_futures=[
                m.Future(combinator_type=m.CombinatorType.ALL_COMPLETED, waiting_completions=[2])
            ],
        )
    )


@all_versions
def test_suspension_after_cancel_was_reported(version: int) -> None:
    sm = started(version)
    sm.sys_get_state("k")
    sm.take_output()
    sm.feed(frame(cancel_signal()))
    assert sm.do_progress(c(1)) is Progress.CANCELLED
    sm.feed_eof()
    assert sm.do_progress(c(1)) is Progress.SUSPENDED
    msg = only(output(sm), T.SUSPENSION)
    if version == 7:
        assert msg == m.SuspensionMessage(
            awaiting_on=m.Future(
                combinator_type=m.CombinatorType.FIRST_COMPLETED, waiting_completions=[1]
            )
        )
    else:
        assert msg == m.SuspensionMessage(waiting_completions=[1])


@all_versions
def test_eof_then_completion_in_buffer_resolves(version: int) -> None:
    sm = started(version)
    sm.sys_get_state("k")
    sm.feed(frame(lazy_state_completion(1, b"v")))
    sm.feed_eof()
    assert sm.do_progress(c(1)) is Progress.RESOLVED
    assert not sm.closed


# =========================================================================== replay


def _handler_flow(sm: StateMachine) -> list[object]:
    """get lazy "k" → await → set "k" → clear "other" → output → end. Returns observations."""
    seen: list[object] = [sm.sys_input()]
    nid = sm.sys_get_state("k")
    assert isinstance(nid, NotificationId)
    progress = sm.do_progress(Leaf(nid))
    if progress is Progress.WAIT_INPUT:
        sm.feed(frame(lazy_state_completion(nid.value, b"old")))  # type: ignore[arg-type]
        progress = sm.do_progress(Leaf(nid))
    assert progress is Progress.RESOLVED
    seen.append(sm.result(nid))
    seen.append(sm.phase)
    sm.sys_set_state("k", b"new")
    seen.append(sm.phase)
    sm.sys_clear_state("other")
    seen.append(sm.phase)
    sm.sys_write_output(Success(b"done"))
    sm.sys_end()
    return seen


@all_versions
def test_replay_of_own_journal(version: int) -> None:
    a = started_machine = StateMachine(version)
    started_machine.feed(journal_bytes(body=b"in"))
    observed_a = _handler_flow(a)
    transcript_a = output(a)
    assert types(transcript_a) == [
        T.GET_LAZY_STATE_COMMAND,
        T.SET_STATE_COMMAND,
        T.CLEAR_STATE_COMMAND,
        T.OUTPUT_COMMAND,
        T.END,
    ]
    get, set_, clear, out = commands(transcript_a)

    # Attempt 2: the journal holds everything up to the ClearState, plus the completion.
    b = StateMachine(version)
    b.feed(journal_bytes([get, lazy_state_completion(1, b"old"), set_, clear], body=b"in"))
    observed_b = _handler_flow(b)
    assert observed_b[:2] == observed_a[:2]  # same input, same state read
    assert observed_b[2:] == [Phase.REPLAYING, Phase.REPLAYING, Phase.PROCESSING]
    assert observed_a[2:] == [Phase.PROCESSING] * 3
    assert output(b) == [(T.OUTPUT_COMMAND, out), (T.END, m.EndMessage())]

    # Attempt 3: the whole journal including Output: only End is left to write.
    c3 = StateMachine(version)
    c3.feed(journal_bytes([get, lazy_state_completion(1, b"old"), set_, clear, out], body=b"in"))
    assert _handler_flow(c3)[:2] == observed_a[:2]
    assert output(c3) == [(T.END, m.EndMessage())]


@all_versions
def test_resume_after_suspension(version: int) -> None:
    a = started(version)
    nid = a.sys_get_state("k")
    a.feed_eof()
    assert a.do_progress(Leaf(nid)) is Progress.SUSPENDED  # type: ignore[arg-type]
    transcript = output(a)
    assert types(transcript) == [T.GET_LAZY_STATE_COMMAND, T.SUSPENSION]

    b = machine(version, [*commands(transcript), lazy_state_completion(1, b"old")])
    b.sys_input()
    assert b.phase is Phase.REPLAYING
    nid_b = b.sys_get_state("k")
    # Processing right after the last replayed command, although its completion is still queued.
    assert phase(b) is Phase.PROCESSING
    assert nid_b == nid
    assert isinstance(nid_b, NotificationId)
    assert not b.has_output
    assert b.do_progress(Leaf(nid_b)) is Progress.RESOLVED
    assert b.result(nid_b) == Success(b"old")
    b.sys_set_state("k", b"new")
    b.sys_write_output(Success(b"done"))
    b.sys_end()
    assert output(b) == [
        (T.SET_STATE_COMMAND, m.SetStateCommandMessage(key=b"k", value=m.Value(content=b"new"))),
        (T.OUTPUT_COMMAND, m.OutputCommandMessage(value=m.Value(content=b"done"))),
        (T.END, m.EndMessage()),
    ]


def test_replay_applies_state_changes_to_local_view() -> None:
    journal = [
        m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1")),
        m.ClearStateCommandMessage(key=b"gone"),
    ]
    sm = started(6, journal, state={"gone": b"x"}, partial_state=True)
    sm.sys_set_state("a", b"1")
    sm.sys_clear_state("gone")
    assert sm.phase is Phase.PROCESSING
    assert not sm.has_output
    assert sm.sys_get_state("a") == EagerValue(b"1")
    assert sm.sys_get_state("gone") == EagerValue(None)


def test_replay_clear_all_then_eager_reads() -> None:
    sm = started(6, [m.ClearAllStateCommandMessage()], state={"a": b"1"}, partial_state=True)
    sm.sys_clear_all_state()
    assert sm.sys_get_state("a") == EagerValue(None)
    assert sm.sys_get_state_keys() == []


# ---------------------------------------------------------------- state reads on replay


@all_versions
def test_replayed_eager_read_with_value(version: int) -> None:
    journal = [m.GetEagerStateCommandMessage(key=b"k", value=m.Value(content=b"v"))]
    sm = started(version, journal)  # no state in Start: the result comes from the journal
    assert sm.sys_get_state("k") == EagerValue(b"v")
    assert sm.phase is Phase.PROCESSING
    assert sm.sys_get_state("other") == NotificationId.completion(2)  # id 1 was consumed
    assert commands(output(sm)) == [
        m.GetLazyStateCommandMessage(key=b"other", result_completion_id=2)
    ]


@all_versions
def test_replayed_eager_read_void(version: int) -> None:
    journal = [m.GetEagerStateCommandMessage(key=b"k", void=m.Void())]
    sm = started(version, journal, state={"k": b"now-present"}, partial_state=False)
    assert sm.sys_get_state("k") == EagerValue(None)
    assert not sm.has_output


@all_versions
def test_replayed_lazy_read_against_eager_state(version: int) -> None:
    journal = [
        m.GetLazyStateCommandMessage(key=b"k", result_completion_id=1),
        lazy_state_completion(1, b"recorded"),
    ]
    sm = started(version, journal, state={"k": b"local"}, partial_state=False)
    nid = sm.sys_get_state("k")
    assert nid == NotificationId.completion(1)
    assert sm.do_progress(c(1)) is Progress.RESOLVED
    assert sm.result(NotificationId.completion(1)) == Success(b"recorded")
    assert not sm.has_output


def test_replayed_keys_reads() -> None:
    eager = started(6, [m.GetEagerStateKeysCommandMessage(value=m.StateKeys(keys=[b"b", b"a"]))])
    assert eager.sys_get_state_keys() == ["a", "b"]
    assert not eager.has_output

    journal = [
        m.GetLazyStateKeysCommandMessage(result_completion_id=1),
        lazy_keys_completion(1, ["x"]),
    ]
    lazy = started(6, journal, partial_state=False)
    nid = lazy.sys_get_state_keys()
    assert nid == NotificationId.completion(1)
    assert lazy.do_progress(c(1)) is Progress.RESOLVED
    assert lazy.result(NotificationId.completion(1)) == StateKeysResult(("x",))
    assert not lazy.has_output


@pytest.mark.parametrize(
    "recorded",
    [
        pytest.param(m.GetEagerStateCommandMessage(key=b"other", void=m.Void()), id="eager-key"),
        pytest.param(
            m.GetLazyStateCommandMessage(key=b"other", result_completion_id=1), id="lazy-key"
        ),
        pytest.param(m.GetLazyStateCommandMessage(key=b"k", result_completion_id=2), id="lazy-id"),
        pytest.param(m.GetLazyStateKeysCommandMessage(result_completion_id=1), id="keys-cmd"),
        pytest.param(m.SetStateCommandMessage(key=b"k"), id="set-cmd"),
    ],
)
def test_replayed_state_read_mismatch(recorded: m.Message) -> None:
    sm = started(6, [recorded])
    with pytest.raises(JournalMismatch):
        sm.sys_get_state("k")
    err = assert_journal_mismatch(sm)
    assert err.related_command_index == 1


def test_replayed_keys_read_mismatch() -> None:
    sm = started(6, [m.GetEagerStateCommandMessage(key=b"k", void=m.Void())])
    with pytest.raises(JournalMismatch):
        sm.sys_get_state_keys()
    assert_journal_mismatch(sm)


# ---------------------------------------------------------------- journal mismatch


@all_versions
def test_mismatch_set_state_key(version: int) -> None:
    sm = started(version, [m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1"))])
    with pytest.raises(JournalMismatch) as info:
        sm.sys_set_state("b", b"1")
    assert info.value.code == 570
    err = assert_journal_mismatch(sm)
    assert err.HasField("related_command_index")
    assert err.related_command_index == 1
    assert err.HasField("related_command_type")
    assert err.related_command_type == T.SET_STATE_COMMAND
    assert not err.HasField("related_command_name")
    assert sm.phase is Phase.CLOSED
    with pytest.raises(AttemptClosed):
        sm.sys_set_state("a", b"1")
    with pytest.raises(AttemptClosed):
        sm.sys_end()


def test_mismatch_set_state_value() -> None:
    sm = started(6, [m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1"))])
    with pytest.raises(JournalMismatch):
        sm.sys_set_state("a", b"2")
    assert_journal_mismatch(sm)


@all_versions
def test_mismatch_command_type(version: int) -> None:
    sm = started(version, [m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1"))])
    with pytest.raises(JournalMismatch):
        sm.sys_clear_state("a")
    err = assert_journal_mismatch(sm)
    assert err.related_command_index == 1
    assert err.related_command_type == T.CLEAR_STATE_COMMAND  # what the handler issued


def test_mismatch_at_later_index() -> None:
    journal = [
        m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1")),
        m.ClearAllStateCommandMessage(),
    ]
    sm = started(6, journal)
    sm.sys_set_state("a", b"1")
    with pytest.raises(JournalMismatch):
        sm.sys_clear_state("x")
    assert assert_journal_mismatch(sm).related_command_index == 2


def test_mismatch_output_value() -> None:
    sm = started(6, [m.OutputCommandMessage(value=m.Value(content=b"x"))])
    with pytest.raises(JournalMismatch):
        sm.sys_write_output(Success(b"y"))
    assert assert_journal_mismatch(sm).related_command_type == T.OUTPUT_COMMAND


def test_mismatch_output_failure_vs_value() -> None:
    sm = started(6, [m.OutputCommandMessage(value=m.Value(content=b"x"))])
    with pytest.raises(JournalMismatch):
        sm.sys_write_output(Failure(500, "x"))
    assert_journal_mismatch(sm)


@all_versions
def test_mismatch_handler_finished_early(version: int) -> None:
    sm = started(version, [m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1"))])
    with pytest.raises(JournalMismatch):
        sm.sys_end()
    err = assert_journal_mismatch(sm)
    assert "journal" in err.message


@all_versions
def test_mismatch_await_added_during_replay(version: int) -> None:
    journal = [
        m.GetLazyStateCommandMessage(key=b"k", result_completion_id=1),
        m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1")),
    ]
    sm = started(version, journal)
    nid = sm.sys_get_state("k")
    assert sm.phase is Phase.REPLAYING
    with pytest.raises(JournalMismatch):
        sm.do_progress(Leaf(nid))  # type: ignore[arg-type]
    assert_journal_mismatch(sm)


def test_await_resolvable_during_replay_is_fine() -> None:
    journal = [
        m.GetLazyStateCommandMessage(key=b"k", result_completion_id=1),
        lazy_state_completion(1, b"v"),
        m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1")),
    ]
    sm = started(6, journal)
    assert sm.do_progress(Leaf(sm.sys_get_state("k"))) is Progress.RESOLVED  # type: ignore[arg-type]
    assert sm.phase is Phase.REPLAYING
    sm.sys_set_state("a", b"1")
    assert phase(sm) is Phase.PROCESSING


# =========================================================================== cancellation


@all_versions
def test_cancel_reported_once(version: int) -> None:
    sm = started(version)
    nid = sm.sys_get_state("k")
    assert isinstance(nid, NotificationId)
    assert sm.do_progress(Leaf(nid)) is Progress.WAIT_INPUT
    sm.feed(frame(cancel_signal()))
    assert sm.do_progress(Leaf(nid)) is Progress.CANCELLED
    assert sm.result(CANCEL) == VOID
    # Not sticky: the next awaits behave normally.
    assert sm.do_progress(Leaf(nid)) is Progress.WAIT_INPUT
    sm.feed(frame(lazy_state_completion(1, b"v")))
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == Success(b"v")
    nid2 = sm.sys_get_state("k2")
    assert sm.do_progress(Leaf(nid2)) is Progress.WAIT_INPUT  # type: ignore[arg-type]
    assert not sm.closed


def test_cancel_after_resolving_notification() -> None:
    sm = started(6)
    sm.sys_get_state("a")
    sm.sys_get_state("b")
    sm.feed(frames(lazy_state_completion(1, b"A"), cancel_signal()))
    assert sm.do_progress(c(1)) is Progress.RESOLVED  # the completion came first
    assert sm.do_progress(c(2)) is Progress.CANCELLED
    assert sm.do_progress(c(2)) is Progress.WAIT_INPUT


def test_cancel_before_resolving_notification() -> None:
    sm = started(6)
    sm.sys_get_state("a")
    sm.feed(frames(cancel_signal(), lazy_state_completion(1, b"A")))
    assert sm.do_progress(c(1)) is Progress.CANCELLED
    assert sm.do_progress(c(1)) is Progress.RESOLVED


def test_cancel_replayed_from_journal() -> None:
    journal = [
        m.GetLazyStateCommandMessage(key=b"k", result_completion_id=1),
        cancel_signal(),
    ]
    sm = started(6, journal)
    nid = sm.sys_get_state("k")
    assert sm.do_progress(Leaf(nid)) is Progress.CANCELLED  # type: ignore[arg-type]
    sm.sys_write_output(Failure(409, "cancelled"))
    sm.sys_end()
    assert types(output(sm)) == [T.OUTPUT_COMMAND, T.END]


# =========================================================================== errors


@all_versions
def test_notify_error_once(version: int) -> None:
    sm = started(version)
    sm.notify_error(500, "boom", "Traceback...")
    assert sm.take_output() == frame(
        m.ErrorMessage(code=500, message="boom", stacktrace="Traceback...")
    )
    assert sm.closed
    assert sm.failure == (500, "boom")
    sm.notify_error(501, "again")
    assert not sm.has_output
    assert sm.failure == (500, "boom")
    for call in (
        sm.sys_input,
        lambda: sm.sys_get_state("a"),
        sm.sys_get_state_keys,
        lambda: sm.sys_set_state("a", b""),
        lambda: sm.sys_clear_state("a"),
        sm.sys_clear_all_state,
        lambda: sm.sys_write_output(Success(b"")),
        sm.sys_end,
        lambda: sm.do_progress(c(1)),
    ):
        with pytest.raises(AttemptClosed):
            call()
    sm.feed(frame(lazy_state_completion(1)))
    sm.feed_eof()
    assert not sm.has_output


def test_notify_error_with_retry_delay_and_related_command() -> None:
    sm = started(6)
    sm.sys_set_state("a", b"1")
    sm.take_output()
    sm.notify_error(500, "boom", next_retry_delay_ms=700, related_to_last_command=True)
    err = error_of(sm)
    assert err.next_retry_delay == 700
    assert err.related_command_index == 1
    assert err.related_command_type == T.SET_STATE_COMMAND


def test_notify_error_after_end_is_a_no_op() -> None:
    sm = started(6)
    sm.sys_write_output(Success(b""))
    sm.sys_end()
    sm.take_output()
    sm.notify_error(500, "late")
    assert not sm.has_output
    assert sm.failure is None


def test_notify_error_before_start() -> None:
    sm = StateMachine(6)
    sm.notify_error(500, "nope")
    assert error_of(sm).code == 500


def test_error_codes() -> None:
    assert JournalMismatch("x").code == 570
    assert ProtocolViolation("x").code == 571
    assert issubclass(JournalMismatch, AttemptClosed)


# =========================================================================== V7 run ack


def test_v7_unknown_run_ack() -> None:
    sm = started(7)
    sm.feed(frame(m.ProposeRunCompletionAckMessage(completion_id=1)))
    assert_protocol_violation(sm)


def test_v7_run_ack_during_bootstrap() -> None:
    sm = StateMachine(7)
    sm.feed(frames(start(2), input_command(), m.ProposeRunCompletionAckMessage(completion_id=1)))
    assert_protocol_violation(sm)


@pytest.mark.parametrize("version", [5, 6])
def test_run_ack_before_v7(version: int) -> None:
    sm = started(version)
    sm.feed(frame(m.ProposeRunCompletionAckMessage(completion_id=1)))
    assert_protocol_violation(sm)


# =========================================================================== version switches


@pytest.mark.parametrize("version", [6, 7])
def test_random_seed_from_start(version: int) -> None:
    sm = machine(version, random_seed=5024088754314479656)
    assert sm.random_seed() == 5024088754314479656


def test_random_seed_v5_derived_from_id() -> None:
    sm = machine(5, random_seed=5024088754314479656)  # the server sends it on V5 too: ignored
    expected = struct.unpack(">Q", hashlib.sha256(INVOCATION_ID).digest()[:8])[0]
    assert sm.random_seed() == expected
    other = machine(5, invocation_id=b"\x00" * 24)
    assert other.random_seed() == int.from_bytes(hashlib.sha256(b"\x00" * 24).digest()[:8], "big")
    assert other.random_seed() != expected


FAILURE = Failure(500, "boom", {"z": "1", "a": "2", "m": "3"})


def test_failure_metadata_dropped_on_v5() -> None:
    sm = started(5)
    sm.sys_write_output(FAILURE)
    msg = commands(output(sm))[0]
    assert msg == m.OutputCommandMessage(failure=m.Failure(code=500, message="boom"))


@pytest.mark.parametrize("version", [6, 7])
def test_failure_metadata_kept_sorted(version: int) -> None:
    sm = started(version)
    sm.sys_write_output(FAILURE)
    msg = commands(output(sm))[0]
    assert msg == m.OutputCommandMessage(
        failure=m.Failure(
            code=500,
            message="boom",
            metadata=[
                m.FailureMetadata(key="a", value="2"),
                m.FailureMetadata(key="m", value="3"),
                m.FailureMetadata(key="z", value="1"),
            ],
        )
    )


@all_versions
def test_replay_of_failure_output(version: int) -> None:
    a = started(version)
    a.sys_write_output(FAILURE)
    recorded = commands(output(a))
    b = started(version, recorded)
    b.sys_write_output(FAILURE)
    b.sys_end()
    assert output(b) == [(T.END, m.EndMessage())]


# =========================================================================== more shapes


def _suspend_on_mixed_tree(version: int) -> StateMachine:
    sm = started(version)
    sm.sys_get_state("k")
    sm.take_output()
    sm.feed_eof()
    tree = Node(
        Combinator.ALL_SUCCEEDED_OR_FIRST_FAILED,
        (
            c(1),
            Node(
                Combinator.FIRST_COMPLETED,
                (Leaf(NotificationId.signal(17)), Leaf(NotificationId.named("x"))),
            ),
        ),
    )
    assert sm.do_progress(tree) is Progress.SUSPENDED
    return sm


@pytest.mark.parametrize("version", [5, 6])
def test_suspension_lists_mixed_tree(version: int) -> None:
    msg = only(output(_suspend_on_mixed_tree(version)), T.SUSPENSION)
    assert msg == m.SuspensionMessage(
        waiting_completions=[1], waiting_signals=[17, 1], waiting_named_signals=["x"]
    )


def test_suspension_v7_mixed_tree() -> None:
    msg = only(output(_suspend_on_mixed_tree(7)), T.SUSPENSION)
    assert msg == m.SuspensionMessage(
        awaiting_on=m.Future(
            combinator_type=m.CombinatorType.FIRST_COMPLETED,
            waiting_signals=[1],
            nested_futures=[
                m.Future(
                    combinator_type=m.CombinatorType.ALL_SUCCEEDED_OR_FIRST_FAILED,
                    waiting_completions=[1],
                    nested_futures=[
                        m.Future(
                            combinator_type=m.CombinatorType.FIRST_COMPLETED,
                            waiting_signals=[17],
                            waiting_named_signals=["x"],
                        )
                    ],
                )
            ],
        )
    )


def test_signal_notifications_by_index_and_name() -> None:
    sm = started(6)
    sm.feed(
        frames(
            m.SignalNotificationMessage(idx=17, value=m.Value(content=b'"payload"')),
            m.SignalNotificationMessage(name="approve", failure=m.Failure(code=400, message="no")),
        )
    )
    s17, named = NotificationId.signal(17), NotificationId.named("approve")
    assert sm.do_progress(Leaf(named)) is Progress.RESOLVED
    assert sm.result(s17) == Success(b'"payload"')
    assert sm.result(named) == Failure(400, "no")


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_bootstrap_in_arbitrary_chunks(data: st.DataObject) -> None:
    journal = [
        m.GetLazyStateCommandMessage(key=b"k", result_completion_id=1),
        lazy_state_completion(1, b"v"),
        m.SetStateCommandMessage(key=b"a", value=m.Value(content=b"1")),
    ]
    encoded = journal_bytes(journal, body=b"body")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=12)))
    bounds = [0, *cuts, len(encoded)]
    sm = StateMachine(data.draw(st.sampled_from(VERSIONS)))
    for a, b in itertools.pairwise(bounds):
        sm.feed(encoded[a:b])
    assert not sm.closed
    assert sm.sys_input().value == b"body"
    nid = sm.sys_get_state("k")
    assert isinstance(nid, NotificationId)
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == Success(b"v")
    sm.sys_set_state("a", b"1")
    assert phase(sm) is Phase.PROCESSING
    assert not sm.has_output
