"""Replay comparison and journal mismatches as data (restate_trio._protocol.replay)."""

from __future__ import annotations

import pytest
from transcripts import assert_closed_with, started

from restate_trio._protocol import messages as m, replay
from restate_trio._protocol.errors import JournalMismatch
from restate_trio._protocol.futures import Leaf
from restate_trio._protocol.machine import StateMachine
from restate_trio._protocol.replay import CommandSummary, Mismatch, MismatchKind
from restate_trio._protocol.types import NotificationId

T = m.MessageType


def _run(name: str, cid: int = 1) -> m.RunCommandMessage:
    return m.RunCommandMessage(result_completion_id=cid, name=name)


def _set(key: bytes, value: bytes = b"1") -> m.SetStateCommandMessage:
    return m.SetStateCommandMessage(key=key, value=m.Value(content=value))


def _mismatch_of(sm: StateMachine, error: JournalMismatch) -> Mismatch:
    """The mismatch the exception carries, which the machine also keeps; 570 was written."""
    assert_closed_with(sm, 570)
    assert error.mismatch is not None
    assert sm.mismatch is error.mismatch
    assert sm.failure == (570, error.message)
    return error.mismatch


# ---------------------------------------------------------------------- mismatch kinds


@pytest.mark.parametrize("version", [5, 6, 7])
def test_different_command_names_both_commands(version: int) -> None:
    sm = started(version, [_set(b"a"), _run("charge", cid=1)])
    sm.sys_set_state("a", b"1")
    with pytest.raises(JournalMismatch) as info:
        sm.sys_run("refund")
    mismatch = _mismatch_of(sm, info.value)
    assert mismatch == Mismatch(
        kind=MismatchKind.DIFFERENT_COMMAND,
        command_index=2,
        expected=CommandSummary(T.RUN_COMMAND, "charge"),
        actual=CommandSummary(T.RUN_COMMAND, "refund"),
        remaining=1,
    )
    assert mismatch.expected.type_name == "RUN_COMMAND"
    assert "journal mismatch at command 2" in info.value.message
    assert "refund" in info.value.message
    assert "charge" in info.value.message


def test_different_command_type() -> None:
    sm = started(6, [_set(b"a"), _set(b"b"), _set(b"c")])
    with pytest.raises(JournalMismatch) as info:
        sm.sys_clear_state("a")
    mismatch = _mismatch_of(sm, info.value)
    assert mismatch.kind is MismatchKind.DIFFERENT_COMMAND
    assert mismatch.command_index == 1
    assert mismatch.expected == CommandSummary(T.SET_STATE_COMMAND, "")
    assert mismatch.actual == CommandSummary(T.CLEAR_STATE_COMMAND, "")
    assert mismatch.remaining == 3


def test_handler_ended_names_the_next_recorded_command() -> None:
    sm = started(6, [_set(b"a"), _run("charge", cid=1), _set(b"b")])
    sm.sys_set_state("a", b"1")
    with pytest.raises(JournalMismatch) as info:
        sm.sys_end()
    mismatch = _mismatch_of(sm, info.value)
    assert mismatch == Mismatch(
        kind=MismatchKind.HANDLER_ENDED,
        command_index=2,
        expected=CommandSummary(T.RUN_COMMAND, "charge"),
        actual=None,
        remaining=2,
    )
    assert "2 more recorded command(s)" in info.value.message
    assert "RUN_COMMAND 'charge' at command 2" in info.value.message


def test_await_added_names_the_next_recorded_command() -> None:
    journal = [m.GetLazyStateCommandMessage(key=b"k", result_completion_id=1), _run("x", 2)]
    sm = started(7, journal)
    nid = sm.sys_get_state("k")
    assert isinstance(nid, NotificationId)
    with pytest.raises(JournalMismatch) as info:
        sm.do_progress(Leaf(nid))
    mismatch = _mismatch_of(sm, info.value)
    assert mismatch == Mismatch(
        kind=MismatchKind.AWAIT_ADDED,
        command_index=2,
        expected=CommandSummary(T.RUN_COMMAND, "x"),
        actual=None,
        remaining=1,
    )
    assert "an await was added" in info.value.message


def test_no_mismatch_without_divergence() -> None:
    sm = started(6, [_set(b"a")])
    sm.sys_set_state("a", b"1")
    sm.sys_end()
    assert sm.mismatch is None
    assert sm.closed
    assert sm.failure is None


def test_other_failures_leave_no_mismatch() -> None:
    sm = started(6)
    sm.notify_error(500, "boom")
    assert sm.failure == (500, "boom")
    assert sm.mismatch is None


def test_journal_mismatch_without_data() -> None:
    error = JournalMismatch("x")
    assert error.mismatch is None
    assert error.code == 570


# ---------------------------------------------------------------------- summaries


def test_summary_of_names_and_types() -> None:
    signal = m.SendSignalCommandMessage(target_invocation_id="inv", name="sig", entry_name="e")
    assert CommandSummary.of(T.SEND_SIGNAL_COMMAND, signal) == CommandSummary(
        T.SEND_SIGNAL_COMMAND, "e"
    )
    assert str(CommandSummary(T.RUN_COMMAND, "charge")) == "RUN_COMMAND 'charge'"
    assert str(CommandSummary(T.CLEAR_ALL_STATE_COMMAND, "")) == "CLEAR_ALL_STATE_COMMAND"
    assert CommandSummary(0x7ABC, "").type_name == "0x7abc"


# ---------------------------------------------------------------------- comparisons


def test_default_compare_ignores_clock_and_runtime_fields() -> None:
    a = m.SleepCommandMessage(wake_up_time=1, result_completion_id=1, name="n")
    b = m.SleepCommandMessage(wake_up_time=2, result_completion_id=5, name="n")
    c = m.SleepCommandMessage(wake_up_time=1, result_completion_id=1, name="other")
    sleep = T.SLEEP_COMMAND
    assert replay.default_compare(sleep, a, sleep, b)
    assert not replay.default_compare(sleep, a, sleep, c)
    assert not replay.default_compare(sleep, a, T.RUN_COMMAND, a)


def test_comparer_selection() -> None:
    assert replay.comparer(None, unstable=False) is replay.default_compare
    assert replay.comparer(None, unstable=True) is replay.compare_without_payload
    assert replay.comparer(replay.same_type, unstable=True) is replay.same_type


def test_compare_without_payload_keeps_value_versus_void() -> None:
    out = T.OUTPUT_COMMAND
    value = m.OutputCommandMessage(value=m.Value(content=b"1"))
    other_value = m.OutputCommandMessage(value=m.Value(content=b"2"))
    failure = m.OutputCommandMessage(failure=m.Failure(code=500, message="x"))
    assert replay.compare_without_payload(out, value, out, other_value)
    assert not replay.default_compare(out, value, out, other_value)
    assert not replay.compare_without_payload(out, value, out, failure)


def test_state_read_replays_against_eager_or_lazy() -> None:
    lazy = m.GetLazyStateCommandMessage(key=b"k", result_completion_id=3)
    eager = m.GetEagerStateCommandMessage(key=b"k", value=m.Value(content=b"v"))
    other = m.GetEagerStateCommandMessage(key=b"j", void=m.Void())
    lazy_t, eager_t = T.GET_LAZY_STATE_COMMAND, T.GET_EAGER_STATE_COMMAND
    assert replay.compare_state_read(lazy_t, lazy, eager_t, eager)
    assert not replay.compare_state_read(lazy_t, lazy, eager_t, other)
    assert replay.compare_state_read(lazy_t, lazy, lazy_t, lazy)
