"""Protocol message types, type ids, and payload encode/decode.

This is the only module that imports the generated protobuf bindings (``_pb``). Everything
else uses the clean names re-exported here::

    from restate_trio._protocol import messages as m

    type_id, payload = m.encode(m.EndMessage())
    msg = m.decode(type_id, payload)

Framing (the 8-byte header) is not handled here: :func:`decode` takes the type id from the
header and the payload bytes; :func:`encode` returns the type id and the payload bytes.
"""

from __future__ import annotations

import enum
from typing import Final, TypeAlias

from google.protobuf.message import DecodeError, Message

from restate_trio._protocol._pb import protocol_pb2 as _pb

__all__ = [
    "COMPLETION_ID_FIELDS",
    "MESSAGE_CLASSES",
    "AttachInvocationCommandMessage",
    "AttachInvocationCompletionNotificationMessage",
    "AwaitingOnMessage",
    "BuiltInSignal",
    "CallCommandMessage",
    "CallCompletionNotificationMessage",
    "CallInvocationIdCompletionNotificationMessage",
    "ClearAllStateCommandMessage",
    "ClearStateCommandMessage",
    "CombinatorType",
    "Command",
    "CommandAckMessage",
    "CompleteAwakeableCommandMessage",
    "CompletePromiseCommandMessage",
    "CompletePromiseCompletionNotificationMessage",
    "EndMessage",
    "ErrorBehavior",
    "ErrorMessage",
    "Failure",
    "FailureMetadata",
    "Future",
    "GetEagerStateCommandMessage",
    "GetEagerStateKeysCommandMessage",
    "GetInvocationOutputCommandMessage",
    "GetInvocationOutputCompletionNotificationMessage",
    "GetLazyStateCommandMessage",
    "GetLazyStateCompletionNotificationMessage",
    "GetLazyStateKeysCommandMessage",
    "GetLazyStateKeysCompletionNotificationMessage",
    "GetPromiseCommandMessage",
    "GetPromiseCompletionNotificationMessage",
    "Header",
    "IdempotentRequestTarget",
    "InputCommandMessage",
    "Message",
    "MessageDecodeError",
    "MessageType",
    "Notification",
    "NotificationTemplate",
    "OneWayCallCommandMessage",
    "OutputCommandMessage",
    "PeekPromiseCommandMessage",
    "PeekPromiseCompletionNotificationMessage",
    "ProposeRunCompletionAckMessage",
    "ProposeRunCompletionMessage",
    "RunCommandMessage",
    "RunCompletionNotificationMessage",
    "SendSignalCommandMessage",
    "ServiceProtocolVersion",
    "SetStateCommandMessage",
    "SignalNotificationMessage",
    "SleepCommandMessage",
    "SleepCompletionNotificationMessage",
    "StartMessage",
    "StateKeys",
    "SuspensionMessage",
    "Value",
    "Void",
    "WorkflowTarget",
    "decode",
    "encode",
    "entry_name",
    "is_command",
    "is_control",
    "is_custom_entry",
    "is_notification",
    "type_of",
]


# ---------------------------------------------------------------------------
# Type ids
# ---------------------------------------------------------------------------


class MessageType(enum.IntEnum):
    """The u16 message type id carried in the frame header."""

    # Control messages.
    START = 0x0000
    SUSPENSION = 0x0001
    ERROR = 0x0002
    END = 0x0003
    COMMAND_ACK = 0x0004
    PROPOSE_RUN_COMPLETION = 0x0005
    AWAITING_ON = 0x0006  # V7
    PROPOSE_RUN_COMPLETION_ACK = 0x0007  # V7

    # Commands.
    INPUT_COMMAND = 0x0400
    OUTPUT_COMMAND = 0x0401
    GET_LAZY_STATE_COMMAND = 0x0402
    SET_STATE_COMMAND = 0x0403
    CLEAR_STATE_COMMAND = 0x0404
    CLEAR_ALL_STATE_COMMAND = 0x0405
    GET_LAZY_STATE_KEYS_COMMAND = 0x0406
    GET_EAGER_STATE_COMMAND = 0x0407
    GET_EAGER_STATE_KEYS_COMMAND = 0x0408
    GET_PROMISE_COMMAND = 0x0409
    PEEK_PROMISE_COMMAND = 0x040A
    COMPLETE_PROMISE_COMMAND = 0x040B
    SLEEP_COMMAND = 0x040C
    CALL_COMMAND = 0x040D
    ONE_WAY_CALL_COMMAND = 0x040E
    # 0x040F is unused.
    SEND_SIGNAL_COMMAND = 0x0410
    RUN_COMMAND = 0x0411
    ATTACH_INVOCATION_COMMAND = 0x0412
    GET_INVOCATION_OUTPUT_COMMAND = 0x0413
    COMPLETE_AWAKEABLE_COMMAND = 0x0414

    # Notifications.
    GET_LAZY_STATE_COMPLETION = 0x8002
    GET_LAZY_STATE_KEYS_COMPLETION = 0x8006
    GET_PROMISE_COMPLETION = 0x8009
    PEEK_PROMISE_COMPLETION = 0x800A
    COMPLETE_PROMISE_COMPLETION = 0x800B
    SLEEP_COMPLETION = 0x800C
    CALL_COMPLETION = 0x800D
    CALL_INVOCATION_ID_COMPLETION = 0x800E
    RUN_COMPLETION = 0x8011
    ATTACH_INVOCATION_COMPLETION = 0x8012
    GET_INVOCATION_OUTPUT_COMPLETION = 0x8013
    SIGNAL_NOTIFICATION = 0xFBFF


_CONTROL_MAX: Final = 0x03FF
_COMMAND_MIN: Final = 0x0400
_COMMAND_MAX: Final = 0x7FFF
_NOTIFICATION_MIN: Final = 0x8000
_NOTIFICATION_MAX: Final = 0xFBFF
_CUSTOM_MIN: Final = 0xFC00
_TYPE_ID_MAX: Final = 0xFFFF


def is_control(type_id: int) -> bool:
    """True for the control range 0x0000-0x03FF."""
    return 0 <= type_id <= _CONTROL_MAX


def is_command(type_id: int) -> bool:
    """True for the command range 0x0400-0x7FFF."""
    return _COMMAND_MIN <= type_id <= _COMMAND_MAX


def is_notification(type_id: int) -> bool:
    """True for the notification range 0x8000-0xFBFF."""
    return _NOTIFICATION_MIN <= type_id <= _NOTIFICATION_MAX


def is_custom_entry(type_id: int) -> bool:
    """True for the custom-entry range 0xFC00-0xFFFF."""
    return _CUSTOM_MIN <= type_id <= _TYPE_ID_MAX


# ---------------------------------------------------------------------------
# Message classes (clean names for the generated bindings)
# ---------------------------------------------------------------------------

# Enums.
ServiceProtocolVersion = _pb.ServiceProtocolVersion
BuiltInSignal = _pb.BuiltInSignal
ErrorBehavior = _pb.ErrorBehavior
CombinatorType = _pb.CombinatorType

# Nested types (never sent as frames on their own).
Value = _pb.Value
Void = _pb.Void
Failure = _pb.Failure
FailureMetadata = _pb.FailureMetadata
Header = _pb.Header
StateKeys = _pb.StateKeys
WorkflowTarget = _pb.WorkflowTarget
IdempotentRequestTarget = _pb.IdempotentRequestTarget
Future = _pb.Future
# The layout all notifications share; it has no type id of its own.
NotificationTemplate = _pb.NotificationTemplate

# Control messages.
StartMessage = _pb.StartMessage
SuspensionMessage = _pb.SuspensionMessage
ErrorMessage = _pb.ErrorMessage
EndMessage = _pb.EndMessage
CommandAckMessage = _pb.CommandAckMessage
ProposeRunCompletionMessage = _pb.ProposeRunCompletionMessage
AwaitingOnMessage = _pb.AwaitingOnMessage
ProposeRunCompletionAckMessage = _pb.ProposeRunCompletionAckMessage

# Commands.
InputCommandMessage = _pb.InputCommandMessage
OutputCommandMessage = _pb.OutputCommandMessage
GetLazyStateCommandMessage = _pb.GetLazyStateCommandMessage
SetStateCommandMessage = _pb.SetStateCommandMessage
ClearStateCommandMessage = _pb.ClearStateCommandMessage
ClearAllStateCommandMessage = _pb.ClearAllStateCommandMessage
GetLazyStateKeysCommandMessage = _pb.GetLazyStateKeysCommandMessage
GetEagerStateCommandMessage = _pb.GetEagerStateCommandMessage
GetEagerStateKeysCommandMessage = _pb.GetEagerStateKeysCommandMessage
GetPromiseCommandMessage = _pb.GetPromiseCommandMessage
PeekPromiseCommandMessage = _pb.PeekPromiseCommandMessage
CompletePromiseCommandMessage = _pb.CompletePromiseCommandMessage
SleepCommandMessage = _pb.SleepCommandMessage
CallCommandMessage = _pb.CallCommandMessage
OneWayCallCommandMessage = _pb.OneWayCallCommandMessage
SendSignalCommandMessage = _pb.SendSignalCommandMessage
RunCommandMessage = _pb.RunCommandMessage
AttachInvocationCommandMessage = _pb.AttachInvocationCommandMessage
GetInvocationOutputCommandMessage = _pb.GetInvocationOutputCommandMessage
CompleteAwakeableCommandMessage = _pb.CompleteAwakeableCommandMessage

# Notifications.
GetLazyStateCompletionNotificationMessage = _pb.GetLazyStateCompletionNotificationMessage
GetLazyStateKeysCompletionNotificationMessage = _pb.GetLazyStateKeysCompletionNotificationMessage
GetPromiseCompletionNotificationMessage = _pb.GetPromiseCompletionNotificationMessage
PeekPromiseCompletionNotificationMessage = _pb.PeekPromiseCompletionNotificationMessage
CompletePromiseCompletionNotificationMessage = _pb.CompletePromiseCompletionNotificationMessage
SleepCompletionNotificationMessage = _pb.SleepCompletionNotificationMessage
CallCompletionNotificationMessage = _pb.CallCompletionNotificationMessage
CallInvocationIdCompletionNotificationMessage = _pb.CallInvocationIdCompletionNotificationMessage
RunCompletionNotificationMessage = _pb.RunCompletionNotificationMessage
AttachInvocationCompletionNotificationMessage = _pb.AttachInvocationCompletionNotificationMessage
GetInvocationOutputCompletionNotificationMessage = (
    _pb.GetInvocationOutputCompletionNotificationMessage
)
SignalNotificationMessage = _pb.SignalNotificationMessage

Command: TypeAlias = (
    InputCommandMessage
    | OutputCommandMessage
    | GetLazyStateCommandMessage
    | SetStateCommandMessage
    | ClearStateCommandMessage
    | ClearAllStateCommandMessage
    | GetLazyStateKeysCommandMessage
    | GetEagerStateCommandMessage
    | GetEagerStateKeysCommandMessage
    | GetPromiseCommandMessage
    | PeekPromiseCommandMessage
    | CompletePromiseCommandMessage
    | SleepCommandMessage
    | CallCommandMessage
    | OneWayCallCommandMessage
    | SendSignalCommandMessage
    | RunCommandMessage
    | AttachInvocationCommandMessage
    | GetInvocationOutputCommandMessage
    | CompleteAwakeableCommandMessage
)
"""Any command message (type ids 0x0400-0x0414)."""

Notification: TypeAlias = (
    GetLazyStateCompletionNotificationMessage
    | GetLazyStateKeysCompletionNotificationMessage
    | GetPromiseCompletionNotificationMessage
    | PeekPromiseCompletionNotificationMessage
    | CompletePromiseCompletionNotificationMessage
    | SleepCompletionNotificationMessage
    | CallCompletionNotificationMessage
    | CallInvocationIdCompletionNotificationMessage
    | RunCompletionNotificationMessage
    | AttachInvocationCompletionNotificationMessage
    | GetInvocationOutputCompletionNotificationMessage
    | SignalNotificationMessage
)
"""Any notification message. All share the NotificationTemplate layout: oneof ``id``
(completion_id 1 / signal id 2 / signal name 3; SignalNotification names 2 and 3 ``idx`` and
``name``) and oneof ``result`` (void 4, value 5, failure 6, invocation_id 16, state_keys 17)."""


MESSAGE_CLASSES: Final[dict[int, type[Message]]] = {
    MessageType.START: StartMessage,
    MessageType.SUSPENSION: SuspensionMessage,
    MessageType.ERROR: ErrorMessage,
    MessageType.END: EndMessage,
    MessageType.COMMAND_ACK: CommandAckMessage,
    MessageType.PROPOSE_RUN_COMPLETION: ProposeRunCompletionMessage,
    MessageType.AWAITING_ON: AwaitingOnMessage,
    MessageType.PROPOSE_RUN_COMPLETION_ACK: ProposeRunCompletionAckMessage,
    MessageType.INPUT_COMMAND: InputCommandMessage,
    MessageType.OUTPUT_COMMAND: OutputCommandMessage,
    MessageType.GET_LAZY_STATE_COMMAND: GetLazyStateCommandMessage,
    MessageType.SET_STATE_COMMAND: SetStateCommandMessage,
    MessageType.CLEAR_STATE_COMMAND: ClearStateCommandMessage,
    MessageType.CLEAR_ALL_STATE_COMMAND: ClearAllStateCommandMessage,
    MessageType.GET_LAZY_STATE_KEYS_COMMAND: GetLazyStateKeysCommandMessage,
    MessageType.GET_EAGER_STATE_COMMAND: GetEagerStateCommandMessage,
    MessageType.GET_EAGER_STATE_KEYS_COMMAND: GetEagerStateKeysCommandMessage,
    MessageType.GET_PROMISE_COMMAND: GetPromiseCommandMessage,
    MessageType.PEEK_PROMISE_COMMAND: PeekPromiseCommandMessage,
    MessageType.COMPLETE_PROMISE_COMMAND: CompletePromiseCommandMessage,
    MessageType.SLEEP_COMMAND: SleepCommandMessage,
    MessageType.CALL_COMMAND: CallCommandMessage,
    MessageType.ONE_WAY_CALL_COMMAND: OneWayCallCommandMessage,
    MessageType.SEND_SIGNAL_COMMAND: SendSignalCommandMessage,
    MessageType.RUN_COMMAND: RunCommandMessage,
    MessageType.ATTACH_INVOCATION_COMMAND: AttachInvocationCommandMessage,
    MessageType.GET_INVOCATION_OUTPUT_COMMAND: GetInvocationOutputCommandMessage,
    MessageType.COMPLETE_AWAKEABLE_COMMAND: CompleteAwakeableCommandMessage,
    MessageType.GET_LAZY_STATE_COMPLETION: GetLazyStateCompletionNotificationMessage,
    MessageType.GET_LAZY_STATE_KEYS_COMPLETION: GetLazyStateKeysCompletionNotificationMessage,
    MessageType.GET_PROMISE_COMPLETION: GetPromiseCompletionNotificationMessage,
    MessageType.PEEK_PROMISE_COMPLETION: PeekPromiseCompletionNotificationMessage,
    MessageType.COMPLETE_PROMISE_COMPLETION: CompletePromiseCompletionNotificationMessage,
    MessageType.SLEEP_COMPLETION: SleepCompletionNotificationMessage,
    MessageType.CALL_COMPLETION: CallCompletionNotificationMessage,
    MessageType.CALL_INVOCATION_ID_COMPLETION: CallInvocationIdCompletionNotificationMessage,
    MessageType.RUN_COMPLETION: RunCompletionNotificationMessage,
    MessageType.ATTACH_INVOCATION_COMPLETION: AttachInvocationCompletionNotificationMessage,
    MessageType.GET_INVOCATION_OUTPUT_COMPLETION: GetInvocationOutputCompletionNotificationMessage,
    MessageType.SIGNAL_NOTIFICATION: SignalNotificationMessage,
}
"""Type id -> generated message class, for every type id in :class:`MessageType`."""

#: The fields of each command that carry completion ids: the ids of the notifications the
#: runtime may send for it. Commands not listed carry none.
COMPLETION_ID_FIELDS: Final[dict[int, tuple[str, ...]]] = {
    MessageType.GET_LAZY_STATE_COMMAND: ("result_completion_id",),
    MessageType.GET_LAZY_STATE_KEYS_COMMAND: ("result_completion_id",),
    MessageType.GET_PROMISE_COMMAND: ("result_completion_id",),
    MessageType.PEEK_PROMISE_COMMAND: ("result_completion_id",),
    MessageType.COMPLETE_PROMISE_COMMAND: ("result_completion_id",),
    MessageType.SLEEP_COMMAND: ("result_completion_id",),
    MessageType.CALL_COMMAND: ("invocation_id_notification_idx", "result_completion_id"),
    MessageType.ONE_WAY_CALL_COMMAND: ("invocation_id_notification_idx",),
    MessageType.RUN_COMMAND: ("result_completion_id",),
    MessageType.ATTACH_INVOCATION_COMMAND: ("result_completion_id",),
    MessageType.GET_INVOCATION_OUTPUT_COMMAND: ("result_completion_id",),
}

_TYPE_BY_CLASS: Final[dict[type[Message], MessageType]] = {
    cls: MessageType(type_id) for type_id, cls in MESSAGE_CLASSES.items()
}

if len(MESSAGE_CLASSES) != len(MessageType) or len(_TYPE_BY_CLASS) != len(MessageType):
    raise AssertionError("MESSAGE_CLASSES must map every MessageType to a distinct class")


# ---------------------------------------------------------------------------
# Encode / decode
# ---------------------------------------------------------------------------


class MessageDecodeError(ValueError):
    """A frame payload could not be turned into a protocol message."""

    def __init__(self, type_id: int, reason: str) -> None:
        super().__init__(f"cannot decode message of type {_describe(type_id)}: {reason}")
        self.type_id = type_id
        self.reason = reason


def _describe(type_id: int) -> str:
    try:
        return f"0x{type_id:04X} ({MessageType(type_id).name})"
    except ValueError:
        return f"0x{type_id:04X}"


def _unknown_reason(type_id: int) -> str:
    if not 0 <= type_id <= _TYPE_ID_MAX:
        return "type id out of the u16 range"
    if is_custom_entry(type_id):
        return "custom entries are not supported"
    if is_control(type_id):
        kind = "control message"
    elif is_command(type_id):
        kind = "command"
    else:
        kind = "notification"
    return f"unknown {kind} type id"


def type_of(message: Message) -> MessageType:
    """The type id of a protocol frame message (by its class).

    Raises ``TypeError`` for messages that are not frames (e.g. ``Value`` or
    ``NotificationTemplate``).
    """
    try:
        return _TYPE_BY_CLASS[type(message)]
    except KeyError:
        raise TypeError(
            f"{type(message).__qualname__} is not a Restate protocol frame message"
        ) from None


def entry_name(message: Message) -> str:
    """The entry name of a command (``""`` if it has none)."""
    # SendSignal's `name` is the signal's name; its entry name is `entry_name`.
    for field in ("entry_name", "name"):
        try:
            return str(getattr(message, field))
        except AttributeError:
            continue
    return ""


def decode(type_id: int, payload: bytes) -> Message:
    """Parse a frame payload of the given type id.

    Unknown fields are skipped (kept as unknown fields by protobuf, ignored by us).
    Raises :class:`MessageDecodeError` for unknown type ids and malformed payloads.
    """
    cls = MESSAGE_CLASSES.get(type_id)
    if cls is None:
        raise MessageDecodeError(type_id, _unknown_reason(type_id))
    message = cls()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise MessageDecodeError(type_id, f"invalid protobuf payload ({exc})") from exc
    return message


def encode(message: Message) -> tuple[int, bytes]:
    """Serialize a frame message; returns ``(type_id, payload)``.

    Raises ``TypeError`` for messages that are not frames.
    """
    type_id = type_of(message)
    return int(type_id), message.SerializeToString()
