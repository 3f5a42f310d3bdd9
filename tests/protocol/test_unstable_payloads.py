"""Payloads of non-deterministic codecs: their bytes are exempt from replay comparison."""

from __future__ import annotations

import pytest
from transcripts import error_of, started

from restate_trio._protocol import messages as m
from restate_trio._protocol.errors import JournalMismatch


def set_state(value: bytes) -> m.SetStateCommandMessage:
    return m.SetStateCommandMessage(key=b"k", value=m.Value(content=value))


def test_unstable_state_value_replays_with_other_bytes() -> None:
    sm = started(6, [set_state(b"{b:1,a:2}")])
    sm.sys_set_state("k", b"{a:2,b:1}", unstable=True)
    assert not sm.closed


def test_stable_state_value_must_replay_byte_for_byte() -> None:
    sm = started(6, [set_state(b"{b:1,a:2}")])
    with pytest.raises(JournalMismatch):
        sm.sys_set_state("k", b"{a:2,b:1}")
    assert error_of(sm).code == 570


def test_unstable_payload_still_checks_the_rest_of_the_command() -> None:
    sm = started(6, [set_state(b"1")])
    with pytest.raises(JournalMismatch):
        sm.sys_set_state("other", b"1", unstable=True)


def test_unstable_call_parameter() -> None:
    recorded = m.CallCommandMessage(
        service_name="S",
        handler_name="h",
        parameter=b"x",
        invocation_id_notification_idx=1,
        result_completion_id=2,
    )
    sm = started(7, [recorded])
    sm.sys_call("S", "h", b"y", unstable=True)
    assert not sm.closed
    sm2 = started(7, [recorded])
    with pytest.raises(JournalMismatch):
        sm2.sys_call("T", "h", b"y", unstable=True)
