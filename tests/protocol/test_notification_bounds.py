"""What the state machine holds of the notifications the runtime sends (machine.py, ``_admit``).

A notification waits in the machine until the handler asks for it, so a peer must not be able
to make it hold notifications without limit: a repeat is dropped; after the replayed journal, a
completion for an id no command has is a protocol violation (571); signals nobody has asked for
yet are capped (500, Restate retries, and the next attempt gets them with its journal). None of
this may refuse what Restate legitimately sends: during the bootstrap anything goes, and after
it the completions of journaled commands the handler has not replayed yet, cancel, signals of
awakeables created, and early signals (up to the cap) are all fine.
"""

from __future__ import annotations

import tracemalloc

import pytest
from transcripts import (
    assert_closed_with,
    call_completion,
    call_invocation_id,
    cancel_signal,
    frame,
    frames,
    input_command,
    lazy_state_completion,
    machine,
    output,
    run_completion,
    signal,
    sleep_completion,
    start,
    started,
    types,
)

from restate_trio._protocol import messages as m
from restate_trio._protocol.futures import Leaf
from restate_trio._protocol.machine import MAX_UNMATCHED_SIGNALS, Progress, StateMachine
from restate_trio._protocol.types import NotificationId, Success

T = m.MessageType
all_versions = pytest.mark.parametrize("version", [5, 6, 7])


def named_signal(name: str, value: bytes = b"") -> m.SignalNotificationMessage:
    return m.SignalNotificationMessage(name=name, value=m.Value(content=value))


def resolved(sm: StateMachine, nid: NotificationId) -> object:
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    return sm.result(nid)


# ---------------------------------------------------------------------------- completions


@all_versions
def test_a_completion_for_an_id_never_allocated_is_a_protocol_violation(version: int) -> None:
    sm = started(version)
    sm.sys_sleep(1_000)  # completion id 1
    assert types(output(sm)) == [T.SLEEP_COMMAND]
    sm.feed(frame(sleep_completion(2)))
    err = assert_closed_with(sm, 571)
    assert "completion id 2" in err.message


@all_versions
def test_completions_for_allocated_ids_are_held_in_any_order(version: int) -> None:
    sm = started(version)
    id_nid, result_nid = sm.sys_call("Svc", "h", b"")  # ids 1 and 2
    sleep = sm.sys_sleep(0)  # id 3
    output(sm)
    sm.feed(frames(sleep_completion(3), call_completion(2, b"r"), call_invocation_id(1, "inv_x")))
    assert not sm.closed
    assert resolved(sm, result_nid) == Success(b"r")
    assert resolved(sm, sleep) is not None
    assert resolved(sm, id_nid) is not None


def test_a_completion_before_any_command_after_the_journal_is_a_violation() -> None:
    sm = machine()  # bootstrapped, input not even consumed
    sm.feed(frame(lazy_state_completion(1, b"v")))
    assert_closed_with(sm, 571)


def test_during_the_bootstrap_notifications_for_ids_not_allocated_yet_are_fine() -> None:
    # Resumed: the journal's notifications come before the handler re-allocated their ids.
    sm = machine(6, [m.SleepCommandMessage(result_completion_id=1), sleep_completion(1)])
    sm.sys_input()
    nid = sm.sys_sleep(0)
    assert resolved(sm, nid) is not None


@all_versions
def test_a_live_completion_for_a_journaled_command_not_replayed_yet_is_fine(
    version: int,
) -> None:
    # After the bootstrap the handler still replays; the runtime may complete any command of
    # the journal meanwhile (here: the recorded call's result, id 2), before the handler
    # re-allocated that id.
    journal = [
        m.CallCommandMessage(
            service_name="Svc",
            handler_name="h",
            invocation_id_notification_idx=1,
            result_completion_id=2,
        )
    ]
    sm = machine(version, journal)
    sm.feed(frame(call_completion(2, b"late")))
    assert not sm.closed
    sm.sys_input()
    _, result_nid = sm.sys_call("Svc", "h", b"")
    assert resolved(sm, result_nid) == Success(b"late")
    # One past the journal's ids (and the handler's): a violation.
    sm.feed(frame(call_completion(3)))
    assert_closed_with(sm, 571)


def test_the_journal_bound_counts_every_completion_field() -> None:
    # Every command field that carries completion ids is in COMPLETION_ID_FIELDS: a command
    # added to the protocol without it would make the runtime's completions look forged.
    for type_id, cls in m.MESSAGE_CLASSES.items():
        if not m.is_command(type_id):
            continue
        fields = {
            f.name
            for f in cls.DESCRIPTOR.fields
            if f.name.endswith("completion_id") or f.name.endswith("notification_idx")
        }
        assert fields == set(m.COMPLETION_ID_FIELDS.get(type_id, ())), cls.__name__


@pytest.mark.parametrize(
    "command",
    [
        m.GetLazyStateCommandMessage(key=b"k", result_completion_id=7),
        m.OneWayCallCommandMessage(
            service_name="S", handler_name="h", invocation_id_notification_idx=7
        ),
        m.RunCommandMessage(result_completion_id=7),
    ],
)
def test_the_journal_bound_is_the_largest_journaled_id(command: m.Message) -> None:
    sm = machine(6, [command])
    sm.feed(frame(sleep_completion(7)))  # type of the notification does not matter
    assert not sm.closed
    sm.feed(frame(sleep_completion(8)))
    assert_closed_with(sm, 571)


def test_the_run_ack_completes_an_allocated_id_once() -> None:
    sm = started(7)
    nid, execute = sm.sys_run("r")
    assert execute
    sm.propose_run_completion(nid, Success(b"mine"))
    output(sm)
    # The full completion arrives, then an ack for the same id: the first one counts.
    sm.feed(frame(run_completion(1, b"stored")))
    sm.feed(frame(m.ProposeRunCompletionAckMessage(completion_id=1)))
    assert not sm.closed
    assert resolved(sm, nid) == Success(b"stored")


# ---------------------------------------------------------------------------- repeats


@all_versions
def test_a_repeated_notification_is_dropped_and_the_first_counts(version: int) -> None:
    sm = started(version)
    nid = sm.sys_get_state("k")
    assert isinstance(nid, NotificationId)
    sm.feed(frames(lazy_state_completion(1, b"first"), lazy_state_completion(1, b"second")))
    assert not sm.closed
    assert resolved(sm, nid) == Success(b"first")
    sm.feed(frame(lazy_state_completion(1, b"third")))
    assert not sm.closed
    assert sm.result(nid) == Success(b"first")


def test_repeats_cost_no_memory() -> None:
    sm = started(6)
    nid = sm.sys_sleep(0)
    repeat = frame(sleep_completion(1))
    cancel = frame(cancel_signal())
    sm.feed(repeat + cancel)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(10_000):
            sm.feed(repeat)
            sm.feed(cancel)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Kept, 20,000 notifications would be megabytes.
    assert grown < 20_000, grown
    assert not sm.closed
    assert resolved(sm, nid) is not None


# ---------------------------------------------------------------------------- signals


def test_cancel_and_signals_of_created_awakeables_are_always_fine() -> None:
    sm = started(6)
    _, first = sm.sys_awakeable()
    _, second = sm.sys_awakeable()
    sm.feed(frames(signal(18, b"b"), signal(17, b"a"), cancel_signal()))
    assert not sm.closed
    assert resolved(sm, first) == Success(b"a")
    assert resolved(sm, second) == Success(b"b")
    assert sm.do_progress(Leaf(NotificationId.completion(1))) is Progress.CANCELLED


def test_an_early_signal_is_held_until_its_awakeable_is_created() -> None:
    # An awakeable of an earlier attempt (not journaled) resolved before this attempt
    # re-created it.
    sm = started(6)
    sm.feed(frame(signal(18, b"early")))
    assert not sm.closed
    _, first = sm.sys_awakeable()
    _, second = sm.sys_awakeable()
    assert second == NotificationId.signal(18)
    assert resolved(sm, second) == Success(b"early")
    assert sm.do_progress(Leaf(first)) is Progress.WAIT_INPUT


@pytest.mark.parametrize("kind", ["index", "name"])
def test_signals_nobody_asked_for_are_capped(kind: str) -> None:
    sm = started(6)

    def early(n: int) -> m.SignalNotificationMessage:
        return signal(17 + n) if kind == "index" else named_signal(f"s{n}")

    sm.feed(b"".join(frame(early(n)) for n in range(MAX_UNMATCHED_SIGNALS)))
    assert not sm.closed
    sm.feed(frame(early(MAX_UNMATCHED_SIGNALS)))
    err = assert_closed_with(sm, 500)
    assert "not asked for" in err.message


def test_creating_the_awakeable_frees_its_place_under_the_cap() -> None:
    sm = started(6)
    sm.feed(b"".join(frame(signal(17 + n)) for n in range(MAX_UNMATCHED_SIGNALS)))
    sm.sys_awakeable()  # 17: asked for now
    sm.feed(frame(signal(17 + MAX_UNMATCHED_SIGNALS)))
    assert not sm.closed
    sm.feed(frame(named_signal("one too many")))
    assert_closed_with(sm, 500)


def test_early_signal_bytes_are_capped_at_the_message_size() -> None:
    sm = StateMachine(6, max_message_size=10_000)
    sm.feed(frames(start(1), input_command()))
    sm.sys_input()
    sm.feed(frame(named_signal("a", b"x" * 6_000)))
    assert not sm.closed
    sm.sys_awakeable()
    sm.feed(frame(signal(17, b"x" * 6_000)))  # asked for: not counted
    assert not sm.closed
    sm.feed(frame(named_signal("b", b"x" * 6_000)))
    err = assert_closed_with(sm, 500)
    assert "10000 bytes" in err.message


def test_in_the_bootstrap_signals_are_not_capped() -> None:
    journal = [signal(17 + n) for n in range(MAX_UNMATCHED_SIGNALS + 10)]
    sm = machine(6, journal)
    sm.sys_input()
    assert not sm.closed
    sm.feed(frame(named_signal("live")))  # the cap counts live signals only
    assert not sm.closed
