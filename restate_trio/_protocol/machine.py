"""The invocation state machine: one attempt of one invocation, without any I/O.

The transport feeds it the request body (:meth:`StateMachine.feed`, :meth:`StateMachine.feed_eof`)
and writes out what :meth:`StateMachine.take_output` returns. The context layer calls the
``sys_*`` methods in program order; each one journals its command at once (or, while replaying,
checks it against the recorded journal) and returns what the handler needs: an immediate value,
or a :class:`NotificationId` to await through :meth:`StateMachine.do_progress`.

Lifecycle: WAITING_START → (bootstrap: Start + ``known_entries`` journal entries) → REPLAYING
while recorded commands remain → PROCESSING → CLOSED (after End, an error, or a suspension).

How a replayed command is compared with the journal, and how a divergence is reported, is in
:mod:`.replay`; which protocol versions exist is in :mod:`.versions`.

What the runtime sends is held until the handler asks for it, so what may be held is bounded
(:meth:`StateMachine._admit`): a repeated notification is dropped; after the journal, a
completion for an id no command has is a protocol violation, and signals nobody has asked for
yet are capped (:data:`MAX_UNMATCHED_SIGNALS`, and ``max_message_size`` bytes).
"""

from __future__ import annotations

import base64
import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from google.protobuf.message import Message

from . import messages as m, replay
from .errors import (
    AttemptClosed,
    JournalMismatch,
    NotificationLimit,
    ProtocolError,
    ProtocolViolation,
    UnsupportedFeature,
)
from .fifo import Fifo
from .framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    REQUESTED_ACK,
    FrameDecoder,
    FramingError,
    encode_frame,
)
from .futures import Combinator, FutureTree, Leaf, Node, leaves, prune, resolve
from .types import (
    CANCEL,
    FIRST_AWAKEABLE_SIGNAL_ID,
    VOID,
    Failure,
    InputInfo,
    InvocationIdResult,
    InvocationTarget,
    NotificationId,
    NotificationKind,
    Result,
    StartInfo,
    StateKeysResult,
    Success,
    Void,
    WorkflowTarget,
)
from .versions import is_supported

#: Signals held that arrived after the journal but that the handler has not asked for yet (see
#: :meth:`StateMachine._admit`): at most this many per attempt.
MAX_UNMATCHED_SIGNALS = 1_000


class Phase(enum.Enum):
    WAITING_START = "waiting start"
    REPLAYING = "replaying"
    PROCESSING = "processing"
    CLOSED = "closed"


class Progress(enum.Enum):
    """What :meth:`StateMachine.do_progress` found."""

    #: The awaited tree is resolved: read the results with :meth:`StateMachine.result`.
    RESOLVED = "resolved"
    #: Not resolved yet; more input may resolve it: wait for the next :meth:`feed`.
    WAIT_INPUT = "wait input"
    #: Invocation cancellation arrived (reported once); raise the 409 terminal error.
    CANCELLED = "cancelled"
    #: Input is closed and the tree cannot resolve: a SuspensionMessage was written, closed.
    SUSPENDED = "suspended"


# Enum members through module globals: on Python 3.11 reading ``Phase.CLOSED`` costs ~65 ns
# (a lookup through the enum's metaclass), a global ~10, and the machine reads a dozen per
# ctx.run step (the steps10 profile).
_WAITING_START, _REPLAYING, _PROCESSING, _CLOSED = (
    Phase.WAITING_START,
    Phase.REPLAYING,
    Phase.PROCESSING,
    Phase.CLOSED,
)
_RESOLVED, _WAIT_INPUT, _CANCELLED, _SUSPENDED = (
    Progress.RESOLVED,
    Progress.WAIT_INPUT,
    Progress.CANCELLED,
    Progress.SUSPENDED,
)
_COMPLETION, _SIGNAL, _NAMED_SIGNAL = (
    NotificationKind.COMPLETION,
    NotificationKind.SIGNAL,
    NotificationKind.NAMED_SIGNAL,
)


_START, _PROPOSE_RUN_COMPLETION_ACK, _COMMAND_ACK = (
    int(m.MessageType.START),
    int(m.MessageType.PROPOSE_RUN_COMPLETION_ACK),
    int(m.MessageType.COMMAND_ACK),
)


@dataclass(frozen=True, slots=True)
class EagerValue:
    """A state read answered from local state: ``None`` means the key is absent."""

    value: bytes | None


def _notification_id(msg: Message) -> NotificationId | None:
    which = msg.WhichOneof("id")
    if which == "completion_id":
        return NotificationId(_COMPLETION, msg.completion_id)  # type: ignore[attr-defined]
    if which == "signal_id":
        return NotificationId(_SIGNAL, msg.signal_id)  # type: ignore[attr-defined]
    if which == "signal_name":
        return NotificationId(_NAMED_SIGNAL, msg.signal_name)  # type: ignore[attr-defined]
    return None


def _failure_from_pb(f: m.Failure) -> Failure:
    return Failure(f.code, f.message, {md.key: md.value for md in f.metadata})


def _result_from_template(msg: m.NotificationTemplate) -> Result:
    which = msg.WhichOneof("result")
    if which == "value":
        return Success(msg.value.content)
    if which == "failure":
        return _failure_from_pb(msg.failure)
    if which == "invocation_id":
        return InvocationIdResult(msg.invocation_id)
    if which == "state_keys":
        return StateKeysResult(tuple(k.decode("utf-8", "replace") for k in msg.state_keys.keys))
    return VOID


class StateMachine:
    """One invocation attempt, speaking service protocol ``version`` (5, 6 or 7)."""

    # Slots: with 30 attributes the instance dict stopped sharing its keys (~1.3 KiB more of
    # every parked invocation, tracemalloc); slots cost 8 bytes each.
    __slots__ = (
        "__weakref__",
        "_cancel_reported",
        "_child_calls",
        "_decoder",
        "_entries_to_receive",
        "_executing",
        "_held",
        "_input_closed",
        "_journal_completion_id",
        "_last_command",
        "_max_message_size",
        "_next_completion_id",
        "_next_signal_id",
        "_out",
        "_partial_state",
        "_pending",
        "_proposals",
        "_replay",
        "_replayed_commands",
        "_run_commands",
        "_run_retry_info",
        "_seen",
        "_state",
        "_unmatched",
        "_unmatched_bytes",
        "closed",
        "command_index",
        "failure",
        "mismatch",
        "phase",
        "start",
        "version",
    )

    def __init__(self, version: int, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if not is_supported(version):
            raise ValueError(f"unsupported service protocol version {version}")
        self.version: int = version
        self.phase: Phase = _WAITING_START
        #: ``phase is _CLOSED``, kept as a field: it is read several times per context
        #: operation (a property was 11 calls per ``ctx.run`` step, profiled on steps10).
        self.closed = False
        self._decoder = FrameDecoder(max_message_size)
        self._out: list[bytes] = []
        self.start: StartInfo | None = None
        self._entries_to_receive = 0
        # Recorded commands not yet matched by the handler, in journal order. Once the journal
        # has arrived, the phase is REPLAYING exactly while there are some (_journal moves to
        # PROCESSING when it takes the last one), so the hot paths test the phase instead.
        self._replay: Fifo[tuple[int, Message]] = Fifo()
        # Notifications received but not yet looked at, in arrival (= journal) order.
        self._pending: Fifo[tuple[NotificationId, Result]] = Fifo()
        # Notifications looked at: id → (position in the order they were looked at, result).
        self._seen: dict[NotificationId, tuple[int, Result]] = {}
        # Every notification held (pending or seen), as a set: a repeat of one is dropped.
        self._held: dict[NotificationId, None] = {}
        # The largest completion id a command of the replayed journal carries (see _admit).
        self._journal_completion_id = 0
        # Signals held that the handler has not asked for yet: id → payload bytes (_admit).
        self._unmatched: dict[NotificationId, int] | None = None
        self._unmatched_bytes = 0
        self._max_message_size = max_message_size
        self._input_closed = False
        self._cancel_reported = False
        self.command_index: int = -1
        self._next_completion_id = 1
        self._next_signal_id = FIRST_AWAKEABLE_SIGNAL_ID
        self._state: dict[str, bytes | None] = {}
        self._partial_state = True
        # The last command, for error reports (typed and named lazily: hot path).
        self._last_command: Message | None = None
        self._replayed_commands = 0
        self._child_calls: list[NotificationId] = []
        self._run_retry_info: dict[NotificationId, tuple[int, int]] = {}
        # Runs whose closures execute in this attempt: awaiting them waits for local progress.
        # (A dict as an ordered set: an empty set costs 216 bytes per invocation, a dict 64.)
        self._executing: dict[NotificationId, None] = {}
        self._run_commands: dict[NotificationId, tuple[int, str]] = {}
        # V7: run proposals awaiting their ack, by completion id.
        self._proposals: dict[int, Result] = {}
        #: Set when the machine closed with an error: (code, message).
        self.failure: tuple[int, str] | None = None
        #: Set when it closed with a journal mismatch: where and how the handler diverged.
        self.mismatch: replay.Mismatch | None = None

    # ------------------------------------------------------------------ input side

    @property
    def ready(self) -> bool:
        """True once the StartMessage and every replayed journal entry have arrived."""
        return self.start is not None and self._entries_to_receive == 0

    @property
    def input_closed(self) -> bool:
        return self._input_closed

    @property
    def waiting_journal(self) -> bool:
        """True until the StartMessage and every journal entry it announced have arrived
        (unless the attempt closed meanwhile): what the servers' start timeout looks at.
        Restate sends them all with the request; a peer that sends them slowly, or never,
        would hold an in-flight slot and the buffered replay."""
        phase = self.phase
        return phase is _WAITING_START or (phase is not _CLOSED and self._entries_to_receive > 0)

    @property
    def replaying(self) -> bool:
        return self.phase is _REPLAYING

    @property
    def buffered_input(self) -> int:
        """Input bytes held that do not form a whole message yet (at most one message plus
        the last chunk fed), for the transport's cross-stream budget."""
        return self._decoder.pending

    def feed(self, data: bytes) -> None:
        """Consume request body bytes. Bad input closes the attempt with an ErrorMessage."""
        if self.phase is _CLOSED:
            return
        try:
            for type_id, _, payload in self._decoder.feed(data):
                if m.is_notification(type_id):
                    # Every notification shares one layout; decode them all with it.
                    note = m.NotificationTemplate.FromString(payload)
                    if self.phase is _WAITING_START:
                        self._on_message(type_id, note)  # refuses it
                    else:
                        self._on_notification(type_id, note)
                else:
                    # raises for unknown types
                    self._on_message(type_id, m.decode(type_id, payload))
                if self.closed:
                    return
        except (FramingError, m.MessageDecodeError) as exc:
            self._fail(ProtocolViolation(f"malformed message from the runtime: {exc}"))
        except ProtocolError as exc:
            self._fail(exc)
        except Exception as exc:  # protobuf's DecodeError and friends
            self._fail(ProtocolViolation(f"malformed message from the runtime: {exc!r}"))

    def feed_eof(self) -> None:
        """The runtime closed the request body."""
        self._input_closed = True
        if self.phase is _CLOSED:
            return
        if self._decoder.pending:
            self._fail(ProtocolViolation("input closed in the middle of a message"))
        elif self.phase is _WAITING_START or self._entries_to_receive > 0:
            self._fail(
                ProtocolViolation(
                    "input closed while still waiting to receive all journal to replay"
                )
            )

    def stop_waiting_for_input(self) -> bool:
        """Treat input as closed from now on (the endpoint is shutting down), so that awaits
        that cannot resolve suspend instead of waiting. Returns False, changing nothing, while
        the journal is still arriving or a message is half received."""
        if self.phase is _CLOSED or not self.ready or self._decoder.pending:
            return False
        self._input_closed = True
        return True

    def _on_message(self, type_id: int, msg: Message) -> None:
        """The StartMessage, a replayed command or a control message (or a notification
        before the StartMessage, refused)."""
        if self.phase is _WAITING_START:
            if type_id != _START:
                raise ProtocolViolation(
                    f"expected StartMessage as the first message, got type 0x{type_id:04x}"
                )
            self._on_start(msg)  # type: ignore[arg-type]
            return
        if type_id == _START:
            raise ProtocolViolation("a second StartMessage arrived")
        # (Notifications after the StartMessage go from feed to _on_notification directly.)
        bootstrapping = self._entries_to_receive > 0
        if m.is_command(type_id):
            if not bootstrapping:
                raise ProtocolViolation(
                    f"command 0x{type_id:04x} received after the journal was replayed"
                )
            self._replay.append((type_id, msg))
            fields = m.COMPLETION_ID_FIELDS.get(type_id)
            if fields is not None:
                for field in fields:
                    self._journal_completion_id = max(
                        self._journal_completion_id, getattr(msg, field)
                    )
        elif type_id == _PROPOSE_RUN_COMPLETION_ACK and self.version >= 7:
            assert isinstance(msg, m.ProposeRunCompletionAckMessage)
            cid = msg.completion_id
            if bootstrapping or self.phase is not _PROCESSING or cid not in self._proposals:
                raise ProtocolViolation(f"unexpected ProposeRunCompletionAck for {cid}")
            result = self._proposals.pop(cid)
            nid = NotificationId.completion(cid)
            if nid not in self._held:  # the completion itself may have come first
                self._held[nid] = None
                self._pending.append((nid, result))
        elif type_id == _COMMAND_ACK:
            return  # We never request command acks; tolerate them.
        else:
            raise ProtocolViolation(f"unexpected message type 0x{type_id:04x}")
        if bootstrapping:
            self._entries_to_receive -= 1
            if self._entries_to_receive == 0:
                self._bootstrapped()

    def _on_notification(self, type_id: int, msg: m.NotificationTemplate) -> None:
        """A notification, once the StartMessage has arrived (the one message of every
        step of an invocation: :meth:`feed` calls this directly)."""
        nid = _notification_id(msg)
        if nid is None:
            raise ProtocolViolation(f"notification 0x{type_id:04x} carries no id")
        bootstrapping = self._entries_to_receive > 0
        held = self._held
        count = len(held)
        held[nid] = None  # one hash of the id: `in`, then an insert, would be two
        # A repeat is dropped: the first one is the one the handler sees (as it always was),
        # so repeats cost no memory. (If _admit raises, the attempt is over anyway.)
        if len(held) != count:
            if not bootstrapping:
                self._admit(nid, msg)
            self._pending.append((nid, _result_from_template(msg)))
        if bootstrapping:
            self._entries_to_receive -= 1
            if self._entries_to_receive == 0:
                self._bootstrapped()

    def _admit(self, nid: NotificationId, msg: m.NotificationTemplate) -> None:
        """Check a new notification that arrived after the replayed journal, so that a peer
        cannot make the attempt hold notifications without limit; raises if it may not be held.

        Why this refuses nothing the runtime sends (protocol reference §4.1-4.3):

        * The runtime completes only commands it has: the replayed journal's, whose ids are
          known since the bootstrap (:attr:`_journal_completion_id`), and the ones this attempt
          wrote, whose ids it allocated first (below :attr:`_next_completion_id`). A
          completion for any other id cannot come from Restate: a protocol violation. (During
          the bootstrap no id is checked: the journal's notifications may come before the
          handler re-allocated their ids, and their number is ``known_entries``.)
        * Signals are different: creating an awakeable journals nothing, so a signal for an
          awakeable of an earlier attempt may arrive before this attempt re-created it, and any
          invocation may signal ours by index or by name. Those the handler cannot have asked
          for yet (an index not allocated, any named signal: names take no id) are capped
          instead. Over the cap the attempt fails (500) and Restate retries it; the next attempt
          receives them with its journal, where no cap applies. Nothing is lost: the runtime
          sends only what it has journaled.
        """
        if nid.kind is _COMPLETION:
            cid = msg.completion_id
            if cid >= self._next_completion_id and cid > self._journal_completion_id:
                raise ProtocolViolation(
                    f"a notification for completion id {cid}, which no command of this "
                    "invocation has"
                )
            return
        if nid.kind is _SIGNAL and msg.signal_id < self._next_signal_id:
            return  # a built-in signal (cancel), or an awakeable this attempt created
        unmatched = self._unmatched
        if unmatched is None:
            unmatched = self._unmatched = {}
        size = msg.ByteSize()
        if (
            len(unmatched) >= MAX_UNMATCHED_SIGNALS
            or self._unmatched_bytes + size > self._max_message_size
        ):
            raise NotificationLimit(
                f"more than {MAX_UNMATCHED_SIGNALS} signals, or {self._max_message_size} "
                "bytes of them, arrived that the handler has not asked for yet"
            )
        unmatched[nid] = size
        self._unmatched_bytes += size

    def _on_start(self, msg: m.StartMessage) -> None:
        if msg.known_entries == 0:
            raise ProtocolViolation("StartMessage.known_entries is 0: the journal has no input")
        v7 = self.version >= 7
        self.start = StartInfo(
            id=msg.id,
            debug_id=msg.debug_id,
            key=msg.key,
            known_entries=msg.known_entries,
            retry_count_since_last_stored_entry=msg.retry_count_since_last_stored_entry,
            duration_since_last_stored_entry_ms=msg.duration_since_last_stored_entry,
            random_seed=msg.random_seed if self.version >= 6 else None,
            scope=msg.scope if v7 and msg.HasField("scope") else None,
            limit_key=msg.limit_key if v7 and msg.HasField("limit_key") else None,
            idempotency_key=(
                msg.idempotency_key if v7 and msg.HasField("idempotency_key") else None
            ),
        )
        for entry in msg.state_map:
            self._state[entry.key.decode("utf-8")] = entry.value
        self._partial_state = msg.partial_state
        self._entries_to_receive = msg.known_entries
        self.phase = _REPLAYING

    def _bootstrapped(self) -> None:
        # Input is command 0; the rest were issued by the previous attempts.
        self._replayed_commands = len(self._replay) - 1
        if not self._replay or self._replay[0][0] != m.MessageType.INPUT_COMMAND:
            raise ProtocolViolation("the replayed journal does not start with an InputCommand")

    # ------------------------------------------------------------------ output side

    def take_output(self) -> bytes:
        """Frames written since the last call, ready to send."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    @property
    def has_output(self) -> bool:
        return bool(self._out)

    def _write(self, message: Message, *, flags: int = 0) -> None:
        type_id = m.type_of(message)
        self._out.append(encode_frame(type_id, message.SerializeToString(), flags=flags))

    # ------------------------------------------------------------------ determinism helpers

    def random_seed(self) -> int:
        """The invocation's random seed: from StartMessage (V6+), else derived from its id."""
        start = self._require_start()
        if start.random_seed is not None:
            return start.random_seed
        return int.from_bytes(hashlib.sha256(start.id).digest()[:8], "big")

    def _require_start(self) -> StartInfo:
        if self.start is None:
            raise AttemptClosed("the invocation has not started")
        return self.start

    # ------------------------------------------------------------------ journaling

    def _check_open(self) -> None:
        phase = self.phase
        if phase is _PROCESSING:
            return  # the journal was received (processing starts after it): the common case
        if phase is _CLOSED:
            raise AttemptClosed("the invocation attempt is closed")
        if phase is _WAITING_START or self._entries_to_receive > 0:
            raise AttemptClosed("the journal has not been received yet")

    def _journal(
        self, command: Message, compare: replay.Comparer | None = None, *, unstable: bool = False
    ) -> Message:
        """Record ``command`` (processing) or match it against the journal (replaying).

        ``unstable``: the payload was encoded by a codec that is not deterministic, so its bytes
        are not compared on replay. Returns the recorded command (replay) or ``command`` itself
        (processing).
        """
        self._check_open()
        type_id = m.type_of(command)
        self.command_index += 1
        self._last_command = command
        if self.phase is _REPLAYING:  # = commands left to replay (see __init__)
            recorded_type, recorded = self._replay.popleft()
            if not self._replay:
                self.phase = _PROCESSING
            if not replay.comparer(compare, unstable=unstable)(
                type_id, command, recorded_type, recorded
            ):
                self._mismatch(
                    replay.different_command(
                        self.command_index,
                        type_id,
                        command,
                        recorded_type,
                        recorded,
                        len(self._replay) + 1,
                    )
                )
            return recorded
        self.phase = _PROCESSING
        self._out.append(encode_frame(type_id, command.SerializeToString()))
        return command

    def _completion_id(self) -> int:
        cid = self._next_completion_id
        self._next_completion_id += 1
        return cid

    # ------------------------------------------------------------------ commands

    def sys_input(self) -> InputInfo:
        """Consume the InputCommand (always the first journal entry)."""
        self._check_open()
        if self.command_index != -1 or not self._replay:
            raise ProtocolViolation("the input was already consumed")
        recorded = self._journal(m.InputCommandMessage(), replay.same_type)
        assert isinstance(recorded, m.InputCommandMessage)
        return InputInfo(raw_headers=recorded.headers, value=recorded.value.content)

    def sys_get_state(self, key: str) -> EagerValue | NotificationId:
        """Read state ``key``: answered at once from local state, or a completion to await."""
        self._check_open()
        cid = self._completion_id()  # taken on both paths, as every SDK does
        if self.phase is _REPLAYING and self._replay:
            recorded = self._journal(
                m.GetLazyStateCommandMessage(key=key.encode(), result_completion_id=cid),
                replay.compare_state_read,
            )
            if isinstance(recorded, m.GetEagerStateCommandMessage):
                return EagerValue(recorded.value.content if recorded.HasField("value") else None)
            return NotificationId.completion(cid)
        if key in self._state:
            value = self._state[key]
            self._journal(_eager_get(key, value))
            return EagerValue(value)
        if not self._partial_state:
            self._journal(_eager_get(key, None))
            return EagerValue(None)
        self._journal(m.GetLazyStateCommandMessage(key=key.encode(), result_completion_id=cid))
        return NotificationId.completion(cid)

    def sys_get_state_keys(self) -> list[str] | NotificationId:
        """List state keys: answered at once when the local view is complete."""
        self._check_open()
        cid = self._completion_id()
        if self.phase is _REPLAYING and self._replay:
            recorded = self._journal(
                m.GetLazyStateKeysCommandMessage(result_completion_id=cid),
                replay.compare_keys_read,
            )
            if isinstance(recorded, m.GetEagerStateKeysCommandMessage):
                return sorted(k.decode("utf-8", "replace") for k in recorded.value.keys)
            return NotificationId.completion(cid)
        if not self._partial_state:
            keys = sorted(k for k, v in self._state.items() if v is not None)
            self._journal(
                m.GetEagerStateKeysCommandMessage(
                    value=m.StateKeys(keys=[k.encode() for k in keys])
                )
            )
            return keys
        self._journal(m.GetLazyStateKeysCommandMessage(result_completion_id=cid))
        return NotificationId.completion(cid)

    def sys_set_state(self, key: str, value: bytes, *, unstable: bool = False) -> None:
        self._journal(
            m.SetStateCommandMessage(key=key.encode(), value=m.Value(content=value)),
            unstable=unstable,
        )
        self._state[key] = value

    def sys_clear_state(self, key: str) -> None:
        self._journal(m.ClearStateCommandMessage(key=key.encode()))
        self._state[key] = None

    def sys_clear_all_state(self) -> None:
        self._journal(m.ClearAllStateCommandMessage())
        self._state.clear()
        self._partial_state = False

    # -- timers, runs, calls --------------------------------------------------------

    def sys_sleep(self, wake_up_time_ms: int, name: str = "") -> NotificationId:
        """A durable timer firing at ``wake_up_time_ms`` (ms since the Unix epoch)."""
        self._check_open()
        cid = self._completion_id()
        self._journal(
            m.SleepCommandMessage(
                wake_up_time=max(0, wake_up_time_ms), result_completion_id=cid, name=name
            )
        )
        return NotificationId.completion(cid)

    def sys_run(self, name: str = "") -> tuple[NotificationId, bool]:
        """Journal a run; returns its completion and whether its closure must execute.

        It must not execute when the journal already holds its completion (a replay).
        """
        # (_journal checks that the attempt is open: on every ctx.run's path, once is enough.)
        cid = self._next_completion_id
        self._next_completion_id = cid + 1
        replay_queue = self._replay
        was_replaying = self.phase is _REPLAYING  # = commands left to replay (see __init__)
        self._journal(m.RunCommandMessage(result_completion_id=cid, name=name))
        nid = NotificationId(_COMPLETION, cid)
        self._run_commands[nid] = (self.command_index, name)
        start = self.start
        assert start is not None  # _journal raised otherwise
        execute = nid not in self._held
        # Start's retry info describes the command the previous attempts failed at: the last
        # replayed one (a run journaled, then failed) or the first new one. A run anywhere else
        # starts from zero.
        if (
            execute
            and start.retry_count_since_last_stored_entry > 0
            and (
                (was_replaying and not replay_queue)  # the last replayed command
                or (not was_replaying and self.command_index == self._replayed_commands + 1)
            )
        ):
            self._run_retry_info[nid] = (
                start.retry_count_since_last_stored_entry,
                start.duration_since_last_stored_entry_ms,
            )
        return nid, execute

    def run_started(self, nid: NotificationId) -> None:
        """The closure of run ``nid`` started executing in this attempt."""
        self._executing[nid] = None

    def run_abandoned(self, nid: NotificationId) -> None:
        """The closure of run ``nid`` was cancelled before proposing: it no longer counts as
        something that will complete the trees waiting for it (until started again)."""
        self._executing.pop(nid, None)

    def _has_notification(self, nid: NotificationId) -> bool:
        return nid in self._held

    def propose_run_completion(self, nid: NotificationId, result: Success | Failure) -> None:
        """Propose the outcome of a run's closure (not a journal entry)."""
        self._check_open()
        self._executing.pop(nid, None)
        if self.phase is _REPLAYING:  # = commands left to replay (see __init__)
            # Proposals are only sent while processing (the runtime acks nothing earlier); the
            # closure of a run awaited during replay is a journal mismatch anyway.
            return
        cid = int(nid.value)
        if isinstance(result, Success):
            msg = m.ProposeRunCompletionMessage(result_completion_id=cid, value=result.value)
        else:
            msg = m.ProposeRunCompletionMessage(
                result_completion_id=cid, failure=self._failure_to_pb(result)
            )
        flags = 0
        if self.version >= 7:
            # V7 acks the proposal (0x0007) instead of echoing the whole result back.
            self._proposals[cid] = result
            flags = REQUESTED_ACK
        self._out.append(
            encode_frame(_PROPOSE_RUN_COMPLETION, msg.SerializeToString(), flags=flags)
        )

    def run_attempt_info(self, nid: NotificationId) -> tuple[int, int]:
        """(earlier failed attempts, elapsed ms) of a run, for its retry policy.

        Known only for the first command issued after the replay: that is the command the
        previous attempts failed at. Other runs count from zero.
        """
        return self._run_retry_info.get(nid, (0, 0))

    def sys_call(
        self,
        service: str,
        handler: str,
        parameter: bytes,
        *,
        key: str = "",
        headers: Sequence[tuple[str, str]] = (),
        idempotency_key: str | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
        name: str = "",
        unstable: bool = False,
    ) -> tuple[NotificationId, NotificationId]:
        """Call a handler; returns (invocation id, result) notifications."""
        self._check_open()
        self._require_v7(scope, limit_key)
        _check_optional(idempotency_key=idempotency_key, scope=scope, limit_key=limit_key)
        id_cid = self._completion_id()
        result_cid = self._completion_id()
        msg = m.CallCommandMessage(
            service_name=service,
            handler_name=handler,
            parameter=parameter,
            headers=[m.Header(key=k, value=v) for k, v in headers],
            key=key,
            invocation_id_notification_idx=id_cid,
            result_completion_id=result_cid,
            name=name,
        )
        _set_optional(msg, idempotency_key=idempotency_key, scope=scope, limit_key=limit_key)
        self._journal(msg, unstable=unstable)
        id_nid = NotificationId.completion(id_cid)
        self._child_calls.append(id_nid)
        return id_nid, NotificationId.completion(result_cid)

    def sys_send(
        self,
        service: str,
        handler: str,
        parameter: bytes,
        *,
        key: str = "",
        headers: Sequence[tuple[str, str]] = (),
        idempotency_key: str | None = None,
        invoke_time_ms: int = 0,
        scope: str | None = None,
        limit_key: str | None = None,
        name: str = "",
        unstable: bool = False,
    ) -> NotificationId:
        """Send to a handler without waiting (optionally delayed); returns its invocation id."""
        self._check_open()
        self._require_v7(scope, limit_key)
        _check_optional(idempotency_key=idempotency_key, scope=scope, limit_key=limit_key)
        id_cid = self._completion_id()
        msg = m.OneWayCallCommandMessage(
            service_name=service,
            handler_name=handler,
            parameter=parameter,
            invoke_time=max(0, invoke_time_ms),
            headers=[m.Header(key=k, value=v) for k, v in headers],
            key=key,
            invocation_id_notification_idx=id_cid,
            name=name,
        )
        _set_optional(msg, idempotency_key=idempotency_key, scope=scope, limit_key=limit_key)
        self._journal(msg, unstable=unstable)
        return NotificationId.completion(id_cid)

    def _require_v7(self, scope: str | None, limit_key: str | None) -> None:
        if (scope is not None or limit_key is not None) and self.version < 7:
            error = UnsupportedFeature(
                f"scope and limit_key need service protocol V7 (this invocation uses "
                f"V{self.version})"
            )
            self._fail(error)
            raise error

    @property
    def child_calls(self) -> Sequence[NotificationId]:
        """Invocation-id notifications of the calls made so far (for cancel propagation)."""
        return tuple(self._child_calls)

    # -- signals, awakeables, promises ----------------------------------------------

    def sys_awakeable(self) -> tuple[str, NotificationId]:
        """A new awakeable: its public id (``sign_1…``) and the signal it completes with.

        Nothing is journaled: the id only reserves the next signal index.
        """
        self._check_open()
        start = self._require_start()
        index = self._next_signal_id
        self._next_signal_id += 1
        raw = start.id + index.to_bytes(4, "big")
        awakeable_id = "sign_1" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        nid = NotificationId.signal(index)
        if self._unmatched:
            # Its signal came early (an awakeable of an earlier attempt): asked for now.
            self._unmatched_bytes -= self._unmatched.pop(nid, 0)
        return awakeable_id, nid

    def sys_complete_awakeable(
        self, awakeable_id: str, result: Success | Failure, name: str = ""
    ) -> None:
        msg = m.CompleteAwakeableCommandMessage(awakeable_id=awakeable_id, name=name)
        if isinstance(result, Success):
            msg.value.content = result.value
        else:
            msg.failure.CopyFrom(self._failure_to_pb(result))
        self._journal(msg)

    def sys_send_signal(
        self,
        target_invocation_id: str,
        *,
        index: int | None = None,
        signal_name: str | None = None,
        result: Void | Success | Failure = VOID,
        entry_name: str = "",
    ) -> None:
        """Send a signal (by index or by name) to another invocation; 1 cancels it."""
        if (index is None) == (signal_name is None):
            raise ValueError("give exactly one of index and signal_name")
        msg = m.SendSignalCommandMessage(
            target_invocation_id=target_invocation_id, entry_name=entry_name
        )
        if index is not None:
            msg.idx = index
        else:
            msg.name = signal_name or ""
        if isinstance(result, Success):
            msg.value.content = result.value
        elif isinstance(result, Failure):
            msg.failure.CopyFrom(self._failure_to_pb(result))
        else:
            msg.void.SetInParent()
        self._journal(msg)

    def sys_get_promise(self, key: str, name: str = "") -> NotificationId:
        self._check_open()
        cid = self._completion_id()
        self._journal(m.GetPromiseCommandMessage(key=key, result_completion_id=cid, name=name))
        return NotificationId.completion(cid)

    def sys_peek_promise(self, key: str, name: str = "") -> NotificationId:
        self._check_open()
        cid = self._completion_id()
        self._journal(m.PeekPromiseCommandMessage(key=key, result_completion_id=cid, name=name))
        return NotificationId.completion(cid)

    def sys_complete_promise(
        self, key: str, result: Success | Failure, name: str = ""
    ) -> NotificationId:
        self._check_open()
        cid = self._completion_id()
        msg = m.CompletePromiseCommandMessage(key=key, result_completion_id=cid, name=name)
        if isinstance(result, Success):
            msg.completion_value.content = result.value
        else:
            msg.completion_failure.CopyFrom(self._failure_to_pb(result))
        self._journal(msg)
        return NotificationId.completion(cid)

    # -- other invocations ------------------------------------------------------------

    def sys_attach_invocation(self, target: InvocationTarget, name: str = "") -> NotificationId:
        """Wait for another invocation's result."""
        self._check_open()
        cid = self._completion_id()
        msg = m.AttachInvocationCommandMessage(result_completion_id=cid, name=name)
        self._set_target(msg, target)
        self._journal(msg)
        return NotificationId.completion(cid)

    def sys_get_invocation_output(self, target: InvocationTarget, name: str = "") -> NotificationId:
        """Another invocation's result if it has one (void otherwise), without waiting."""
        self._check_open()
        cid = self._completion_id()
        msg = m.GetInvocationOutputCommandMessage(result_completion_id=cid, name=name)
        self._set_target(msg, target)
        self._journal(msg)
        return NotificationId.completion(cid)

    def _set_target(
        self,
        msg: m.AttachInvocationCommandMessage | m.GetInvocationOutputCommandMessage,
        target: InvocationTarget,
    ) -> None:
        if isinstance(target, str):
            msg.invocation_id = target
        elif isinstance(target, WorkflowTarget):
            self._require_v7(target.scope, None)
            msg.workflow_target.workflow_name = target.name
            msg.workflow_target.workflow_key = target.key
            if target.scope is not None:
                msg.workflow_target.scope = target.scope
        else:
            self._require_v7(target.scope, None)
            t = msg.idempotent_request_target
            t.service_name = target.service
            t.handler_name = target.handler
            t.idempotency_key = target.idempotency_key
            if target.key is not None:
                t.service_key = target.key
            if target.scope is not None:
                t.scope = target.scope

    def sys_write_output(self, result: Success | Failure, *, unstable: bool = False) -> None:
        """Journal the handler's output (a value or a terminal failure)."""
        if isinstance(result, Success):
            command = m.OutputCommandMessage(value=m.Value(content=result.value))
        else:
            command = m.OutputCommandMessage(failure=self._failure_to_pb(result))
        self._journal(command, unstable=unstable)

    def sys_end(self) -> None:
        """Write EndMessage and close: the attempt completed."""
        self._check_open()
        if self._replay:
            self._mismatch(replay.handler_ended(self.command_index + 1, self._replay))
        self._write(m.EndMessage())
        self.phase = _CLOSED
        self.closed = True

    def _failure_to_pb(self, failure: Failure) -> m.Failure:
        pb = m.Failure(code=failure.code, message=failure.message)
        if self.version >= 6:  # Failure.metadata exists since V6; V5 drops it.
            for k, v in sorted(failure.metadata.items()):
                pb.metadata.add(key=k, value=v)
        return pb

    # ------------------------------------------------------------------ awaiting

    def do_progress(self, tree: FutureTree) -> Progress:
        """Try to resolve ``tree`` from the notifications at hand.

        Notifications are looked at one by one in arrival order, and the tree is checked after
        each, so that races resolve the same way when the journal is replayed.
        """
        self._check_open()
        seen = self._seen
        # One awaited notification is the common case (a single await): its id, looked up
        # directly instead of walking the tree.
        single = tree.id if type(tree) is Leaf else None
        while True:
            if (single in seen) if single is not None else (resolve(tree, seen) is not None):
                return _RESOLVED
            if not self._cancel_reported and CANCEL in self._seen:
                self._cancel_reported = True
                return _CANCELLED
            if self._pending:
                nid, result = self._pending.popleft()
                seen[nid] = (len(seen), result)  # never a repeat (see _held)
                continue
            if self.phase is _REPLAYING:  # = commands left to replay (see __init__)
                self._mismatch(replay.await_added(self.command_index + 1, self._replay))
            executing = self._executing
            if executing and (
                single in executing
                if single is not None
                else any(nid in executing for nid in leaves(tree))
            ):
                # A run closure of this attempt will complete part of the tree.
                return _WAIT_INPUT
            if self._input_closed:
                self._suspend(tree)
                return _SUSPENDED
            return _WAIT_INPUT

    def settle(self, tree: FutureTree) -> bool:
        """Look at the notifications at hand, as :meth:`do_progress` does, until ``tree``
        resolves or a cancellation is seen; returns whether either happened, deciding
        nothing else. Callers ask before starting the run closures ``tree`` waits for: on a
        replay, a race the journal already decided (a timer that beat a run) must not start
        its losers again."""
        pending = self._pending
        if not pending:
            return False
        seen = self._seen
        while True:
            if resolve(tree, seen) is not None:
                return True
            if not self._cancel_reported and CANCEL in seen:
                return True
            if not pending:
                return False
            nid, result = pending.popleft()
            seen[nid] = (len(seen), result)  # never a repeat (see _held)

    def result(self, nid: NotificationId) -> Result | None:
        """The result of a notification that :meth:`do_progress` has looked at."""
        entry = self._seen.get(nid)
        return None if entry is None else entry[1]

    def resolved_at(self, tree: FutureTree) -> int | None:
        """Position (in seen order) at which ``tree`` resolved; used to pick race winners."""
        r = resolve(tree, self._seen)
        return None if r is None else r.at

    def _suspend(self, tree: FutureTree) -> None:
        remaining = prune(tree, self._seen) or tree
        if (
            not self._cancel_reported
            and CANCEL not in self._seen
            and CANCEL not in set(leaves(remaining))
        ):
            # Cancellation must be able to wake a suspended invocation.
            remaining = Node(Combinator.FIRST_COMPLETED, (remaining, Leaf(CANCEL)))
        if self.version >= 7:
            msg = m.SuspensionMessage(awaiting_on=_future_to_pb(remaining))
        else:
            msg = m.SuspensionMessage()
            for nid in leaves(remaining):
                if nid in self._seen:
                    continue
                if nid.kind is _COMPLETION:
                    msg.waiting_completions.append(int(nid.value))
                elif nid.kind is _SIGNAL:
                    msg.waiting_signals.append(int(nid.value))
                else:
                    msg.waiting_named_signals.append(str(nid.value))
        self._write(msg)
        self.phase = _CLOSED
        self.closed = True

    # ------------------------------------------------------------------ failures

    def notify_error(
        self,
        code: int,
        message: str,
        stacktrace: str = "",
        *,
        next_retry_delay_ms: int | None = None,
        related_to_last_command: bool = False,
        related_run: NotificationId | None = None,
    ) -> None:
        """Fail this attempt with an ErrorMessage (Restate retries it). No-op once closed."""
        if self.phase is _CLOSED:
            return
        msg = m.ErrorMessage(code=code, message=message, stacktrace=stacktrace)
        if next_retry_delay_ms is not None:
            msg.next_retry_delay = next_retry_delay_ms
        run = self._run_commands.get(related_run) if related_run is not None else None
        if run is not None:
            msg.related_command_index = run[0]
            msg.related_command_type = m.MessageType.RUN_COMMAND
            if run[1]:
                msg.related_command_name = run[1]
        elif related_to_last_command and self._last_command is not None:
            msg.related_command_index = self.command_index
            msg.related_command_type = m.type_of(self._last_command)
            name = m.entry_name(self._last_command)
            if name:
                msg.related_command_name = name
        self._write(msg)
        self.phase = _CLOSED
        self.closed = True
        self.failure = (code, message)

    def _fail(self, error: ProtocolError) -> None:
        self.notify_error(error.code, error.message, related_to_last_command=True)

    def _mismatch(self, error: JournalMismatch) -> NoReturn:
        self.mismatch = error.mismatch
        self._fail(error)
        raise error


# ---------------------------------------------------------------------- helpers

_PROPOSE_RUN_COMPLETION = int(m.MessageType.PROPOSE_RUN_COMPLETION)


def _future_to_pb(tree: FutureTree) -> m.Future:
    if isinstance(tree, Leaf):
        tree = Node(Combinator.FIRST_COMPLETED, (tree,))
    pb = m.Future(combinator_type=int(tree.combinator))  # type: ignore[arg-type]
    for child in tree.children:
        if isinstance(child, Node):
            pb.nested_futures.append(_future_to_pb(child))
        elif child.id.kind is _COMPLETION:
            pb.waiting_completions.append(int(child.id.value))
        elif child.id.kind is _SIGNAL:
            pb.waiting_signals.append(int(child.id.value))
        else:
            pb.waiting_named_signals.append(str(child.id.value))
    return pb


def _check_optional(**fields: str | None) -> None:
    # The server refuses empty values (a "command precondition" failure, retried forever).
    for field, value in fields.items():
        if value == "":
            raise ValueError(f"{field} must not be empty")


def _set_optional(message: Message, **fields: str | None) -> None:
    for field, value in fields.items():
        if value is not None:
            setattr(message, field, value)


def _eager_get(key: str, value: bytes | None) -> m.GetEagerStateCommandMessage:
    if value is None:
        return m.GetEagerStateCommandMessage(key=key.encode(), void=m.Void())
    return m.GetEagerStateCommandMessage(key=key.encode(), value=m.Value(content=value))


__all__ = ["EagerValue", "Phase", "Progress", "StateMachine"]
