"""Golden-transcript tests for the durable commands of the state machine (protocol reference §3.4,
§4.2-§4.5, §4.7, §4.8): sleep, run, call, send, awakeables, signals, promises, attach/get-output,
combinators, suspension trees and cancellation.

Every test drives a :class:`StateMachine` as the context layer would (``sys_*`` calls in program
order, ``do_progress`` for awaits) and asserts the exact frames written back. The replay tests
run a flow on machine A while a small fake runtime records the journal it would store, then feed
that journal to machine B and check that B writes nothing for the replayed commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from transcripts import (
    assert_closed_with,
    cancel_signal,
    error_of,
    frame,
    frames,
    lazy_state_completion,
    machine,
    only,
    output,
    parse_frames,
    started,
    types,
)

from restate_trio._protocol import messages as m
from restate_trio._protocol.errors import AttemptClosed, JournalMismatch, UnsupportedFeature
from restate_trio._protocol.framing import REQUESTED_ACK
from restate_trio._protocol.futures import Combinator, FutureTree, Leaf, Node
from restate_trio._protocol.machine import Phase, Progress, StateMachine
from restate_trio._protocol.types import (
    CANCEL,
    VOID,
    Failure,
    IdempotentTarget,
    InvocationIdResult,
    InvocationTarget,
    NotificationId,
    Result,
    Success,
    WorkflowTarget,
)

T = m.MessageType
VERSIONS = [5, 6, 7]
all_versions = pytest.mark.parametrize("version", VERSIONS)
pre_v7 = pytest.mark.parametrize("version", [5, 6])

FC = Combinator.FIRST_COMPLETED
AC = Combinator.ALL_COMPLETED
FSOAF = Combinator.FIRST_SUCCEEDED_OR_ALL_FAILED
ASOFF = Combinator.ALL_SUCCEEDED_OR_FIRST_FAILED

PROBE_ID = bytes.fromhex("83a5a8004fd401a8e6cee17422488b799fd7f21e3dc1ae74")
PROBE_AWAKEABLE_17 = "sign_1g6WoAE_UAajmzuF0IkiLeZ_X8h49wa50AAAAEQ"


# =========================================================================== helpers


def c(cid: int) -> Leaf:
    return Leaf(NotificationId.completion(cid))


def sig(idx: int) -> Leaf:
    return Leaf(NotificationId.signal(idx))


def named(name: str) -> Leaf:
    return Leaf(NotificationId.named(name))


def cid_of(nid: NotificationId) -> int:
    assert isinstance(nid.value, int)
    return nid.value


def phase(sm: StateMachine) -> Phase:
    return sm.phase


def value(data: bytes) -> m.Value:
    return m.Value(content=data)


def pb_failure(code: int, message: str) -> m.Failure:
    return m.Failure(code=code, message=message)


def assert_journal_mismatch(sm: StateMachine) -> m.ErrorMessage:
    return assert_closed_with(sm, 570)


def assert_unsupported(sm: StateMachine) -> m.ErrorMessage:
    return assert_closed_with(sm, 573)


def sleep_done(cid: int) -> m.SleepCompletionNotificationMessage:
    return m.SleepCompletionNotificationMessage(completion_id=cid, void=m.Void())


def invocation_id_done(cid: int, inv: str) -> m.CallInvocationIdCompletionNotificationMessage:
    return m.CallInvocationIdCompletionNotificationMessage(completion_id=cid, invocation_id=inv)


def call_done(cid: int, data: bytes) -> m.CallCompletionNotificationMessage:
    return m.CallCompletionNotificationMessage(completion_id=cid, value=value(data))


def run_done(cid: int, data: bytes) -> m.RunCompletionNotificationMessage:
    return m.RunCompletionNotificationMessage(completion_id=cid, value=value(data))


def signal(idx: int, data: bytes) -> m.SignalNotificationMessage:
    return m.SignalNotificationMessage(idx=idx, value=value(data))


@dataclass
class Runtime:
    """The runtime's side against machine A, recording the journal it would store.

    Commands are journaled as the machine writes them; notifications as they are delivered. A
    V7 run ack is journaled as the full RunCompletion carrying the proposed result (§4.7).
    """

    sm: StateMachine
    journal: list[m.Message] = field(default_factory=list[m.Message])
    written: list[tuple[m.MessageType, int, m.Message]] = field(
        default_factory=list[tuple[m.MessageType, int, m.Message]]
    )
    proposals: dict[int, tuple[int, m.ProposeRunCompletionMessage]] = field(
        default_factory=dict[int, tuple[int, m.ProposeRunCompletionMessage]]
    )

    def sync(self) -> None:
        for t, flags, msg in parse_frames(self.sm.take_output()):
            self.written.append((t, flags, msg))
            if m.is_command(t):
                self.journal.append(msg)
            elif t == T.PROPOSE_RUN_COMPLETION:
                assert isinstance(msg, m.ProposeRunCompletionMessage)
                self.proposals[msg.result_completion_id] = (flags, msg)
            else:
                raise AssertionError(f"unexpected frame {t!r}: {msg}")

    def deliver(self, *notifications: m.Message) -> None:
        self.sync()
        for n in notifications:
            self.sm.feed(frame(n))
            self.journal.append(n)
        assert not self.sm.closed, output(self.sm)

    def complete_run(self, cid: int) -> None:
        self.sync()
        flags, proposal = self.proposals.pop(cid)
        stored = m.RunCompletionNotificationMessage(completion_id=cid)
        if proposal.WhichOneof("result") == "value":
            stored.value.content = proposal.value
        else:
            stored.failure.CopyFrom(proposal.failure)
        if self.sm.version >= 7:
            assert flags == REQUESTED_ACK
            self.sm.feed(frame(m.ProposeRunCompletionAckMessage(completion_id=cid)))
        else:
            assert flags == 0
            self.sm.feed(frame(stored))
        self.journal.append(stored)
        assert not self.sm.closed, output(self.sm)


def await_tree(
    sm: StateMachine, tree: FutureTree, rt: Runtime | None, deliver: Callable[[Runtime], None]
) -> None:
    """Await ``tree``: processing (``rt``) delivers input on WAIT_INPUT; replay must not need it."""
    progress = sm.do_progress(tree)
    if rt is not None and progress is Progress.WAIT_INPUT:
        deliver(rt)
        progress = sm.do_progress(tree)
    assert progress is Progress.RESOLVED, (progress, output(sm))


def replay(version: int, journal: list[m.Message], **kw: object) -> StateMachine:
    """Machine B: Start(1 + len(journal)) + Input + ``journal``, bootstrapped (input not taken)."""
    return machine(version, journal, **kw)  # type: ignore[arg-type]


# =========================================================================== id allocation


@all_versions
def test_completion_ids_in_program_order_across_mixed_commands(version: int) -> None:
    sm = started(version, invocation_id=PROBE_ID)
    g = sm.sys_get_state("k")
    call_id, call_res = sm.sys_call("Svc", "h", b"p")
    sl = sm.sys_sleep(1000)
    aw_id, aw = sm.sys_awakeable()  # a signal id, no completion id
    sm.sys_set_state("s", b"1")  # no ids
    snd = sm.sys_send("Svc", "h2", b"q")
    run, must = sm.sys_run("r")
    sm.sys_clear_state("s")
    sm.sys_send_signal("inv_x", index=1)
    sm.sys_complete_awakeable(aw_id, Success(b"v"))
    gp = sm.sys_get_promise("p")
    pp = sm.sys_peek_promise("p")
    cp = sm.sys_complete_promise("p", Success(b"v"))
    at = sm.sys_attach_invocation("inv_y")
    go = sm.sys_get_invocation_output("inv_y")
    _, aw2 = sm.sys_awakeable()
    assert must
    assert [g, call_id, call_res, sl, snd, run, gp, pp, cp, at, go] == [
        NotificationId.completion(i) for i in range(1, 12)
    ]
    assert (aw, aw2) == (NotificationId.signal(17), NotificationId.signal(18))
    assert aw_id == PROBE_AWAKEABLE_17
    transcript = output(sm)
    assert types(transcript) == [
        T.GET_LAZY_STATE_COMMAND,
        T.CALL_COMMAND,
        T.SLEEP_COMMAND,
        T.SET_STATE_COMMAND,
        T.ONE_WAY_CALL_COMMAND,
        T.RUN_COMMAND,
        T.CLEAR_STATE_COMMAND,
        T.SEND_SIGNAL_COMMAND,
        T.COMPLETE_AWAKEABLE_COMMAND,
        T.GET_PROMISE_COMMAND,
        T.PEEK_PROMISE_COMMAND,
        T.COMPLETE_PROMISE_COMMAND,
        T.ATTACH_INVOCATION_COMMAND,
        T.GET_INVOCATION_OUTPUT_COMMAND,
    ]
    call = transcript[1][1]
    assert isinstance(call, m.CallCommandMessage)
    assert (call.invocation_id_notification_idx, call.result_completion_id) == (2, 3)
    assert sm.command_index == 14  # Input is 0; the awakeables journal nothing


# =========================================================================== sleep


@all_versions
def test_sleep_frame_and_completion(version: int) -> None:
    sm = started(version)
    nid = sm.sys_sleep(1_700_000_000_123, name="nap")
    assert nid == NotificationId.completion(1)
    assert sm.take_output() == frame(
        m.SleepCommandMessage(wake_up_time=1_700_000_000_123, result_completion_id=1, name="nap")
    )
    assert sm.do_progress(Leaf(nid)) is Progress.WAIT_INPUT
    sm.feed(frame(sleep_done(1)))
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == VOID


@all_versions
def test_sleep_negative_wake_up_time_is_clamped(version: int) -> None:
    sm = started(version)
    sm.sys_sleep(-5)
    assert only(output(sm), T.SLEEP_COMMAND) == m.SleepCommandMessage(
        wake_up_time=0, result_completion_id=1
    )


@all_versions
@pytest.mark.parametrize(
    ("recorded", "matches"),
    [
        (m.SleepCommandMessage(wake_up_time=1000, result_completion_id=1, name="n"), True),
        # wake_up_time is wall-clock dependent: not compared.
        (m.SleepCommandMessage(wake_up_time=99999, result_completion_id=1, name="n"), True),
        # The completion id is not compared either (§4.2).
        (m.SleepCommandMessage(wake_up_time=1000, result_completion_id=7, name="n"), True),
        (m.SleepCommandMessage(wake_up_time=1000, result_completion_id=1, name="other"), False),
        (m.RunCommandMessage(result_completion_id=1, name="n"), False),
    ],
)
def test_sleep_replay_comparison(version: int, recorded: m.Message, matches: bool) -> None:
    sm = started(version, [recorded])
    if matches:
        nid = sm.sys_sleep(1000, name="n")
        assert nid == NotificationId.completion(1)
        assert not sm.has_output
        assert phase(sm) is Phase.PROCESSING
    else:
        with pytest.raises(JournalMismatch):
            sm.sys_sleep(1000, name="n")
        assert_journal_mismatch(sm)


# =========================================================================== run


@all_versions
def test_run_processing_frames_and_completion(version: int) -> None:
    sm = started(version)
    nid, must_execute = sm.sys_run("side")
    assert must_execute
    assert nid == NotificationId.completion(1)
    assert sm.take_output() == frame(m.RunCommandMessage(result_completion_id=1, name="side"))
    sm.run_started(nid)
    assert sm.do_progress(Leaf(nid)) is Progress.WAIT_INPUT
    sm.propose_run_completion(nid, Success(b'"r"'))
    data = sm.take_output()
    flags = int.from_bytes(data[2:4], "big")
    # ProposeRunCompletion: type 0x0005, raw bytes value in field 14 (not wrapped in Value).
    assert data[:2] == b"\x00\x05"
    msg = m.ProposeRunCompletionMessage(result_completion_id=1, value=b'"r"')
    if version >= 7:
        assert flags == 0x8000
        assert data == frame(msg, flags=REQUESTED_ACK)
        sm.feed(frame(m.ProposeRunCompletionAckMessage(completion_id=1)))
    else:
        assert flags == 0
        assert data == frame(msg)
        sm.feed(frame(run_done(1, b'"r"')))
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == Success(b'"r"')
    assert not sm.closed


@all_versions
def test_run_proposal_of_failure(version: int) -> None:
    sm = started(version)
    nid, _ = sm.sys_run()
    sm.take_output()
    sm.run_started(nid)
    sm.propose_run_completion(nid, Failure(418, "teapot"))
    ((t, flags, msg),) = parse_frames(sm.take_output())
    assert t == T.PROPOSE_RUN_COMPLETION
    assert flags == (REQUESTED_ACK if version >= 7 else 0)
    assert msg == m.ProposeRunCompletionMessage(
        result_completion_id=1, failure=pb_failure(418, "teapot")
    )
    if version >= 7:
        sm.feed(frame(m.ProposeRunCompletionAckMessage(completion_id=1)))
    else:
        sm.feed(
            frame(
                m.RunCompletionNotificationMessage(
                    completion_id=1, failure=pb_failure(418, "teapot")
                )
            )
        )
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == Failure(418, "teapot")


def test_v7_run_ack_completes_with_the_proposed_value_not_a_later_one() -> None:
    sm = started(7)
    r1, _ = sm.sys_run("a")
    r2, _ = sm.sys_run("b")
    sm.run_started(r1)
    sm.run_started(r2)
    sm.propose_run_completion(r2, Success(b"two"))
    sm.propose_run_completion(r1, Success(b"one"))
    sm.take_output()
    # Acks arrive in the opposite order of the proposals; each carries its own run's value.
    sm.feed(frames(m.ProposeRunCompletionAckMessage(completion_id=1)))
    sm.feed(frames(m.ProposeRunCompletionAckMessage(completion_id=2)))
    tree = Node(AC, (Leaf(r1), Leaf(r2)))
    assert sm.do_progress(tree) is Progress.RESOLVED
    assert sm.result(r1) == Success(b"one")
    assert sm.result(r2) == Success(b"two")
    assert sm.resolved_at(Leaf(r1)) == 0  # journal order = ack order
    assert sm.resolved_at(Leaf(r2)) == 1


def test_v7_second_ack_for_the_same_run_is_a_protocol_violation() -> None:
    sm = started(7)
    nid, _ = sm.sys_run()
    sm.run_started(nid)
    sm.propose_run_completion(nid, Success(b"x"))
    sm.take_output()
    sm.feed(frame(m.ProposeRunCompletionAckMessage(completion_id=1)))
    sm.feed(frame(m.ProposeRunCompletionAckMessage(completion_id=1)))
    assert error_of(sm).code == 571


@all_versions
def test_executing_run_never_suspends_then_suspends_on_its_completion(version: int) -> None:
    sm = started(version)
    nid, must_execute = sm.sys_run("slow")
    assert must_execute
    sm.take_output()
    sm.run_started(nid)
    sm.feed_eof()
    # The closure runs in this attempt: waiting is fine even though no input can come.
    assert sm.do_progress(Leaf(nid)) is Progress.WAIT_INPUT
    assert sm.do_progress(Node(FC, (Leaf(nid), sig(17)))) is Progress.WAIT_INPUT
    assert not sm.has_output
    assert not sm.closed
    sm.propose_run_completion(nid, Success(b"v"))
    types_flags = [(t, f) for t, f, _ in parse_frames(sm.take_output())]
    assert types_flags == [(T.PROPOSE_RUN_COMPLETION, REQUESTED_ACK if version >= 7 else 0)]
    assert sm.do_progress(Leaf(nid)) is Progress.SUSPENDED
    msg = only(output(sm), T.SUSPENSION)
    if version >= 7:
        assert msg == m.SuspensionMessage(
            awaiting_on=m.Future(
                combinator_type=m.CombinatorType.FIRST_COMPLETED,
                waiting_completions=[1],
                waiting_signals=[1],
            )
        )
    else:
        assert msg == m.SuspensionMessage(waiting_completions=[1], waiting_signals=[1])
    assert sm.closed


@all_versions
def test_executing_run_outside_the_awaited_tree_does_not_prevent_suspension(version: int) -> None:
    sm = started(version)
    run, _ = sm.sys_run()
    sl = sm.sys_sleep(10)
    sm.take_output()
    sm.run_started(run)
    sm.feed_eof()
    assert sm.do_progress(Leaf(sl)) is Progress.SUSPENDED
    assert types(output(sm)) == [T.SUSPENSION]


@all_versions
def test_run_not_executed_when_journal_has_its_completion(version: int) -> None:
    journal = [m.RunCommandMessage(result_completion_id=1, name="r"), run_done(1, b"stored")]
    sm = started(version, journal)
    nid, must_execute = sm.sys_run("r")
    assert not must_execute
    assert not sm.has_output
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == Success(b"stored")


@all_versions
def test_run_replayed_without_completion_must_execute(version: int) -> None:
    journal = [m.RunCommandMessage(result_completion_id=1, name="r")]
    sm = started(version, journal)
    _, must_execute = sm.sys_run("r")
    assert must_execute
    assert not sm.has_output


@all_versions
@pytest.mark.parametrize(
    ("recorded", "matches"),
    [
        (m.RunCommandMessage(result_completion_id=1, name="r"), True),
        (m.RunCommandMessage(result_completion_id=1, name="other"), False),
        (m.RunCommandMessage(result_completion_id=2, name="r"), False),
        (m.SleepCommandMessage(result_completion_id=1, name="r"), False),
    ],
)
def test_run_replay_comparison(version: int, recorded: m.Message, matches: bool) -> None:
    sm = started(version, [recorded])
    if matches:
        sm.sys_run("r")
        assert not sm.has_output
    else:
        with pytest.raises(JournalMismatch):
            sm.sys_run("r")
        assert_journal_mismatch(sm)


def test_run_attempt_info_only_for_the_first_command_after_replay() -> None:
    journal = [m.SetStateCommandMessage(key=b"k", value=value(b"v"))]
    sm = started(6, journal, retry_count=3, duration_ms=708)
    sm.sys_set_state("k", b"v")  # replayed (index 1)
    first, _ = sm.sys_run("first")  # index 2: the first command after the replay
    second, _ = sm.sys_run("second")
    assert sm.run_attempt_info(first) == (3, 708)
    assert sm.run_attempt_info(second) == (0, 0)


def test_run_attempt_info_on_a_fresh_invocation() -> None:
    sm = started(7, retry_count=2, duration_ms=50)
    first, _ = sm.sys_run()
    assert sm.run_attempt_info(first) == (2, 50)


def test_run_attempt_info_zero_when_another_command_came_first() -> None:
    sm = started(6, retry_count=3, duration_ms=708)
    sm.sys_sleep(5)
    run, _ = sm.sys_run()
    assert sm.run_attempt_info(run) == (0, 0)


def test_run_attempt_info_zero_for_a_replayed_completed_run() -> None:
    journal = [m.RunCommandMessage(result_completion_id=1), run_done(1, b"x")]
    sm = started(6, journal, retry_count=3, duration_ms=708)
    run, must_execute = sm.sys_run()
    assert not must_execute
    assert sm.run_attempt_info(run) == (0, 0)


def test_run_attempt_info_for_a_retried_run_replayed_without_completion() -> None:
    # Attempt 1 wrote Run(1) then failed with an ErrorMessage; attempt 3 (retry_count=2) replays
    # [Input, Run]. shared-core's own retry-policy test uses exactly this journal shape.
    journal = [m.RunCommandMessage(result_completion_id=1, name="flaky")]
    sm = started(6, journal, retry_count=2, duration_ms=1500)
    nid, must_execute = sm.sys_run("flaky")
    assert must_execute
    assert sm.run_attempt_info(nid) == (2, 1500)


def test_run_attempt_info_elapsed_is_zero_without_earlier_failures() -> None:
    sm = started(6, retry_count=0, duration_ms=3_600_000)
    run, _ = sm.sys_run()
    assert sm.run_attempt_info(run) == (0, 0)


def test_v7_proposal_made_while_replaying_is_not_answered_by_a_failure() -> None:
    journal = [
        m.RunCommandMessage(result_completion_id=1, name="r"),
        m.SetStateCommandMessage(key=b"k", value=value(b"v")),
    ]
    sm = started(7, journal)
    nid, must_execute = sm.sys_run("r")
    assert must_execute
    assert phase(sm) is Phase.REPLAYING  # SetState is still to be replayed
    sm.run_started(nid)
    sm.propose_run_completion(nid, Success(b"v"))
    if sm.has_output:
        # A proposal went out: the runtime (done sending the journal) acks it.
        assert types(output(sm)) == [T.PROPOSE_RUN_COMPLETION]
        sm.feed(frame(m.ProposeRunCompletionAckMessage(completion_id=1)))
        assert not sm.closed, output(sm)
    sm.sys_set_state("k", b"v")
    assert not sm.closed


@all_versions
def test_notify_error_related_run(version: int) -> None:
    sm = started(version)
    sm.sys_sleep(5)  # index 1
    run, _ = sm.sys_run("fetch")  # index 2
    sm.sys_set_state("k", b"v")  # index 3: the last command is not the run
    sm.take_output()
    sm.notify_error(500, "boom", "trace", next_retry_delay_ms=250, related_run=run)
    err = error_of(sm)
    assert err.code == 500
    assert err.message == "boom"
    assert err.stacktrace == "trace"
    assert err.next_retry_delay == 250
    assert err.related_command_index == 2
    assert err.related_command_type == 0x0411
    assert err.related_command_name == "fetch"
    assert sm.closed


def test_notify_error_related_unnamed_run_has_no_name() -> None:
    sm = started(6)
    run, _ = sm.sys_run()
    sm.take_output()
    sm.notify_error(500, "boom", related_run=run)
    err = error_of(sm)
    assert err.HasField("related_command_index")
    assert err.related_command_index == 1
    assert err.related_command_type == T.RUN_COMMAND
    assert not err.HasField("related_command_name")


def test_notify_error_related_replayed_run() -> None:
    journal = [
        m.SleepCommandMessage(wake_up_time=1, result_completion_id=1),
        m.RunCommandMessage(result_completion_id=2, name="r"),
    ]
    sm = started(6, journal)
    sm.sys_sleep(1)
    run, must_execute = sm.sys_run("r")
    assert must_execute
    sm.notify_error(500, "again", related_run=run)
    err = error_of(sm)
    assert (err.related_command_index, err.related_command_type) == (2, 0x0411)
    assert err.related_command_name == "r"


# =========================================================================== call


@all_versions
def test_call_frame_and_notifications(version: int) -> None:
    sm = started(version)
    id_nid, res_nid = sm.sys_call(
        "Greeter",
        "greet",
        b'{"n":1}',
        key="k1",
        headers=[("x-a", "1"), ("x-b", "2")],
        idempotency_key="idem",
        name="hello",
    )
    assert (id_nid, res_nid) == (NotificationId.completion(1), NotificationId.completion(2))
    assert sm.take_output() == frame(
        m.CallCommandMessage(
            service_name="Greeter",
            handler_name="greet",
            parameter=b'{"n":1}',
            headers=[m.Header(key="x-a", value="1"), m.Header(key="x-b", value="2")],
            key="k1",
            idempotency_key="idem",
            invocation_id_notification_idx=1,
            result_completion_id=2,
            name="hello",
        )
    )
    assert sm.child_calls == (id_nid,)
    sm.feed(frames(invocation_id_done(1, "inv_child"), call_done(2, b'"hi"')))
    assert sm.do_progress(Leaf(res_nid)) is Progress.RESOLVED
    assert sm.result(id_nid) == InvocationIdResult("inv_child")
    assert sm.result(res_nid) == Success(b'"hi"')


@all_versions
def test_call_without_optional_fields_leaves_them_absent(version: int) -> None:
    sm = started(version)
    sm.sys_call("S", "h", b"")
    msg = only(output(sm), T.CALL_COMMAND)
    assert isinstance(msg, m.CallCommandMessage)
    for f in ("idempotency_key", "scope", "limit_key"):
        assert not msg.HasField(f), f


@all_versions
def test_call_failure_result(version: int) -> None:
    sm = started(version)
    _, res = sm.sys_call("S", "h", b"")
    sm.feed(
        frame(m.CallCompletionNotificationMessage(completion_id=2, failure=pb_failure(404, "nf")))
    )
    assert sm.do_progress(Leaf(res)) is Progress.RESOLVED
    assert sm.result(res) == Failure(404, "nf")


@all_versions
def test_child_calls_lists_invocation_id_notifications_only_for_calls(version: int) -> None:
    sm = started(version)
    a, _ = sm.sys_call("S", "h", b"")  # 1, 2
    sm.sys_send("S", "h", b"")  # 3: one-way sends are not children to cancel
    sm.sys_sleep(1)  # 4
    b, _ = sm.sys_call("S", "h", b"")  # 5, 6
    assert sm.child_calls == (a, b)
    assert sm.child_calls == (NotificationId.completion(1), NotificationId.completion(5))


def test_child_calls_include_replayed_calls() -> None:
    journal = [
        m.CallCommandMessage(
            service_name="S",
            handler_name="h",
            invocation_id_notification_idx=1,
            result_completion_id=2,
        )
    ]
    sm = started(6, journal)
    a, _ = sm.sys_call("S", "h", b"")
    assert sm.child_calls == (a,)


@pre_v7
@pytest.mark.parametrize(
    "kw", [{"scope": "sc"}, {"limit_key": "lk"}, {"scope": "sc", "limit_key": "lk"}]
)
def test_call_scope_and_limit_key_need_v7(version: int, kw: dict[str, str]) -> None:
    sm = started(version)
    with pytest.raises(UnsupportedFeature):
        sm.sys_call("S", "h", b"", **kw)  # type: ignore[arg-type]
    assert_unsupported(sm)
    with pytest.raises(AttemptClosed):
        sm.sys_sleep(1)


def test_v7_call_scope_and_limit_key_in_fields_7_and_8() -> None:
    sm = started(7)
    sm.sys_call("S", "h", b"p", scope="tenant-a", limit_key="user-1")
    data = sm.take_output()
    msg = only(output_of(data), T.CALL_COMMAND)
    assert isinstance(msg, m.CallCommandMessage)
    assert (msg.scope, msg.limit_key) == ("tenant-a", "user-1")
    assert m.CallCommandMessage.DESCRIPTOR.fields_by_name["scope"].number == 7
    assert m.CallCommandMessage.DESCRIPTOR.fields_by_name["limit_key"].number == 8
    # Raw check: field 7 (tag 0x3a) and field 8 (tag 0x42), length-delimited.
    assert b"\x3a\x08tenant-a" in data
    assert b"\x42\x06user-1" in data


def output_of(data: bytes) -> list[tuple[m.MessageType, m.Message]]:
    return [(t, msg) for t, _flags, msg in parse_frames(data)]


_CALL_KW: dict[str, object] = {
    "key": "k",
    "headers": [("h", "v")],
    "idempotency_key": "i",
    "name": "n",
}


def _recorded_call(**changes: object) -> m.CallCommandMessage:
    fields: dict[str, object] = {
        "service_name": "S",
        "handler_name": "h",
        "parameter": b"p",
        "headers": [m.Header(key="h", value="v")],
        "key": "k",
        "idempotency_key": "i",
        "invocation_id_notification_idx": 1,
        "result_completion_id": 2,
        "name": "n",
    }
    fields.update(changes)
    return m.CallCommandMessage(**fields)  # type: ignore[arg-type]


@all_versions
@pytest.mark.parametrize(
    ("recorded", "matches"),
    [
        (_recorded_call(), True),
        (_recorded_call(parameter=b"other"), False),
        (_recorded_call(service_name="T"), False),
        (_recorded_call(handler_name="g"), False),
        (_recorded_call(headers=[m.Header(key="h", value="w")]), False),
        (_recorded_call(headers=[]), False),
        (_recorded_call(key="k2"), False),
        (_recorded_call(idempotency_key="j"), False),
        (_recorded_call(name="n2"), False),
        (_recorded_call(invocation_id_notification_idx=3, result_completion_id=4), False),
    ],
    ids=[
        "same",
        "parameter",
        "service",
        "handler",
        "header-value",
        "headers-missing",
        "key",
        "idempotency",
        "name",
        "ids",
    ],
)
def test_call_replay_comparison(version: int, recorded: m.Message, matches: bool) -> None:
    sm = started(version, [recorded])
    if matches:
        sm.sys_call("S", "h", b"p", **_CALL_KW)  # type: ignore[arg-type]
        assert not sm.has_output
        assert phase(sm) is Phase.PROCESSING
    else:
        with pytest.raises(JournalMismatch):
            sm.sys_call("S", "h", b"p", **_CALL_KW)  # type: ignore[arg-type]
        assert_journal_mismatch(sm)


def test_v7_call_replay_compares_scope() -> None:
    sm = started(7, [_recorded_call(scope="a")])
    with pytest.raises(JournalMismatch):
        sm.sys_call("S", "h", b"p", scope="b", **_CALL_KW)  # type: ignore[arg-type]
    assert_journal_mismatch(sm)


# =========================================================================== send


@all_versions
def test_send_frame_and_invocation_id(version: int) -> None:
    sm = started(version)
    nid = sm.sys_send(
        "Mailer",
        "send",
        b"m",
        key="u1",
        headers=[("x", "y")],
        idempotency_key="once",
        invoke_time_ms=1_700_000_500_000,
        name="mail",
    )
    assert nid == NotificationId.completion(1)
    assert sm.take_output() == frame(
        m.OneWayCallCommandMessage(
            service_name="Mailer",
            handler_name="send",
            parameter=b"m",
            invoke_time=1_700_000_500_000,
            headers=[m.Header(key="x", value="y")],
            key="u1",
            idempotency_key="once",
            invocation_id_notification_idx=1,
            name="mail",
        )
    )
    assert sm.sys_sleep(1) == NotificationId.completion(2)  # a send takes exactly one id
    sm.feed(frame(invocation_id_done(1, "inv_sent")))
    assert sm.do_progress(Leaf(nid)) is Progress.RESOLVED
    assert sm.result(nid) == InvocationIdResult("inv_sent")


@pre_v7
def test_send_scope_needs_v7(version: int) -> None:
    sm = started(version)
    with pytest.raises(UnsupportedFeature):
        sm.sys_send("S", "h", b"", scope="x")
    assert_unsupported(sm)


def test_v7_send_scope_and_limit_key_in_fields_8_and_9() -> None:
    sm = started(7)
    sm.sys_send("S", "h", b"", scope="sc", limit_key="lk")
    data = sm.take_output()
    msg = only(output_of(data), T.ONE_WAY_CALL_COMMAND)
    assert isinstance(msg, m.OneWayCallCommandMessage)
    assert (msg.scope, msg.limit_key) == ("sc", "lk")
    assert b"\x42\x02sc" in data  # field 8
    assert b"\x4a\x02lk" in data  # field 9


def _recorded_send(**changes: object) -> m.OneWayCallCommandMessage:
    fields: dict[str, object] = {
        "service_name": "S",
        "handler_name": "h",
        "parameter": b"p",
        "invoke_time": 1000,
        "key": "k",
        "invocation_id_notification_idx": 1,
        "name": "n",
    }
    fields.update(changes)
    return m.OneWayCallCommandMessage(**fields)  # type: ignore[arg-type]


@all_versions
@pytest.mark.parametrize(
    ("recorded", "matches"),
    [
        (_recorded_send(), True),
        (_recorded_send(invoke_time=987654321), True),  # not compared (§4.2)
        (_recorded_send(invoke_time=0), True),
        (_recorded_send(parameter=b"q"), False),
        (_recorded_send(key="k2"), False),
        (_recorded_send(idempotency_key="i"), False),
        (_recorded_send(invocation_id_notification_idx=2), False),
        (_recorded_send(name="m"), False),
    ],
)
def test_send_replay_comparison(version: int, recorded: m.Message, matches: bool) -> None:
    sm = started(version, [recorded])

    def send() -> NotificationId:
        return sm.sys_send("S", "h", b"p", key="k", invoke_time_ms=1000, name="n")

    if matches:
        assert send() == NotificationId.completion(1)
        assert not sm.has_output
    else:
        with pytest.raises(JournalMismatch):
            send()
        assert_journal_mismatch(sm)


# =========================================================================== awakeables, signals


@all_versions
def test_awakeable_id_format_probe_example(version: int) -> None:
    sm = started(version, invocation_id=PROBE_ID)
    first_id, first = sm.sys_awakeable()
    assert first_id == PROBE_AWAKEABLE_17
    assert len(first_id) == 44
    assert first == NotificationId.signal(17)
    second_id, second = sm.sys_awakeable()
    assert second == NotificationId.signal(18)
    assert second_id == "sign_1g6WoAE_UAajmzuF0IkiLeZ_X8h49wa50AAAAEg"
    assert not sm.has_output  # nothing journaled
    assert sm.command_index == 0
    assert sm.sys_sleep(1) == NotificationId.completion(1)  # no completion id taken


@all_versions
def test_awakeable_resolved_by_signal(version: int) -> None:
    sm = started(version)
    _, a17 = sm.sys_awakeable()
    _, a18 = sm.sys_awakeable()
    assert sm.do_progress(Leaf(a17)) is Progress.WAIT_INPUT
    sm.feed(
        frames(
            m.SignalNotificationMessage(idx=18, failure=pb_failure(500, "rejected")),
            signal(17, b'"payload"'),
        )
    )
    assert sm.do_progress(Leaf(a17)) is Progress.RESOLVED
    assert sm.result(a17) == Success(b'"payload"')
    assert sm.result(a18) == Failure(500, "rejected")


@all_versions
def test_awakeable_in_replay_gets_the_same_ids(version: int) -> None:
    journal = [m.SleepCommandMessage(result_completion_id=1), signal(17, b"x")]
    sm = started(version, journal, invocation_id=PROBE_ID)
    aw_id, aw = sm.sys_awakeable()
    sm.sys_sleep(1)
    assert (aw_id, aw) == (PROBE_AWAKEABLE_17, NotificationId.signal(17))
    assert sm.do_progress(Leaf(aw)) is Progress.RESOLVED
    assert sm.result(aw) == Success(b"x")
    assert not sm.has_output


@all_versions
def test_named_signal_resolves(version: int) -> None:
    sm = started(version)
    go = named("go")
    assert sm.do_progress(go) is Progress.WAIT_INPUT
    sm.feed(frame(m.SignalNotificationMessage(name="other", value=value(b"no"))))
    assert sm.do_progress(go) is Progress.WAIT_INPUT
    sm.feed(frame(m.SignalNotificationMessage(name="go", value=value(b"yes"))))
    assert sm.do_progress(go) is Progress.RESOLVED
    assert sm.result(NotificationId.named("go")) == Success(b"yes")
    assert not sm.has_output


@all_versions
def test_send_signal_cancel_frame(version: int) -> None:
    sm = started(version)
    sm.sys_send_signal("inv_target", index=1)
    assert sm.take_output() == frame(
        m.SendSignalCommandMessage(target_invocation_id="inv_target", idx=1, void=m.Void())
    )
    assert sm.sys_sleep(1) == NotificationId.completion(1)  # no completion id taken


@all_versions
@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (Success(b'"ok"'), {"value": m.Value(content=b'"ok"')}),
        (Success(b""), {"value": m.Value(content=b"")}),
        (Failure(400, "nope"), {"failure": pb_failure(400, "nope")}),
        (VOID, {"void": m.Void()}),
    ],
)
def test_send_signal_named_frame(version: int, result: Result, expected: dict[str, object]) -> None:
    sm = started(version)
    sm.sys_send_signal("inv_t", signal_name="go", result=result, entry_name="notify")  # type: ignore[arg-type]
    data = sm.take_output()
    assert data == frame(
        m.SendSignalCommandMessage(
            target_invocation_id="inv_t",
            name="go",
            entry_name="notify",
            **expected,  # type: ignore[arg-type]
        )
    )
    msg = only(output_of(data), T.SEND_SIGNAL_COMMAND)
    assert msg.WhichOneof("signal_id") == "name"
    assert msg.WhichOneof("result") == next(iter(expected))


def test_send_signal_needs_exactly_one_of_index_and_name() -> None:
    sm = started(6)
    with pytest.raises(ValueError, match="exactly one"):
        sm.sys_send_signal("inv_t")
    with pytest.raises(ValueError, match="exactly one"):
        sm.sys_send_signal("inv_t", index=1, signal_name="x")
    assert not sm.has_output
    assert not sm.closed


@all_versions
@pytest.mark.parametrize(
    ("recorded", "matches"),
    [
        (m.SendSignalCommandMessage(target_invocation_id="inv_t", idx=1, void=m.Void()), True),
        (m.SendSignalCommandMessage(target_invocation_id="inv_u", idx=1, void=m.Void()), False),
        (m.SendSignalCommandMessage(target_invocation_id="inv_t", idx=17, void=m.Void()), False),
        (m.SendSignalCommandMessage(target_invocation_id="inv_t", name="1", void=m.Void()), False),
        (
            m.SendSignalCommandMessage(
                target_invocation_id="inv_t", idx=1, value=m.Value(content=b"")
            ),
            False,
        ),
        (
            m.SendSignalCommandMessage(
                target_invocation_id="inv_t", idx=1, void=m.Void(), entry_name="e"
            ),
            False,
        ),
    ],
)
def test_send_signal_replay_comparison(version: int, recorded: m.Message, matches: bool) -> None:
    sm = started(version, [recorded])
    if matches:
        sm.sys_send_signal("inv_t", index=1)
        assert not sm.has_output
    else:
        with pytest.raises(JournalMismatch):
            sm.sys_send_signal("inv_t", index=1)
        assert_journal_mismatch(sm)


@all_versions
def test_complete_awakeable_frames(version: int) -> None:
    sm = started(version)
    sm.sys_complete_awakeable("sign_1abc", Success(b'"v"'), name="resolve")
    sm.sys_complete_awakeable("sign_1def", Failure(500, "rejected"))
    assert sm.take_output() == frames(
        m.CompleteAwakeableCommandMessage(
            awakeable_id="sign_1abc", value=m.Value(content=b'"v"'), name="resolve"
        ),
        m.CompleteAwakeableCommandMessage(
            awakeable_id="sign_1def", failure=pb_failure(500, "rejected")
        ),
    )
    assert sm.sys_sleep(1) == NotificationId.completion(1)


@all_versions
@pytest.mark.parametrize(
    ("recorded", "matches"),
    [
        (m.CompleteAwakeableCommandMessage(awakeable_id="sign_1a", value=value(b"v")), True),
        (m.CompleteAwakeableCommandMessage(awakeable_id="sign_1b", value=value(b"v")), False),
        (m.CompleteAwakeableCommandMessage(awakeable_id="sign_1a", value=value(b"w")), False),
        (
            m.CompleteAwakeableCommandMessage(awakeable_id="sign_1a", failure=pb_failure(1, "")),
            False,
        ),
        (
            m.CompleteAwakeableCommandMessage(awakeable_id="sign_1a", value=value(b"v"), name="x"),
            False,
        ),
    ],
)
def test_complete_awakeable_replay_comparison(
    version: int, recorded: m.Message, matches: bool
) -> None:
    sm = started(version, [recorded])
    if matches:
        sm.sys_complete_awakeable("sign_1a", Success(b"v"))
        assert not sm.has_output
    else:
        with pytest.raises(JournalMismatch):
            sm.sys_complete_awakeable("sign_1a", Success(b"v"))
        assert_journal_mismatch(sm)


# =========================================================================== promises


@all_versions
def test_promise_frames_and_completions(version: int) -> None:
    sm = started(version)
    gp = sm.sys_get_promise("approval", name="wait")
    pp = sm.sys_peek_promise("approval")
    cp = sm.sys_complete_promise("done", Success(b'"yes"'), name="finish")
    cf = sm.sys_complete_promise("fail", Failure(500, "bad"))
    assert [gp, pp, cp, cf] == [NotificationId.completion(i) for i in range(1, 5)]
    assert sm.take_output() == frames(
        m.GetPromiseCommandMessage(key="approval", result_completion_id=1, name="wait"),
        m.PeekPromiseCommandMessage(key="approval", result_completion_id=2),
        m.CompletePromiseCommandMessage(
            key="done",
            completion_value=m.Value(content=b'"yes"'),
            result_completion_id=3,
            name="finish",
        ),
        m.CompletePromiseCommandMessage(
            key="fail", completion_failure=pb_failure(500, "bad"), result_completion_id=4
        ),
    )
    sm.feed(
        frames(
            m.PeekPromiseCompletionNotificationMessage(completion_id=2, void=m.Void()),
            m.GetPromiseCompletionNotificationMessage(completion_id=1, value=value(b'"a"')),
            m.CompletePromiseCompletionNotificationMessage(completion_id=3, void=m.Void()),
            m.CompletePromiseCompletionNotificationMessage(
                completion_id=4, failure=pb_failure(409, "already completed")
            ),
        )
    )
    everything = Node(AC, (Leaf(gp), Leaf(pp), Leaf(cp), Leaf(cf)))
    assert sm.do_progress(everything) is Progress.RESOLVED
    assert sm.result(gp) == Success(b'"a"')
    assert sm.result(pp) == VOID
    assert sm.result(cp) == VOID
    assert sm.result(cf) == Failure(409, "already completed")


@all_versions
@pytest.mark.parametrize(
    ("recorded", "matches"),
    [
        (m.GetPromiseCommandMessage(key="p", result_completion_id=1), True),
        (m.GetPromiseCommandMessage(key="q", result_completion_id=1), False),
        (m.GetPromiseCommandMessage(key="p", result_completion_id=2), False),
        (m.GetPromiseCommandMessage(key="p", result_completion_id=1, name="x"), False),
        (m.PeekPromiseCommandMessage(key="p", result_completion_id=1), False),
    ],
)
def test_get_promise_replay_comparison(version: int, recorded: m.Message, matches: bool) -> None:
    sm = started(version, [recorded])
    if matches:
        sm.sys_get_promise("p")
        assert not sm.has_output
    else:
        with pytest.raises(JournalMismatch):
            sm.sys_get_promise("p")
        assert_journal_mismatch(sm)


@all_versions
@pytest.mark.parametrize(
    ("recorded", "matches"),
    [
        (
            m.CompletePromiseCommandMessage(
                key="p", completion_value=value(b"v"), result_completion_id=1
            ),
            True,
        ),
        (
            m.CompletePromiseCommandMessage(
                key="p", completion_value=value(b"w"), result_completion_id=1
            ),
            False,
        ),
        (
            m.CompletePromiseCommandMessage(
                key="p", completion_failure=pb_failure(1, "v"), result_completion_id=1
            ),
            False,
        ),
        (
            m.CompletePromiseCommandMessage(
                key="q", completion_value=value(b"v"), result_completion_id=1
            ),
            False,
        ),
    ],
)
def test_complete_promise_replay_comparison(
    version: int, recorded: m.Message, matches: bool
) -> None:
    sm = started(version, [recorded])
    if matches:
        sm.sys_complete_promise("p", Success(b"v"))
        assert not sm.has_output
    else:
        with pytest.raises(JournalMismatch):
            sm.sys_complete_promise("p", Success(b"v"))
        assert_journal_mismatch(sm)


# =========================================================================== attach, get output


_TARGETS: list[tuple[InvocationTarget, dict[str, object]]] = [
    ("inv_1abc", {"invocation_id": "inv_1abc"}),
    (
        WorkflowTarget("Checkout", "order-7"),
        {"workflow_target": m.WorkflowTarget(workflow_name="Checkout", workflow_key="order-7")},
    ),
    (
        IdempotentTarget("Pay", "charge", "idem-1"),
        {
            "idempotent_request_target": m.IdempotentRequestTarget(
                service_name="Pay", handler_name="charge", idempotency_key="idem-1"
            )
        },
    ),
    (
        IdempotentTarget("Cart", "add", "idem-2", key="user-9"),
        {
            "idempotent_request_target": m.IdempotentRequestTarget(
                service_name="Cart",
                service_key="user-9",
                handler_name="add",
                idempotency_key="idem-2",
            )
        },
    ),
]


@all_versions
@pytest.mark.parametrize(("target", "expected"), _TARGETS, ids=["id", "wf", "idem", "idem-key"])
def test_attach_and_get_output_targets(
    version: int, target: InvocationTarget, expected: dict[str, object]
) -> None:
    sm = started(version)
    at = sm.sys_attach_invocation(target, name="att")
    go = sm.sys_get_invocation_output(target)
    assert (at, go) == (NotificationId.completion(1), NotificationId.completion(2))
    assert sm.take_output() == frames(
        m.AttachInvocationCommandMessage(result_completion_id=1, name="att", **expected),  # type: ignore[arg-type]
        m.GetInvocationOutputCommandMessage(result_completion_id=2, **expected),  # type: ignore[arg-type]
    )
    sm.feed(
        frames(
            m.GetInvocationOutputCompletionNotificationMessage(completion_id=2, void=m.Void()),
            m.AttachInvocationCompletionNotificationMessage(completion_id=1, value=value(b"r")),
        )
    )
    assert sm.do_progress(Node(AC, (Leaf(at), Leaf(go)))) is Progress.RESOLVED
    assert sm.result(at) == Success(b"r")
    assert sm.result(go) == VOID


@all_versions
def test_idempotent_target_without_key_leaves_service_key_absent(version: int) -> None:
    sm = started(version)
    sm.sys_attach_invocation(IdempotentTarget("Pay", "charge", "i"))
    msg = only(output(sm), T.ATTACH_INVOCATION_COMMAND)
    assert isinstance(msg, m.AttachInvocationCommandMessage)
    assert not msg.idempotent_request_target.HasField("service_key")
    assert not msg.idempotent_request_target.HasField("scope")


@pre_v7
@pytest.mark.parametrize(
    "target",
    [WorkflowTarget("W", "k", scope="s"), IdempotentTarget("S", "h", "i", scope="s")],
    ids=["wf", "idem"],
)
@pytest.mark.parametrize("get_output", [False, True])
def test_target_scope_needs_v7(version: int, target: InvocationTarget, get_output: bool) -> None:
    sm = started(version)
    issue = sm.sys_get_invocation_output if get_output else sm.sys_attach_invocation
    with pytest.raises(UnsupportedFeature):
        issue(target)
    assert_unsupported(sm)


def test_v7_target_scope_is_written() -> None:
    sm = started(7)
    sm.sys_attach_invocation(WorkflowTarget("W", "k", scope="s1"))
    sm.sys_get_invocation_output(IdempotentTarget("S", "h", "i", scope="s2"))
    assert sm.take_output() == frames(
        m.AttachInvocationCommandMessage(
            workflow_target=m.WorkflowTarget(workflow_name="W", workflow_key="k", scope="s1"),
            result_completion_id=1,
        ),
        m.GetInvocationOutputCommandMessage(
            idempotent_request_target=m.IdempotentRequestTarget(
                service_name="S", handler_name="h", idempotency_key="i", scope="s2"
            ),
            result_completion_id=2,
        ),
    )
    # The final field numbers (§3.5): WorkflowTarget.scope = 3, IdempotentRequestTarget.scope = 5.
    assert m.WorkflowTarget.DESCRIPTOR.fields_by_name["scope"].number == 3
    assert m.IdempotentRequestTarget.DESCRIPTOR.fields_by_name["scope"].number == 5


@all_versions
@pytest.mark.parametrize(
    ("recorded", "matches"),
    [
        (m.AttachInvocationCommandMessage(invocation_id="inv_a", result_completion_id=1), True),
        (m.AttachInvocationCommandMessage(invocation_id="inv_b", result_completion_id=1), False),
        (m.AttachInvocationCommandMessage(invocation_id="inv_a", result_completion_id=2), False),
        (
            m.AttachInvocationCommandMessage(
                workflow_target=m.WorkflowTarget(workflow_name="inv_a"), result_completion_id=1
            ),
            False,
        ),
        (m.GetInvocationOutputCommandMessage(invocation_id="inv_a", result_completion_id=1), False),
    ],
)
def test_attach_replay_comparison(version: int, recorded: m.Message, matches: bool) -> None:
    sm = started(version, [recorded])
    if matches:
        sm.sys_attach_invocation("inv_a")
        assert not sm.has_output
    else:
        with pytest.raises(JournalMismatch):
            sm.sys_attach_invocation("inv_a")
        assert_journal_mismatch(sm)


@all_versions
def test_get_output_replay_with_a_different_workflow_key_mismatches(version: int) -> None:
    recorded = m.GetInvocationOutputCommandMessage(
        workflow_target=m.WorkflowTarget(workflow_name="W", workflow_key="k1"),
        result_completion_id=1,
    )
    sm = started(version, [recorded])
    with pytest.raises(JournalMismatch):
        sm.sys_get_invocation_output(WorkflowTarget("W", "k2"))
    assert_journal_mismatch(sm)


# =========================================================================== replay of own journal


def _full_flow(sm: StateMachine, rt: Runtime | None) -> list[object]:
    """Every command, with awaits interleaved; returns what the handler observed."""
    seen: list[object] = []
    seen.append(sm.sys_input().value)

    g = sm.sys_get_state("k")
    assert isinstance(g, NotificationId)
    await_tree(sm, Leaf(g), rt, lambda r: r.deliver(lazy_state_completion(1, b"old")))
    seen.append(sm.result(g))

    call_id, call_res = sm.sys_call(
        "Svc", "h", b"p", key="k1", headers=[("a", "b")], idempotency_key="i", name="c"
    )
    sl = sm.sys_sleep(123_456, name="nap")
    snd = sm.sys_send("Svc", "h2", b"q", invoke_time_ms=999_999, name="later")
    run, must_execute = sm.sys_run("r")
    seen.append((call_id, call_res, sl, snd, run))
    assert must_execute is (rt is not None)
    if must_execute:
        sm.run_started(run)
    await_tree(
        sm,
        Node(AC, (Leaf(call_id), Leaf(snd))),
        rt,
        lambda r: r.deliver(invocation_id_done(5, "inv_send"), invocation_id_done(2, "inv_c")),
    )
    if must_execute:
        assert sm.do_progress(Leaf(run)) is Progress.WAIT_INPUT
        sm.propose_run_completion(run, Success(b"ran"))
    await_tree(sm, Leaf(run), rt, lambda r: r.complete_run(6))
    seen.append([sm.result(call_id), sm.result(snd), sm.result(run)])

    aw_id, aw = sm.sys_awakeable()
    seen.append((aw_id, aw))
    gp = sm.sys_get_promise("p1")
    pp = sm.sys_peek_promise("p2", name="peek")
    cp = sm.sys_complete_promise("p3", Failure(409, "taken"))
    at = sm.sys_attach_invocation(IdempotentTarget("S", "h", "idem", key="kk"))
    go = sm.sys_get_invocation_output(WorkflowTarget("W", "wk"))
    sm.sys_complete_awakeable("sign_1other", Success(b"done"))
    sm.sys_send_signal("inv_peer", signal_name="go", result=Failure(400, "no"))
    sm.sys_send_signal("inv_peer", index=1)
    sm.sys_set_state("k", b"new")
    sm.sys_clear_state("gone")
    seen.append((gp, pp, cp, at, go))

    race = Node(FC, (Leaf(sl), Leaf(aw)))
    await_tree(sm, race, rt, lambda r: r.deliver(signal(17, b"woke"), sleep_done(4)))
    seen.append((sm.resolved_at(Leaf(sl)), sm.resolved_at(Leaf(aw)), sm.result(aw)))

    everything = Node(ASOFF, (Leaf(call_res), Leaf(gp), Leaf(pp), Leaf(cp), Leaf(at), Leaf(go)))
    await_tree(
        sm,
        Node(AC, (everything,)),
        rt,
        lambda r: r.deliver(
            call_done(3, b"called"),
            m.GetPromiseCompletionNotificationMessage(completion_id=7, value=value(b"p1")),
            m.PeekPromiseCompletionNotificationMessage(completion_id=8, void=m.Void()),
            m.CompletePromiseCompletionNotificationMessage(completion_id=9, void=m.Void()),
            m.AttachInvocationCompletionNotificationMessage(completion_id=10, value=value(b"a")),
            m.GetInvocationOutputCompletionNotificationMessage(
                completion_id=11, failure=pb_failure(500, "x")
            ),
        ),
    )
    seen.append([sm.result(n) for n in (call_res, gp, pp, cp, at, go)])
    seen.append(sm.child_calls)
    return seen


@all_versions
def test_replay_of_own_journal_writes_nothing_and_sees_the_same(version: int) -> None:
    a = machine(version, invocation_id=PROBE_ID)
    rt = Runtime(a)
    seen_a = _full_flow(a, rt)
    rt.sync()
    assert not a.closed
    written = [t for t, _, _ in rt.written]
    assert written.count(T.PROPOSE_RUN_COMPLETION) == 1
    assert len(rt.journal) == 15 + 12  # 15 commands + 12 notifications
    assert sum(1 for msg in rt.journal if m.is_command(m.type_of(msg))) == 15
    a.sys_write_output(Success(b"out"))
    a.sys_end()
    assert types(output(a)) == [T.OUTPUT_COMMAND, T.END]

    b = replay(version, rt.journal, invocation_id=PROBE_ID)
    seen_b = _full_flow(b, None)
    assert not b.has_output  # every command was replayed
    assert seen_b == seen_a
    assert phase(b) is Phase.PROCESSING
    b.sys_write_output(Success(b"out"))
    b.sys_end()
    assert types(output(b)) == [T.OUTPUT_COMMAND, T.END]


@all_versions
def test_replay_of_own_journal_with_a_different_call_parameter_mismatches(version: int) -> None:
    a = started(version)
    rt = Runtime(a)
    a.sys_sleep(1)
    a.sys_call("S", "h", b"one")
    rt.sync()
    b = started(version, rt.journal)
    b.sys_sleep(2)  # a different wake-up time still matches
    with pytest.raises(JournalMismatch):
        b.sys_call("S", "h", b"two")
    err = assert_journal_mismatch(b)
    assert "CALL_COMMAND" in err.message


@all_versions
def test_replay_of_own_journal_with_different_run_name_mismatches(version: int) -> None:
    a = started(version)
    rt = Runtime(a)
    a.sys_send("S", "h", b"", invoke_time_ms=10)
    a.sys_run("first")
    rt.sync()
    b = started(version, rt.journal)
    b.sys_send("S", "h", b"", invoke_time_ms=20)  # invoke_time is not compared
    assert not b.has_output
    with pytest.raises(JournalMismatch):
        b.sys_run("renamed")
    assert_journal_mismatch(b)


# =========================================================================== combinators


@all_versions
@pytest.mark.parametrize("awakeable_first", [True, False])
def test_race_sleep_vs_awakeable_resolves_to_first_arrival_and_replays_so(
    version: int, awakeable_first: bool
) -> None:
    a = started(version)
    rt = Runtime(a)
    sl = a.sys_sleep(5000)
    _, aw = a.sys_awakeable()
    race = Node(FC, (Leaf(sl), Leaf(aw)))
    assert a.do_progress(race) is Progress.WAIT_INPUT
    arrivals: list[m.Message] = [signal(17, b"v"), sleep_done(1)]
    if not awakeable_first:
        arrivals.reverse()
    rt.deliver(*arrivals)  # both arrive before the handler looks
    assert a.do_progress(race) is Progress.RESOLVED
    winner, loser = (aw, sl) if awakeable_first else (sl, aw)
    assert a.resolved_at(Leaf(winner)) == 0
    assert a.resolved_at(Leaf(loser)) is None  # not even looked at yet
    assert a.resolved_at(race) == 0

    b = started(version, rt.journal)
    b_sl = b.sys_sleep(9999)
    _, b_aw = b.sys_awakeable()
    assert (b_sl, b_aw) == (sl, aw)
    assert b.do_progress(race) is Progress.RESOLVED
    assert b.resolved_at(Leaf(winner)) == 0
    assert b.resolved_at(Leaf(loser)) is None
    assert b.result(winner) == a.result(winner)
    assert not b.has_output


def test_race_winner_decided_by_arrival_even_when_both_seen() -> None:
    sm = started(6)
    sl = sm.sys_sleep(5)
    _, aw = sm.sys_awakeable()
    sm.feed(frames(sleep_done(1), signal(17, b"v")))
    assert sm.do_progress(Node(AC, (Leaf(sl), Leaf(aw)))) is Progress.RESOLVED
    # Both seen now; the race still names the sleep (it arrived first).
    race = Node(FC, (Leaf(aw), Leaf(sl)))
    assert sm.do_progress(race) is Progress.RESOLVED
    assert sm.resolved_at(Leaf(sl)) == 0
    assert sm.resolved_at(Leaf(aw)) == 1
    assert sm.resolved_at(race) == 0


@all_versions
def test_all_succeeded_or_first_failed_stops_at_first_failure(version: int) -> None:
    sm = started(version)
    _, r1 = sm.sys_call("S", "a", b"")  # 1, 2
    _, r2 = sm.sys_call("S", "b", b"")  # 3, 4
    sl = sm.sys_sleep(5)  # 5
    tree = Node(ASOFF, (Leaf(r1), Leaf(r2), Leaf(sl)))
    sm.feed(frame(call_done(2, b"ok")))
    assert sm.do_progress(tree) is Progress.WAIT_INPUT
    sm.feed(
        frames(
            m.CallCompletionNotificationMessage(completion_id=4, failure=pb_failure(500, "x")),
            sleep_done(5),
        )
    )
    assert sm.do_progress(tree) is Progress.RESOLVED
    assert sm.result(r2) == Failure(500, "x")
    assert sm.result(sl) is None  # the sleep was not needed: still unread
    assert sm.resolved_at(tree) == 1


@all_versions
def test_first_succeeded_or_all_failed(version: int) -> None:
    sm = started(version)
    _, r1 = sm.sys_call("S", "a", b"")
    _, r2 = sm.sys_call("S", "b", b"")
    tree = Node(FSOAF, (Leaf(r1), Leaf(r2)))
    sm.feed(
        frame(m.CallCompletionNotificationMessage(completion_id=2, failure=pb_failure(500, "x")))
    )
    assert sm.do_progress(tree) is Progress.WAIT_INPUT
    sm.feed(frame(call_done(4, b"ok")))
    assert sm.do_progress(tree) is Progress.RESOLVED
    assert sm.resolved_at(tree) == 1


def _nested_tree_suspension(version: int) -> m.SuspensionMessage:
    sm = started(version)
    sm.sys_call("S", "h", b"")  # 1 (id), 2 (result)
    sm.sys_sleep(5)  # 3
    sm.sys_awakeable()  # signal 17
    sm.take_output()
    tree = Node(
        ASOFF,
        (
            Node(AC, (c(1), c(2))),
            Node(FSOAF, (sig(17), named("go"))),
            c(3),
        ),
    )
    sm.feed(frame(invocation_id_done(1, "inv_x")))
    assert sm.do_progress(tree) is Progress.WAIT_INPUT
    sm.feed_eof()
    assert sm.do_progress(tree) is Progress.SUSPENDED
    msg = only(output(sm), T.SUSPENSION)
    assert isinstance(msg, m.SuspensionMessage)
    assert sm.closed
    return msg


def test_v7_suspension_nested_tree_combinators_and_pruning() -> None:
    assert _nested_tree_suspension(7) == m.SuspensionMessage(
        awaiting_on=m.Future(
            combinator_type=m.CombinatorType.FIRST_COMPLETED,
            waiting_signals=[1],
            nested_futures=[
                m.Future(
                    combinator_type=m.CombinatorType.ALL_SUCCEEDED_OR_FIRST_FAILED,
                    waiting_completions=[3],
                    nested_futures=[
                        m.Future(
                            combinator_type=m.CombinatorType.ALL_COMPLETED,
                            waiting_completions=[2],
                        ),
                        m.Future(
                            combinator_type=m.CombinatorType.FIRST_SUCCEEDED_OR_ALL_FAILED,
                            waiting_signals=[17],
                            waiting_named_signals=["go"],
                        ),
                    ],
                )
            ],
        )
    )


@pre_v7
def test_suspension_nested_tree_flattened_before_v7(version: int) -> None:
    msg = _nested_tree_suspension(version)
    assert not msg.HasField("awaiting_on")
    assert sorted(msg.waiting_completions) == [2, 3]  # 1 completed: dropped
    assert sorted(msg.waiting_signals) == [1, 17]
    assert list(msg.waiting_named_signals) == ["go"]


def test_v7_suspension_drops_resolved_subtrees() -> None:
    sm = started(7)
    sm.sys_sleep(1)  # 1
    sm.sys_sleep(2)  # 2
    sm.sys_sleep(3)  # 3
    sm.take_output()
    tree = Node(AC, (Node(FC, (c(1), c(2))), c(3)))
    sm.feed(frame(sleep_done(1)))  # the inner race is over
    assert sm.do_progress(tree) is Progress.WAIT_INPUT
    sm.feed_eof()
    assert sm.do_progress(tree) is Progress.SUSPENDED
    assert only(output(sm), T.SUSPENSION) == m.SuspensionMessage(
        awaiting_on=m.Future(
            combinator_type=m.CombinatorType.FIRST_COMPLETED,
            waiting_signals=[1],
            nested_futures=[
                m.Future(combinator_type=m.CombinatorType.ALL_COMPLETED, waiting_completions=[3])
            ],
        )
    )


# =========================================================================== cancellation


def _cancel_flow(sm: StateMachine, rt: Runtime | None) -> list[object]:
    """Two calls and a send; the await on the first call is cancelled; children get cancelled."""
    seen: list[object] = [sm.sys_input().value]
    id1, r1 = sm.sys_call("S", "a", b"")  # 1, 2
    sm.sys_send("S", "fire", b"")  # 3: not a child to cancel
    id2, _ = sm.sys_call("S", "b", b"")  # 4, 5
    progress = sm.do_progress(Leaf(r1))
    if rt is not None:
        assert progress is Progress.WAIT_INPUT
        rt.deliver(invocation_id_done(1, "inv_child_a"), cancel_signal())
        progress = sm.do_progress(Leaf(r1))
    assert progress is Progress.CANCELLED
    seen.append(sm.result(CANCEL))
    children = sm.child_calls
    assert children == (id1, id2)
    ids_known = Node(AC, tuple(Leaf(ch) for ch in children))
    await_tree(sm, ids_known, rt, lambda r: r.deliver(invocation_id_done(4, "inv_child_b")))
    for ch in children:
        result = sm.result(ch)
        assert isinstance(result, InvocationIdResult)
        sm.sys_send_signal(result.invocation_id, index=1)
        seen.append(result.invocation_id)
    # Reported once: the next await behaves normally.
    progress = sm.do_progress(Leaf(r1))
    seen.append(progress)
    return seen


@all_versions
def test_cancel_propagates_to_child_calls_and_replays(version: int) -> None:
    a = machine(version)
    rt = Runtime(a)
    seen_a = _cancel_flow(a, rt)
    assert seen_a[-1] is Progress.WAIT_INPUT
    rt.sync()
    sends = [msg for t, _, msg in rt.written if t == T.SEND_SIGNAL_COMMAND]
    assert sends == [
        m.SendSignalCommandMessage(target_invocation_id="inv_child_a", idx=1, void=m.Void()),
        m.SendSignalCommandMessage(target_invocation_id="inv_child_b", idx=1, void=m.Void()),
    ]
    assert [m.type_of(msg) for msg in rt.journal] == [
        T.CALL_COMMAND,
        T.ONE_WAY_CALL_COMMAND,
        T.CALL_COMMAND,
        T.CALL_INVOCATION_ID_COMPLETION,
        T.SIGNAL_NOTIFICATION,
        T.CALL_INVOCATION_ID_COMPLETION,
        T.SEND_SIGNAL_COMMAND,
        T.SEND_SIGNAL_COMMAND,
    ]

    b = replay(version, rt.journal)
    seen_b = _cancel_flow(b, None)
    assert not b.has_output  # the SendSignal commands were replayed, not written again
    b.feed_eof()
    assert seen_b[:-1] == seen_a[:-1]
    b.sys_write_output(Failure(409, "cancelled"))
    b.sys_end()
    out = output(b)
    assert types(out) == [T.OUTPUT_COMMAND, T.END]
    assert out[0][1] == m.OutputCommandMessage(failure=pb_failure(409, "cancelled"))


@all_versions
def test_cancel_replay_writes_only_the_missing_send_signals(version: int) -> None:
    # The previous attempt cancelled child a, then died before cancelling child b.
    journal = [
        m.CallCommandMessage(
            service_name="S",
            handler_name="a",
            invocation_id_notification_idx=1,
            result_completion_id=2,
        ),
        m.CallCommandMessage(
            service_name="S",
            handler_name="b",
            invocation_id_notification_idx=3,
            result_completion_id=4,
        ),
        invocation_id_done(1, "inv_a"),
        invocation_id_done(3, "inv_b"),
        cancel_signal(),
        m.SendSignalCommandMessage(target_invocation_id="inv_a", idx=1, void=m.Void()),
    ]
    sm = started(version, journal)
    _, r1 = sm.sys_call("S", "a", b"")
    sm.sys_call("S", "b", b"")
    assert sm.do_progress(Leaf(r1)) is Progress.CANCELLED
    ids_known = Node(AC, tuple(Leaf(ch) for ch in sm.child_calls))
    assert sm.do_progress(ids_known) is Progress.RESOLVED
    for ch in sm.child_calls:
        result = sm.result(ch)
        assert isinstance(result, InvocationIdResult)
        sm.sys_send_signal(result.invocation_id, index=1)
    assert sm.take_output() == frame(
        m.SendSignalCommandMessage(target_invocation_id="inv_b", idx=1, void=m.Void())
    )


@all_versions
def test_cancel_while_child_ids_unknown_suspends_on_them_only(version: int) -> None:
    sm = started(version)
    id1, r1 = sm.sys_call("S", "a", b"")
    sm.take_output()
    sm.feed(frame(cancel_signal()))
    sm.feed_eof()
    assert sm.do_progress(Leaf(r1)) is Progress.CANCELLED
    assert sm.do_progress(Node(AC, (Leaf(id1),))) is Progress.SUSPENDED
    msg = only(output(sm), T.SUSPENSION)
    if version >= 7:
        assert msg == m.SuspensionMessage(
            awaiting_on=m.Future(
                combinator_type=m.CombinatorType.ALL_COMPLETED, waiting_completions=[1]
            )
        )
    else:
        assert msg == m.SuspensionMessage(waiting_completions=[1])


@all_versions
def test_cancel_while_run_executing_is_reported(version: int) -> None:
    sm = started(version)
    run, _ = sm.sys_run()
    sm.run_started(run)
    sm.take_output()
    sm.feed(frame(cancel_signal()))
    assert sm.do_progress(Leaf(run)) is Progress.CANCELLED
    assert sm.do_progress(Leaf(run)) is Progress.WAIT_INPUT
