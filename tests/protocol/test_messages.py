"""Tests for restate_trio._protocol.messages (schema, type ids, encode/decode).

Expected values come from the protocol reference, sections 2 and 3, including the
payloads captured from restate-server 1.7.12.
"""

from __future__ import annotations

import pytest

from restate_trio._protocol import messages as m

T = m.MessageType


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# One populated sample per type id, exercising nested types and oneofs.
SAMPLES: dict[m.MessageType, m.Message] = {
    T.START: m.StartMessage(
        id=bytes(range(24)),
        debug_id="inv_1afeVIM8FIgd0ETawdDjblcQazBwrgX6bB",
        known_entries=4,
        state_map=[
            m.StartMessage.StateEntry(key=b"count", value=b"41"),
            m.StartMessage.StateEntry(key=b"empty", value=b""),
        ],
        partial_state=True,
        key="my key/1",
        retry_count_since_last_stored_entry=1,
        duration_since_last_stored_entry=708,
        random_seed=5024088754314479656,
        scope="s",
        limit_key="l",
        idempotency_key="idem-123",
    ),
    T.SUSPENSION: m.SuspensionMessage(
        waiting_completions=[1, 2],
        waiting_signals=[1, 17],
        waiting_named_signals=["sig"],
    ),
    T.ERROR: m.ErrorMessage(
        code=500,
        message="boom",
        stacktrace="trace",
        related_command_index=1,
        related_command_name="run",
        related_command_type=0x0411,
        next_retry_delay=700,
        behavior=m.ErrorBehavior.PAUSE,
    ),
    T.END: m.EndMessage(),
    T.COMMAND_ACK: m.CommandAckMessage(command_index=1),
    T.PROPOSE_RUN_COMPLETION: m.ProposeRunCompletionMessage(result_completion_id=1, value=b'"r"'),
    T.AWAITING_ON: m.AwaitingOnMessage(
        awaiting_on=m.Future(
            waiting_completions=[1],
            nested_futures=[
                m.Future(
                    waiting_signals=[17, 1],
                    waiting_named_signals=["n"],
                    combinator_type=m.CombinatorType.FIRST_COMPLETED,
                )
            ],
            combinator_type=m.CombinatorType.ALL_SUCCEEDED_OR_FIRST_FAILED,
        ),
        executing_side_effects=True,
    ),
    T.PROPOSE_RUN_COMPLETION_ACK: m.ProposeRunCompletionAckMessage(completion_id=1),
    T.INPUT_COMMAND: m.InputCommandMessage(
        headers=[m.Header(key="x-restate-ingress-path", value="/Greeter/greet")],
        value=m.Value(content=b'"world"'),
        name="",
    ),
    T.OUTPUT_COMMAND: m.OutputCommandMessage(
        failure=m.Failure(
            code=409,
            message="cancelled",
            metadata=[m.FailureMetadata(key="k", value="v")],
        ),
        name="out",
    ),
    T.GET_LAZY_STATE_COMMAND: m.GetLazyStateCommandMessage(
        key=b"k", result_completion_id=1, name="get"
    ),
    T.SET_STATE_COMMAND: m.SetStateCommandMessage(
        key=b"k", value=m.Value(content=b"41"), name="set"
    ),
    T.CLEAR_STATE_COMMAND: m.ClearStateCommandMessage(key=b"k", name="clear"),
    T.CLEAR_ALL_STATE_COMMAND: m.ClearAllStateCommandMessage(name="clear-all"),
    T.GET_LAZY_STATE_KEYS_COMMAND: m.GetLazyStateKeysCommandMessage(
        result_completion_id=2, name="keys"
    ),
    T.GET_EAGER_STATE_COMMAND: m.GetEagerStateCommandMessage(key=b"k", void=m.Void(), name="g"),
    T.GET_EAGER_STATE_KEYS_COMMAND: m.GetEagerStateKeysCommandMessage(
        value=m.StateKeys(keys=[b"a", b"b"]), name="ks"
    ),
    T.GET_PROMISE_COMMAND: m.GetPromiseCommandMessage(key="p", result_completion_id=3, name="gp"),
    T.PEEK_PROMISE_COMMAND: m.PeekPromiseCommandMessage(key="p", result_completion_id=4, name="pp"),
    T.COMPLETE_PROMISE_COMMAND: m.CompletePromiseCommandMessage(
        key="p",
        completion_value=m.Value(content=b"1"),
        result_completion_id=5,
        name="cp",
    ),
    T.SLEEP_COMMAND: m.SleepCommandMessage(
        wake_up_time=1_750_000_000_000, result_completion_id=6, name="zz"
    ),
    T.CALL_COMMAND: m.CallCommandMessage(
        service_name="Greeter",
        handler_name="greet",
        parameter=b'"p"',
        headers=[m.Header(key="a", value="b")],
        key="k",
        idempotency_key="",
        scope="sc",
        limit_key="lk",
        invocation_id_notification_idx=7,
        result_completion_id=8,
        name="call",
    ),
    T.ONE_WAY_CALL_COMMAND: m.OneWayCallCommandMessage(
        service_name="Greeter",
        handler_name="greet",
        parameter=b"",
        invoke_time=1_750_000_000_000,
        headers=[m.Header(key="a", value="b")],
        key="k",
        idempotency_key="idem",
        scope="sc",
        limit_key="lk",
        invocation_id_notification_idx=9,
        name="send",
    ),
    T.SEND_SIGNAL_COMMAND: m.SendSignalCommandMessage(
        target_invocation_id="inv_1afeVIM8FIgd0ETawdDjblcQazBwrgX6bB",
        idx=1,
        void=m.Void(),
        entry_name="cancel",
    ),
    T.RUN_COMMAND: m.RunCommandMessage(result_completion_id=10, name="run"),
    T.ATTACH_INVOCATION_COMMAND: m.AttachInvocationCommandMessage(
        idempotent_request_target=m.IdempotentRequestTarget(
            service_name="S",
            service_key="",
            handler_name="h",
            idempotency_key="i",
            scope="sc",
        ),
        result_completion_id=11,
        name="attach",
    ),
    T.GET_INVOCATION_OUTPUT_COMMAND: m.GetInvocationOutputCommandMessage(
        workflow_target=m.WorkflowTarget(workflow_name="W", workflow_key="k", scope="sc"),
        result_completion_id=12,
        name="output",
    ),
    T.COMPLETE_AWAKEABLE_COMMAND: m.CompleteAwakeableCommandMessage(
        awakeable_id="sign_1g6WoAE_UAajmzuF0IkiLeZ_X8h49wa50AAAAEQ",
        value=m.Value(content=b"1"),
        name="resolve",
    ),
    T.GET_LAZY_STATE_COMPLETION: m.GetLazyStateCompletionNotificationMessage(
        completion_id=1, void=m.Void()
    ),
    T.GET_LAZY_STATE_KEYS_COMPLETION: m.GetLazyStateKeysCompletionNotificationMessage(
        completion_id=2, state_keys=m.StateKeys(keys=[b"a"])
    ),
    T.GET_PROMISE_COMPLETION: m.GetPromiseCompletionNotificationMessage(
        completion_id=3, value=m.Value(content=b'"x"')
    ),
    T.PEEK_PROMISE_COMPLETION: m.PeekPromiseCompletionNotificationMessage(
        completion_id=4, void=m.Void()
    ),
    T.COMPLETE_PROMISE_COMPLETION: m.CompletePromiseCompletionNotificationMessage(
        completion_id=5, failure=m.Failure(code=400, message="already completed")
    ),
    T.SLEEP_COMPLETION: m.SleepCompletionNotificationMessage(completion_id=6, void=m.Void()),
    T.CALL_COMPLETION: m.CallCompletionNotificationMessage(
        completion_id=3, value=m.Value(content=b'"x"')
    ),
    T.CALL_INVOCATION_ID_COMPLETION: m.CallInvocationIdCompletionNotificationMessage(
        completion_id=7, invocation_id="inv_1afeVIM8FIgd0ETawdDjblcQazBwrgX6bB"
    ),
    T.RUN_COMPLETION: m.RunCompletionNotificationMessage(
        completion_id=3, value=m.Value(content=b'"x"')
    ),
    T.ATTACH_INVOCATION_COMPLETION: m.AttachInvocationCompletionNotificationMessage(
        completion_id=3, value=m.Value(content=b'"x"')
    ),
    T.GET_INVOCATION_OUTPUT_COMPLETION: m.GetInvocationOutputCompletionNotificationMessage(
        completion_id=12, void=m.Void()
    ),
    T.SIGNAL_NOTIFICATION: m.SignalNotificationMessage(
        name="approved", value=m.Value(content=b"true")
    ),
}


# ---------------------------------------------------------------------------
# Type table
# ---------------------------------------------------------------------------


EXPECTED_TYPE_IDS = {
    "START": 0x0000,
    "SUSPENSION": 0x0001,
    "ERROR": 0x0002,
    "END": 0x0003,
    "COMMAND_ACK": 0x0004,
    "PROPOSE_RUN_COMPLETION": 0x0005,
    "AWAITING_ON": 0x0006,
    "PROPOSE_RUN_COMPLETION_ACK": 0x0007,
    "INPUT_COMMAND": 0x0400,
    "OUTPUT_COMMAND": 0x0401,
    "GET_LAZY_STATE_COMMAND": 0x0402,
    "SET_STATE_COMMAND": 0x0403,
    "CLEAR_STATE_COMMAND": 0x0404,
    "CLEAR_ALL_STATE_COMMAND": 0x0405,
    "GET_LAZY_STATE_KEYS_COMMAND": 0x0406,
    "GET_EAGER_STATE_COMMAND": 0x0407,
    "GET_EAGER_STATE_KEYS_COMMAND": 0x0408,
    "GET_PROMISE_COMMAND": 0x0409,
    "PEEK_PROMISE_COMMAND": 0x040A,
    "COMPLETE_PROMISE_COMMAND": 0x040B,
    "SLEEP_COMMAND": 0x040C,
    "CALL_COMMAND": 0x040D,
    "ONE_WAY_CALL_COMMAND": 0x040E,
    "SEND_SIGNAL_COMMAND": 0x0410,
    "RUN_COMMAND": 0x0411,
    "ATTACH_INVOCATION_COMMAND": 0x0412,
    "GET_INVOCATION_OUTPUT_COMMAND": 0x0413,
    "COMPLETE_AWAKEABLE_COMMAND": 0x0414,
    "GET_LAZY_STATE_COMPLETION": 0x8002,
    "GET_LAZY_STATE_KEYS_COMPLETION": 0x8006,
    "GET_PROMISE_COMPLETION": 0x8009,
    "PEEK_PROMISE_COMPLETION": 0x800A,
    "COMPLETE_PROMISE_COMPLETION": 0x800B,
    "SLEEP_COMPLETION": 0x800C,
    "CALL_COMPLETION": 0x800D,
    "CALL_INVOCATION_ID_COMPLETION": 0x800E,
    "RUN_COMPLETION": 0x8011,
    "ATTACH_INVOCATION_COMPLETION": 0x8012,
    "GET_INVOCATION_OUTPUT_COMPLETION": 0x8013,
    "SIGNAL_NOTIFICATION": 0xFBFF,
}


def test_type_table_matches_reference() -> None:
    # 38 types in V5/V6, plus AwaitingOn and ProposeRunCompletionAck in V7.
    assert len(EXPECTED_TYPE_IDS) == 40
    assert {t.name: int(t) for t in T} == EXPECTED_TYPE_IDS


def test_message_classes_cover_every_type_once() -> None:
    assert set(m.MESSAGE_CLASSES) == set(T)
    assert len(set(m.MESSAGE_CLASSES.values())) == len(T)
    for type_id, cls in m.MESSAGE_CLASSES.items():
        assert m.type_of(cls()) == type_id


def test_class_names_follow_type_names() -> None:
    for type_id, cls in m.MESSAGE_CLASSES.items():
        name = cls.DESCRIPTOR.name
        if m.is_command(type_id):
            assert name.endswith("CommandMessage"), name
        elif m.is_notification(type_id):
            assert name.endswith("NotificationMessage"), name
        else:
            assert name.endswith("Message"), name
        assert cls.DESCRIPTOR.full_name == f"dev.restate.service.protocol.{name}"


@pytest.mark.parametrize(
    ("type_id", "control", "command", "notification", "custom"),
    [
        (0x0000, True, False, False, False),
        (0x0007, True, False, False, False),
        (0x03FF, True, False, False, False),
        (0x0400, False, True, False, False),
        (0x0414, False, True, False, False),
        (0x7FFF, False, True, False, False),
        (0x8000, False, False, True, False),
        (0x8011, False, False, True, False),
        (0xFBFF, False, False, True, False),
        (0xFC00, False, False, False, True),
        (0xFFFF, False, False, False, True),
    ],
)
def test_type_ranges(
    type_id: int, control: bool, command: bool, notification: bool, custom: bool
) -> None:
    assert m.is_control(type_id) is control
    assert m.is_command(type_id) is command
    assert m.is_notification(type_id) is notification
    assert m.is_custom_entry(type_id) is custom


def test_known_types_are_in_their_ranges() -> None:
    for t in T:
        kinds = [m.is_control(t), m.is_command(t), m.is_notification(t)]
        assert kinds.count(True) == 1
        assert m.is_command(t) == t.name.endswith("_COMMAND")


# ---------------------------------------------------------------------------
# Schema (field numbers) against the reference tables
# ---------------------------------------------------------------------------

_TEMPLATE = {
    "completion_id": 1,
    "signal_id": 2,
    "signal_name": 3,
    "void": 4,
    "value": 5,
    "failure": 6,
    "invocation_id": 16,
    "state_keys": 17,
}
_TARGETS = {
    "invocation_id": 1,
    "idempotent_request_target": 3,
    "workflow_target": 4,
    "result_completion_id": 11,
    "name": 12,
}

EXPECTED_FIELDS: dict[type[m.Message], dict[str, int]] = {
    m.Value: {"content": 1},
    m.Void: {},
    m.Failure: {"code": 1, "message": 2, "metadata": 3},
    m.FailureMetadata: {"key": 1, "value": 2},
    m.Header: {"key": 1, "value": 2},
    m.StateKeys: {"keys": 1},
    m.StartMessage.StateEntry: {"key": 1, "value": 2},
    m.WorkflowTarget: {"workflow_name": 1, "workflow_key": 2, "scope": 3},
    m.IdempotentRequestTarget: {
        "service_name": 1,
        "service_key": 2,
        "handler_name": 3,
        "idempotency_key": 4,
        "scope": 5,
    },
    m.Future: {
        "waiting_completions": 1,
        "waiting_signals": 2,
        "waiting_named_signals": 3,
        "nested_futures": 4,
        "combinator_type": 5,
    },
    m.StartMessage: {
        "id": 1,
        "debug_id": 2,
        "known_entries": 3,
        "state_map": 4,
        "partial_state": 5,
        "key": 6,
        "retry_count_since_last_stored_entry": 7,
        "duration_since_last_stored_entry": 8,
        "random_seed": 9,
        "scope": 10,
        "limit_key": 11,
        "idempotency_key": 12,
    },
    m.SuspensionMessage: {
        "waiting_completions": 1,
        "waiting_signals": 2,
        "waiting_named_signals": 3,
        "awaiting_on": 4,
    },
    m.ErrorMessage: {
        "code": 1,
        "message": 2,
        "stacktrace": 3,
        "related_command_index": 4,
        "related_command_name": 5,
        "related_command_type": 6,
        "next_retry_delay": 8,
        "behavior": 9,
    },
    m.EndMessage: {},
    m.CommandAckMessage: {"command_index": 1},
    m.ProposeRunCompletionMessage: {"result_completion_id": 1, "value": 14, "failure": 15},
    m.AwaitingOnMessage: {"awaiting_on": 1, "executing_side_effects": 2},
    m.ProposeRunCompletionAckMessage: {"completion_id": 1},
    m.InputCommandMessage: {"headers": 1, "value": 14, "name": 12},
    m.OutputCommandMessage: {"value": 14, "failure": 15, "name": 12},
    m.GetLazyStateCommandMessage: {"key": 1, "result_completion_id": 11, "name": 12},
    m.SetStateCommandMessage: {"key": 1, "value": 3, "name": 12},
    m.ClearStateCommandMessage: {"key": 1, "name": 12},
    m.ClearAllStateCommandMessage: {"name": 12},
    m.GetLazyStateKeysCommandMessage: {"result_completion_id": 11, "name": 12},
    m.GetEagerStateCommandMessage: {"key": 1, "void": 13, "value": 14, "name": 12},
    m.GetEagerStateKeysCommandMessage: {"value": 14, "name": 12},
    m.GetPromiseCommandMessage: {"key": 1, "result_completion_id": 11, "name": 12},
    m.PeekPromiseCommandMessage: {"key": 1, "result_completion_id": 11, "name": 12},
    m.CompletePromiseCommandMessage: {
        "key": 1,
        "completion_value": 2,
        "completion_failure": 3,
        "result_completion_id": 11,
        "name": 12,
    },
    m.SleepCommandMessage: {"wake_up_time": 1, "result_completion_id": 11, "name": 12},
    m.CallCommandMessage: {
        "service_name": 1,
        "handler_name": 2,
        "parameter": 3,
        "headers": 4,
        "key": 5,
        "idempotency_key": 6,
        "scope": 7,
        "limit_key": 8,
        "invocation_id_notification_idx": 10,
        "result_completion_id": 11,
        "name": 12,
    },
    m.OneWayCallCommandMessage: {
        "service_name": 1,
        "handler_name": 2,
        "parameter": 3,
        "invoke_time": 4,
        "headers": 5,
        "key": 6,
        "idempotency_key": 7,
        "scope": 8,
        "limit_key": 9,
        "invocation_id_notification_idx": 10,
        "name": 12,
    },
    m.SendSignalCommandMessage: {
        "target_invocation_id": 1,
        "idx": 2,
        "name": 3,
        "void": 4,
        "value": 5,
        "failure": 6,
        "entry_name": 12,
    },
    m.RunCommandMessage: {"result_completion_id": 11, "name": 12},
    m.AttachInvocationCommandMessage: _TARGETS,
    m.GetInvocationOutputCommandMessage: _TARGETS,
    m.CompleteAwakeableCommandMessage: {"awakeable_id": 1, "value": 2, "failure": 3, "name": 12},
    m.NotificationTemplate: _TEMPLATE,
    **{
        cls: _TEMPLATE
        for t, cls in m.MESSAGE_CLASSES.items()
        if m.is_notification(t) and t != T.SIGNAL_NOTIFICATION
    },
    m.SignalNotificationMessage: {
        **{k: v for k, v in _TEMPLATE.items() if k not in ("signal_id", "signal_name")},
        "idx": 2,
        "name": 3,
    },
}

EXPECTED_ONEOFS: dict[type[m.Message], dict[str, set[str]]] = {
    m.ProposeRunCompletionMessage: {"result": {"value", "failure"}},
    m.OutputCommandMessage: {"result": {"value", "failure"}},
    m.GetEagerStateCommandMessage: {"result": {"void", "value"}},
    m.CompletePromiseCommandMessage: {"completion": {"completion_value", "completion_failure"}},
    m.SendSignalCommandMessage: {
        "signal_id": {"idx", "name"},
        "result": {"void", "value", "failure"},
    },
    m.AttachInvocationCommandMessage: {
        "target": {"invocation_id", "idempotent_request_target", "workflow_target"}
    },
    m.GetInvocationOutputCommandMessage: {
        "target": {"invocation_id", "idempotent_request_target", "workflow_target"}
    },
    m.CompleteAwakeableCommandMessage: {"result": {"value", "failure"}},
}

# proto3 `optional` (explicit presence) scalar fields.
EXPECTED_OPTIONAL: dict[type[m.Message], set[str]] = {
    m.StartMessage: {"scope", "limit_key", "idempotency_key"},
    m.ErrorMessage: {
        "related_command_index",
        "related_command_name",
        "related_command_type",
        "next_retry_delay",
    },
    m.CallCommandMessage: {"idempotency_key", "scope", "limit_key"},
    m.OneWayCallCommandMessage: {"idempotency_key", "scope", "limit_key"},
    m.WorkflowTarget: {"scope"},
    m.IdempotentRequestTarget: {"service_key", "scope"},
}


def test_every_message_has_an_expected_layout() -> None:
    for cls in m.MESSAGE_CLASSES.values():
        assert cls in EXPECTED_FIELDS, cls.DESCRIPTOR.name


@pytest.mark.parametrize(
    ("cls", "fields"), EXPECTED_FIELDS.items(), ids=lambda v: getattr(v, "__name__", "")
)
def test_field_numbers(cls: type[m.Message], fields: dict[str, int]) -> None:
    actual = {f.name: f.number for f in cls.DESCRIPTOR.fields}
    assert actual == fields


def test_oneofs() -> None:
    for cls in EXPECTED_FIELDS:
        expected = dict(EXPECTED_ONEOFS.get(cls, {}))
        if cls is m.NotificationTemplate or (
            cls in m.MESSAGE_CLASSES.values() and m.is_notification(m.type_of(cls()))
        ):
            id_names = (
                {"completion_id", "idx", "name"}
                if cls is m.SignalNotificationMessage
                else {"completion_id", "signal_id", "signal_name"}
            )
            expected = {
                "id": id_names,
                "result": {"void", "value", "failure", "invocation_id", "state_keys"},
            }
        actual = {
            o.name: {f.name for f in o.fields}
            for o in cls.DESCRIPTOR.oneofs
            if not o.name.startswith("_")  # synthetic oneofs of proto3 `optional`
        }
        assert actual == expected, cls.DESCRIPTOR.name


def test_optional_presence() -> None:
    for cls in EXPECTED_FIELDS:
        scalars_with_presence = {
            f.name
            for f in cls.DESCRIPTOR.fields
            if f.has_presence and f.message_type is None and f.containing_oneof is None
        }
        # proto3 `optional` fields sit in a synthetic oneof named "_<field>".
        optional = {
            f.name
            for f in cls.DESCRIPTOR.fields
            if f.containing_oneof is not None and f.containing_oneof.name == f"_{f.name}"
        }
        assert scalars_with_presence == set(), cls.DESCRIPTOR.name
        assert optional == EXPECTED_OPTIONAL.get(cls, set()), cls.DESCRIPTOR.name


def test_enums() -> None:
    assert m.BuiltInSignal.SIGNAL_UNKNOWN == 0
    assert m.BuiltInSignal.CANCEL == 1
    assert [m.ErrorBehavior.Value(n) for n in ("RETRY", "PAUSE", "FAIL")] == [0, 1, 2]
    assert [
        m.CombinatorType.Value(n)
        for n in (
            "COMBINATOR_TYPE_UNKNOWN",
            "FIRST_COMPLETED",
            "ALL_COMPLETED",
            "FIRST_SUCCEEDED_OR_ALL_FAILED",
            "ALL_SUCCEEDED_OR_FIRST_FAILED",
        )
    ] == [0, 1, 2, 3, 4]
    assert m.ServiceProtocolVersion.Value("SERVICE_PROTOCOL_VERSION_UNSPECIFIED") == 0
    for v in range(1, 8):
        assert m.ServiceProtocolVersion.Value(f"V{v}") == v


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------


def test_samples_cover_every_type() -> None:
    assert set(SAMPLES) == set(T)


@pytest.mark.parametrize("type_id", list(T), ids=lambda t: t.name)
def test_round_trip(type_id: m.MessageType) -> None:
    message = SAMPLES[type_id]
    encoded_type, payload = m.encode(message)
    assert encoded_type == type_id
    assert type(encoded_type) is int
    decoded = m.decode(encoded_type, payload)
    assert type(decoded) is type(message)
    assert decoded == message
    assert decoded.SerializeToString() == payload
    if type_id != T.END:
        assert payload  # every sample sets at least one field


def test_empty_payloads_decode_to_defaults() -> None:
    for type_id, cls in m.MESSAGE_CLASSES.items():
        assert m.decode(type_id, b"") == cls()
    assert m.encode(m.EndMessage()) == (0x0003, b"")


def test_encode_rejects_non_frame_messages() -> None:
    with pytest.raises(TypeError):
        m.encode(m.Value(content=b"x"))
    with pytest.raises(TypeError):
        m.type_of(m.NotificationTemplate())


# ---------------------------------------------------------------------------
# Captured payloads (reference §2, §3.3, §3.5, §7.2)
# ---------------------------------------------------------------------------


def test_captured_sleep_completion_void() -> None:
    msg = m.decode(0x800C, bytes.fromhex("08 01 22 00"))
    assert isinstance(msg, m.SleepCompletionNotificationMessage)
    assert msg.WhichOneof("id") == "completion_id"
    assert msg.completion_id == 1
    assert msg.WhichOneof("result") == "void"


def test_captured_run_completion_value() -> None:
    msg = m.decode(0x8011, bytes.fromhex("08 01 2a 05 0a 03 22 72 22"))
    assert isinstance(msg, m.RunCompletionNotificationMessage)
    assert msg.completion_id == 1
    assert msg.WhichOneof("result") == "value"
    assert msg.value.content == b'"r"'


def test_captured_awakeable_signal_value() -> None:
    payload = bytes.fromhex("10 11 2a 0b 0a 09") + b'"payload"'
    msg = m.decode(0xFBFF, payload)
    assert isinstance(msg, m.SignalNotificationMessage)
    assert msg.WhichOneof("id") == "idx"
    assert msg.idx == 17
    assert msg.WhichOneof("result") == "value"
    assert msg.value.content == b'"payload"'


def test_captured_cancel_signal() -> None:
    msg = m.decode(0xFBFF, bytes.fromhex("10 01 22 00"))
    assert isinstance(msg, m.SignalNotificationMessage)
    assert msg.WhichOneof("id") == "idx"
    assert msg.idx == m.BuiltInSignal.CANCEL
    assert msg.WhichOneof("result") == "void"
    # ... and the SendSignal command that cancels another invocation encodes the same way.
    cancel = m.SendSignalCommandMessage(target_invocation_id="inv_x", idx=1, void=m.Void())
    assert m.encode(cancel) == (
        0x0410,
        bytes.fromhex("0a 05") + b"inv_x" + bytes.fromhex("10 01 22 00"),
    )


def test_captured_acks() -> None:
    ack = m.decode(0x0007, bytes.fromhex("08 01"))
    assert isinstance(ack, m.ProposeRunCompletionAckMessage)
    assert ack.completion_id == 1
    cmd_ack = m.decode(0x0004, bytes.fromhex("08 01"))
    assert isinstance(cmd_ack, m.CommandAckMessage)
    assert cmd_ack.command_index == 1


def test_propose_run_completion_is_seven_bytes() -> None:
    # Captured header `00 05 80 00 00 00 00 07`: a 7-byte proposal, e.g. {1, value "\"r\""}.
    type_id, payload = m.encode(m.ProposeRunCompletionMessage(result_completion_id=1, value=b'"r"'))
    assert type_id == 0x0005
    assert payload == bytes.fromhex("08 01 72 03") + b'"r"'
    assert len(payload) == 7


def test_captured_input_with_empty_body_has_present_value() -> None:
    msg = m.decode(0x0400, bytes.fromhex("72 00"))
    assert isinstance(msg, m.InputCommandMessage)
    assert msg.HasField("value")
    assert msg.value.content == b""
    assert msg.name == ""


_START_ID = bytes.fromhex("55a303d0e0e256772fdad726b82e84cf0b629d31d766ab15")
_START_DEBUG_ID = "inv_1afeVIM8FIgd0ETawdDjblcQazBwrgX6bB"
_START_SEED = 5024088754314479656


def _captured_start_payload() -> bytes:
    # Captured prefix: 0a18 <id> 1226 696e765f31… 1801 2801 4001 48…; the elided parts are
    # filled in from the decoded values the reference reports for the same frame.
    return (
        bytes.fromhex("0a 18")
        + _START_ID
        + bytes.fromhex("12 26")
        + _START_DEBUG_ID.encode()
        + bytes.fromhex("18 01 28 01 40 01 48")
        + _varint(_START_SEED)
    )


def test_captured_start_message() -> None:
    payload = _captured_start_payload()
    assert len(payload) == 0x52  # the captured frame header announced 82 bytes
    assert payload.startswith(bytes.fromhex("0a18") + _START_ID + bytes.fromhex("1226696e765f31"))
    msg = m.decode(0x0000, payload)
    assert isinstance(msg, m.StartMessage)
    assert msg.id == _START_ID
    assert len(msg.id) == 24
    assert msg.debug_id == _START_DEBUG_ID
    assert msg.known_entries == 1
    assert msg.partial_state is True
    assert msg.key == ""
    assert msg.retry_count_since_last_stored_entry == 0
    assert msg.duration_since_last_stored_entry == 1
    assert msg.random_seed == _START_SEED
    assert not msg.HasField("scope")
    assert not msg.HasField("limit_key")
    assert not msg.HasField("idempotency_key")
    assert list(msg.state_map) == []
    # Our encoder produces the same bytes back.
    assert m.encode(msg) == (0x0000, payload)


def test_captured_start_prefix_alone_is_truncated() -> None:
    # Only the prefix up to "inv_1" is given verbatim; on its own it is a truncated payload.
    prefix = bytes.fromhex("0a18") + _START_ID + bytes.fromhex("1226696e765f31")
    with pytest.raises(m.MessageDecodeError):
        m.decode(0x0000, prefix)
    # The part before the debug id does parse.
    msg = m.decode(0x0000, bytes.fromhex("0a18") + _START_ID)
    assert isinstance(msg, m.StartMessage)
    assert msg.id == _START_ID


def test_start_message_state_and_v7_fields() -> None:
    payload = (
        bytes.fromhex("18 01")
        + bytes.fromhex("22 0b 0a 05") + b"count" + bytes.fromhex("12 02") + b"41"
        + bytes.fromhex("32 08") + b"my key/1"
        + bytes.fromhex("62 08") + b"idem-123"
        + bytes.fromhex("52 00")  # scope present but empty
    )  # fmt: skip
    msg = m.decode(0x0000, payload)
    assert isinstance(msg, m.StartMessage)
    assert [(e.key, e.value) for e in msg.state_map] == [(b"count", b"41")]
    assert msg.partial_state is False
    assert msg.key == "my key/1"
    assert msg.idempotency_key == "idem-123"
    assert msg.HasField("scope")
    assert msg.scope == ""
    assert not msg.HasField("limit_key")


# ---------------------------------------------------------------------------
# Wire details (reference §2)
# ---------------------------------------------------------------------------


def test_unknown_fields_are_skipped() -> None:
    # Unknown varint (field 99), fixed64 (field 100), length-delimited (field 101) and
    # fixed32 (field 102) fields around known ones, at top level and nested.
    unknown = (
        _varint(99 << 3 | 0) + _varint(12345)
        + _varint(100 << 3 | 1) + bytes(8)
        + _varint(101 << 3 | 2) + bytes.fromhex("03 61 62 63")
        + _varint(102 << 3 | 5) + bytes(4)
    )  # fmt: skip
    payload = (
        unknown
        + bytes.fromhex("08 01")
        + bytes.fromhex("2a")
        + _varint(5 + len(unknown))
        + unknown
        + bytes.fromhex("0a 03 22 72 22")
    )
    msg = m.decode(0x8011, payload)
    assert isinstance(msg, m.RunCompletionNotificationMessage)
    assert msg.completion_id == 1
    assert msg.value.content == b'"r"'


def test_random_seed_on_v5_is_harmless() -> None:
    # The server sends field 9 even on V5; it decodes whether or not the SDK uses it.
    msg = m.decode(0x0000, bytes.fromhex("18 01 48") + _varint(42))
    assert isinstance(msg, m.StartMessage)
    assert msg.known_entries == 1
    assert msg.random_seed == 42


@pytest.mark.parametrize(
    "type_id",
    [0x0008, 0x03FF, 0x040F, 0x0415, 0x7FFF, 0x8000, 0x8001, 0x8011 + 0x100, 0xFBFE, 0xFC00,
     0xFFFF, 0x10000, -1],
)  # fmt: skip
def test_unknown_type_id_raises(type_id: int) -> None:
    with pytest.raises(m.MessageDecodeError) as exc_info:
        m.decode(type_id, b"")
    assert isinstance(exc_info.value, ValueError)
    assert exc_info.value.type_id == type_id
    assert f"{type_id:04X}" in str(exc_info.value)


def test_custom_entry_error_message() -> None:
    with pytest.raises(m.MessageDecodeError, match="custom entries"):
        m.decode(0xFC01, b"")


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("0a 05 61 62"),  # length-delimited field runs past the end
        bytes.fromhex("08"),  # truncated varint tag value
        bytes.fromhex("08 ff ff ff ff ff ff ff ff ff ff 01"),  # varint longer than 10 bytes
        bytes.fromhex("00 01"),  # field number 0
        bytes.fromhex("0f"),  # wire type 7 does not exist
    ],
)
def test_invalid_payload_raises(payload: bytes) -> None:
    with pytest.raises(m.MessageDecodeError, match=r"0x0001 \(SUSPENSION\)"):
        m.decode(0x0001, payload)


def test_invalid_utf8_in_string_raises() -> None:
    with pytest.raises(m.MessageDecodeError):
        m.decode(0x0000, bytes.fromhex("12 02 ff fe"))


def test_waiting_completions_packed_and_unpacked() -> None:
    packed = bytes.fromhex("0a 03 01 02 03")
    unpacked = bytes.fromhex("08 01 08 02 08 03")
    mixed = bytes.fromhex("08 01 0a 02 02 03")
    for payload in (packed, unpacked, mixed):
        msg = m.decode(0x0001, payload)
        assert isinstance(msg, m.SuspensionMessage)
        assert list(msg.waiting_completions) == [1, 2, 3]
    signals = m.decode(0x0001, bytes.fromhex("10 01 10 11 12 01 12"))
    assert isinstance(signals, m.SuspensionMessage)
    assert list(signals.waiting_signals) == [1, 17, 18]
    # Inside a V7 Future, too.
    future = m.decode(0x0006, bytes.fromhex("0a 04 08 01 08 02"))
    assert isinstance(future, m.AwaitingOnMessage)
    assert list(future.awaiting_on.waiting_completions) == [1, 2]


def test_repeated_scalars_are_emitted_packed() -> None:
    _, payload = m.encode(
        m.SuspensionMessage(
            waiting_completions=[1, 2, 3], waiting_signals=[1, 17], waiting_named_signals=["a"]
        )
    )
    assert payload == bytes.fromhex("0a 03 01 02 03 12 02 01 11 1a 01 61")


def test_v7_suspension_uses_field_4_only() -> None:
    msg = m.SuspensionMessage(
        awaiting_on=m.Future(
            waiting_completions=[1],
            waiting_signals=[1],
            combinator_type=m.CombinatorType.FIRST_COMPLETED,
        )
    )
    type_id, payload = m.encode(msg)
    assert type_id == 0x0001
    # Field 4, length 8: Future{1: [1] packed, 2: [1] packed, 5: FIRST_COMPLETED}.
    assert payload == bytes.fromhex("22 08 0a 01 01 12 01 01 28 01")


def test_v7_suspension_nested_future() -> None:
    tree = m.Future(
        waiting_completions=[1],
        nested_futures=[
            m.Future(
                waiting_signals=[17, 1],
                combinator_type=m.CombinatorType.FIRST_COMPLETED,
            )
        ],
        combinator_type=m.CombinatorType.ALL_SUCCEEDED_OR_FIRST_FAILED,
    )
    _, payload = m.encode(m.SuspensionMessage(awaiting_on=tree))
    assert payload[0] == 0x22
    decoded = m.decode(0x0001, payload)
    assert isinstance(decoded, m.SuspensionMessage)
    assert decoded.HasField("awaiting_on")
    assert list(decoded.waiting_completions) == []
    assert list(decoded.awaiting_on.nested_futures[0].waiting_signals) == [17, 1]
    assert decoded.awaiting_on.combinator_type == 4


def test_error_message_optional_fields_and_behavior() -> None:
    _, payload = m.encode(
        m.ErrorMessage(
            code=500,
            related_command_name="",
            next_retry_delay=0,
            behavior=m.ErrorBehavior.PAUSE,
        )
    )
    # code 500; optional fields 5 and 8 are present even at their defaults; behavior 1.
    assert payload == bytes.fromhex("08 f4 03 2a 00 40 00 48 01")
    # RETRY (0) is the default and not emitted.
    assert m.encode(m.ErrorMessage(code=570, behavior=m.ErrorBehavior.RETRY)) == (
        0x0002,
        bytes.fromhex("08 ba 04"),
    )
    # The pre-release `should_pause: bool = true` is wire-compatible with PAUSE.
    decoded = m.decode(0x0002, bytes.fromhex("48 01"))
    assert isinstance(decoded, m.ErrorMessage)
    assert decoded.behavior == m.ErrorBehavior.PAUSE
    assert not decoded.HasField("next_retry_delay")


def test_call_optional_idempotency_key_presence() -> None:
    absent = m.CallCommandMessage(service_name="S")
    present = m.CallCommandMessage(service_name="S", idempotency_key="")
    assert m.encode(absent)[1] == bytes.fromhex("0a 01 53")
    assert m.encode(present)[1] == bytes.fromhex("0a 01 53 32 00")


def test_propose_run_completion_value_is_raw_bytes() -> None:
    _, payload = m.encode(
        m.ProposeRunCompletionMessage(
            result_completion_id=2, failure=m.Failure(code=500, message="x")
        )
    )
    assert payload == bytes.fromhex("08 02 7a 06 08 f4 03 12 01 78")
    decoded = m.decode(0x0005, bytes.fromhex("08 01 72 00"))
    assert isinstance(decoded, m.ProposeRunCompletionMessage)
    assert decoded.WhichOneof("result") == "value"
    assert decoded.value == b""


def test_notification_layouts_are_wire_compatible() -> None:
    template = m.NotificationTemplate(
        completion_id=7, failure=m.Failure(code=409, message="cancelled")
    )
    payload = template.SerializeToString()
    for type_id, cls in m.MESSAGE_CLASSES.items():
        if not m.is_notification(type_id):
            continue
        msg = m.decode(type_id, payload)
        assert type(msg) is cls
        assert msg.WhichOneof("id") == "completion_id"
        assert msg.WhichOneof("result") == "failure"
        assert m.encode(msg) == (type_id, payload)
