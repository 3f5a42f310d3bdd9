"""The deterministic scheduler of one attempt's durable tasks: the baton.

A handler that opens a durable nursery (or a durable cancel scope) switches its attempt from
the single-task model (only the handler's task journals) to this scheduler. Every *durable
task* (the handler, and each task a durable nursery starts) may run user code only while it
holds the **baton**; there is one per attempt. A task gives the baton up only inside the SDK:
at a durable await it cannot finish yet, when it joins a durable nursery that still has
children, and when it ends. The baton then goes, synchronously and without trio choosing:

1. to the first task of the **ready** queue (FIFO). Tasks enter it only through the baton
   holder's own actions (spawning a child appends it; ending the last child of a joining
   nursery appends its parent; cancelling parked tasks appends them *sorted by spawn index*)
   or through step 2, so its order is a function of the program and the journal alone;
2. when nobody is ready (**quiescence**), to the state machine: one FIRST_COMPLETED tree over
   every parked task's own tree (in spawn order) and the timers of the open durable cancel
   scopes is given to ``do_progress``, which looks at notifications one by one, in journal
   order, and stops at the first that resolves something. The tasks it resolved become ready
   in (position, spawn index) order; a timer it fired cancels its scope (so the tasks parked
   inside become ready, sorted, with ``trio.Cancelled``). When nothing can progress, the
   scheduler waits for input: :meth:`Scheduler.wake`, called when bytes arrive or a run
   closure proposes, tries again.

trio's own order of running tasks never reaches the journal: a task trio runs that does not
hold the baton is parked in :meth:`Scheduler._park` and stays there. Notifications are only
looked at when no user code can run, so their arrival timing does not matter either.

What is left to trio, and why it is safe:

* cancellation: trio calls the abort callbacks of parked tasks in set order; they are only
  collected, and made ready sorted by spawn index when the canceller gives the baton up;
* non-durable awaits (``trio.sleep``, I/O outside ``ctx.run``) inside a durable task keep the
  baton: the other durable tasks wait, so the journal order does not depend on how long they
  take. A trio *deadline* around a durable await would fire live and never on replay, so a
  durable await under a deadline set inside the handler raises (use the durable scopes);
* ``ctx.run`` closures run in their own tasks outside the baton: they only propose results,
  whose journal order the runtime decides.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import outcome as _outcome
import trio

from .._protocol.futures import Combinator, FutureTree, Leaf, Node, leaves
from .._protocol.machine import Progress
from .._protocol.types import NotificationId
from ..errors import Cancelled

if TYPE_CHECKING:
    from .invocation import Attempt

__all__ = ["DurableTask", "JoinPoint", "Scheduler", "ScopeTimer"]

# States of a durable task.
_READY = 0  # in the ready queue, or granted the baton and not running yet
_RUNNING = 1  # holds the baton
_WAITING = 2  # parked at a durable await (its tree is part of the next quiescent step)
_JOINING = 3  # in a durable nursery's exit, waiting for its children
_DONE = 4

_WALL_CLOCK_DEADLINE = (
    "a trio deadline (trio.move_on_after / fail_after / a CancelScope deadline) is in effect "
    "around this durable await, inside a handler that uses durable concurrency: it would fire "
    "live but never on replay, where results are instant, so the journal could diverge; use "
    "restate_trio.move_on_after(ctx, ...) / fail_after(ctx, ...), whose timer is journaled"
)


class DurableTask:
    """One task that may journal: the handler, or a child of a durable nursery."""

    __slots__ = ("index", "join", "outcome", "parked", "propagate_cancel", "state", "task", "tree")

    def __init__(self, index: int, join: JoinPoint | None) -> None:
        #: Spawn order: the handler is 0, children count up as they are started.
        self.index: int = index
        #: The durable nursery this task is a child of (None for the handler).
        self.join: JoinPoint | None = join
        self.task: trio.lowlevel.Task | None = None
        self.state: int = _READY
        self.tree: FutureTree | None = None
        #: What the task's park returns when it gets the baton (None: nothing, go on).
        self.outcome: _outcome.Outcome[object] | None = None
        self.parked: bool = False
        #: The first task a Restate cancellation reaches cancels this invocation's calls.
        self.propagate_cancel: bool = False


class JoinPoint:
    """The scheduler's view of one durable nursery: its parent, its live children, and the
    cancel scope of its trio nursery."""

    __slots__ = ("joining", "live", "parent", "scope")

    def __init__(self, parent: DurableTask, scope: trio.CancelScope) -> None:
        self.parent: DurableTask = parent
        self.scope: trio.CancelScope = scope
        self.live: int = 0
        self.joining: bool = False


class ScopeTimer:
    """The journaled timer of an open durable cancel scope."""

    __slots__ = ("fired", "nid", "scope")

    def __init__(self, nid: NotificationId, scope: trio.CancelScope) -> None:
        self.nid: NotificationId = nid
        self.scope: trio.CancelScope = scope
        self.fired: bool = False


class Scheduler:
    """Hands the baton between the durable tasks of one attempt (see the module docstring)."""

    def __init__(self, attempt: Attempt, handler_task: trio.lowlevel.Task) -> None:
        self._attempt = attempt
        root = DurableTask(0, None)
        root.task = handler_task
        root.state = _RUNNING
        self.holder: DurableTask | None = root
        self._tasks: dict[trio.lowlevel.Task, DurableTask] = {handler_task: root}
        self._spawned = 0
        self._ready: deque[DurableTask] = deque()
        self._waiting: dict[int, DurableTask] = {}
        self._timers: list[ScopeTimer] = []
        self._aborted: list[DurableTask] = []
        self._advancing = False
        # A deadline earlier than this one was set inside the handler (see _check_deadline).
        self._base_deadline = attempt.base_deadline

    # ------------------------------------------------------------------ who may journal

    def is_holder(self, task: trio.lowlevel.Task) -> bool:
        holder = self.holder
        return holder is not None and holder.task is task

    def owner_error(self, task: trio.lowlevel.Task) -> RuntimeError:
        """Why ``task`` may not use the context now."""
        if task in self._tasks:  # a durable task running without the baton: an SDK bug
            return RuntimeError("restate_trio: a durable task ran without holding the baton")
        return RuntimeError(
            "a restate_trio context was used from a task that is not a durable task of this "
            "handler (a plain trio nursery's child, or a task of another invocation); start "
            "tasks that do durable work with restate_trio.open_nursery(ctx), so that their "
            "journal order is deterministic"
        )

    # ------------------------------------------------------------------ durable awaits

    async def wait(self, tree: FutureTree) -> None:
        """Park the calling durable task until ``tree`` resolves (see the module docstring).

        Raises ``trio.Cancelled`` when a scope around it is cancelled (a durable timer, a
        failing sibling, ``scope.cancel()``), :class:`~restate_trio.Cancelled` when Restate
        cancels the invocation, and unwinds the attempt when it suspends.
        """
        attempt = self._attempt
        machine = attempt.machine
        me = self.holder
        assert me is not None
        # A cancellation requested under the baton (by this task or one that had it) is
        # delivered here, before giving the baton away: deterministically. (First: a
        # cancelled scope's effective deadline is -inf.)
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_deadline()
        if machine.resolved_at(tree) is not None:
            await trio.lowlevel.checkpoint()  # still a checkpoint, so loops stay cancellable
            return
        try:
            while True:
                if machine.closed:
                    attempt.unwind()
                if machine.resolved_at(tree) is not None:
                    return
                me.state = _WAITING
                me.tree = tree
                self._waiting[me.index] = me
                self._give_up(me)
                # (A durable timer that fired while this task gave the baton up queued it at
                # once, see _abort_caller: _park delivers its cancellation.)
                await self._park(me)
        finally:
            me.tree = None
            attempt.runs.forget_awaiter(tree, self._still_awaited)

    def _still_awaited(self, nid: NotificationId) -> bool:
        return any(t.tree is not None and nid in leaves(t.tree) for t in self._waiting.values())

    def _check_deadline(self) -> None:
        if trio.current_effective_deadline() < self._base_deadline:
            raise RuntimeError(_WALL_CLOCK_DEADLINE)

    # ------------------------------------------------------------------ durable nurseries

    def spawn(
        self,
        nursery: trio.Nursery,
        join: JoinPoint,
        fn: Callable[[], Awaitable[None]],
        name: str,
    ) -> None:
        """Start a child of a durable nursery; it runs when the baton reaches it."""
        self._spawned += 1
        child = DurableTask(self._spawned, join)
        join.live += 1
        self._ready.append(child)
        nursery.start_soon(self._child, child, fn, name=name)

    async def _child(self, child: DurableTask, fn: Callable[[], Awaitable[None]]) -> None:
        task = child.task = trio.lowlevel.current_task()
        self._tasks[task] = child
        try:
            await self._park(child)  # the first turn
            await fn()
        except BaseException:
            # What trio's nursery does when the child's exception reaches it, done here, under
            # the baton, so that the siblings it cancels are queued in a deterministic order.
            if child.join is not None and self.holder is child:
                child.join.scope.cancel()
            raise
        finally:
            self._exit(child)

    def _exit(self, child: DurableTask) -> None:
        child.state = _DONE
        if child.task is not None:
            self._tasks.pop(child.task, None)
        join = child.join
        assert join is not None
        join.live -= 1
        if join.live == 0 and join.joining:
            join.joining = False
            self._make_ready(join.parent)
        if self.holder is child:
            self._give_up(child)
        # (Without the baton it ended because the attempt is over: release_all let it go.)

    def begin_join(self, join: JoinPoint) -> bool:
        """The parent leaves a durable nursery's body: gives the baton up while children
        live (returns whether it did; then :meth:`end_join` takes it back)."""
        if join.live == 0:
            return False
        me = join.parent
        assert self.holder is me
        join.joining = True
        me.state = _JOINING
        self._give_up(me)
        return True

    async def end_join(self, join: JoinPoint) -> None:
        """After trio's nursery exit returned: wait for the baton (uncancellable, and it
        always comes: the last child to end queues the parent)."""
        with trio.CancelScope(shield=True):
            await self._park(join.parent)

    # ------------------------------------------------------------------ durable cancel scopes

    def add_timer(self, timer: ScopeTimer) -> None:
        self._timers.append(timer)

    def remove_timer(self, timer: ScopeTimer) -> None:
        with contextlib.suppress(ValueError):
            self._timers.remove(timer)

    # ------------------------------------------------------------------ the baton

    def _give_up(self, me: DurableTask) -> None:
        if self.holder is me:
            self.holder = None
        self._flush_aborted()
        self._advance()

    def _make_ready(self, task: DurableTask) -> None:
        task.state = _READY
        self._ready.append(task)

    def _grant(self, task: DurableTask) -> None:
        self.holder = task
        task.state = _RUNNING
        if task.parked:
            task.parked = False
            result = task.outcome or _outcome.Value(None)
            task.outcome = None
            assert task.task is not None
            trio.lowlevel.reschedule(task.task, result)

    async def _park(self, me: DurableTask) -> None:
        """Wait for the baton; returns (or raises what was delivered) holding it. Returns
        at once, without it, when the attempt is over (callers then unwind)."""
        if self.holder is me:
            # Granted before it got here (a child's first turn, a parent back from trio's
            # nursery exit): a cancellation requested meanwhile is delivered now, as the
            # abort callback would have delivered it to a task already parked.
            delivered, me.outcome = me.outcome, None
            if delivered is not None:
                delivered.unwrap()
        elif self._attempt.machine.closed:
            return
        else:
            me.task = trio.lowlevel.current_task()
            me.parked = True

            def abort(raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
                return self._abort(me, raise_cancel)

            await trio.lowlevel.wait_task_rescheduled(abort)
        if me.propagate_cancel:
            me.propagate_cancel = False
            # SDK work that must finish even when a trio cancellation is pending too.
            with trio.CancelScope(shield=True):
                await self._attempt.propagate_cancel()
            raise Cancelled()
        # A turn that starts after a cancellation (requested while this task waited in the
        # ready queue) starts with it, at this durable await.
        await trio.lowlevel.checkpoint_if_cancelled()

    def _abort(
        self, me: DurableTask, raise_cancel: trio.lowlevel.RaiseCancelT
    ) -> trio.lowlevel.Abort:
        """trio cancels a parked task: queue it, with the cancellation, for its turn."""
        if self._attempt.machine.closed:
            # The attempt is over: tear down at once, the baton does not matter any more.
            me.parked = False
            self._waiting.pop(me.index, None)
            return trio.lowlevel.Abort.SUCCEEDED
        if me.state == _WAITING:
            me.outcome = _outcome.capture(raise_cancel)
            del self._waiting[me.index]
            me.state = _READY
            self._aborted.append(me)
            if self.holder is None and not self._advancing:
                # Cancelled from outside the baton (not deterministic to begin with).
                self._give_up(me)
        # _READY: it keeps its place and what it was woken with (a resolved await, or
        # restate_trio.Cancelled), as a trio task already rescheduled would; the cancellation
        # stays pending and meets it at the start of its turn (in _park). _JOINING cannot be
        # parked here (end_join is shielded).
        return trio.lowlevel.Abort.FAILED

    def _flush_aborted(self) -> None:
        aborted = self._aborted
        if aborted:
            aborted.sort(key=lambda t: t.index)
            self._ready.extend(aborted)
            aborted.clear()

    def _advance(self) -> None:
        """Pass the baton on: to the ready queue's first task, else through the state
        machine (a quiescent step). Re-entrant calls (from abort callbacks) only queue."""
        if self._advancing:
            return
        self._advancing = True
        try:
            while self.holder is None:
                if self._ready:
                    self._grant(self._ready.popleft())
                    return
                if not self._waiting or not self._step():
                    return
                self._flush_aborted()
        finally:
            self._advancing = False

    def _step(self) -> bool:
        """One quiescent step; returns whether tasks may have become ready."""
        attempt = self._attempt
        machine = attempt.machine
        if machine.closed:
            return False
        waiting = [self._waiting[i] for i in sorted(self._waiting)]
        timers = [t for t in self._timers if not t.fired]
        trees: list[FutureTree] = [t.tree for t in waiting if t.tree is not None]
        trees.extend(Leaf(t.nid) for t in timers)
        tree = trees[0] if len(trees) == 1 else Node(Combinator.FIRST_COMPLETED, tuple(trees))
        if not machine.replaying and attempt.runs.waiting and not machine.settle(tree):
            # Nothing at hand decides anything: the run closures the tasks wait for start
            # (not before: a race the journal already decided must not start its losers).
            runs = attempt.runs
            for task in waiting:
                assert task.tree is not None
                runs.start(task.tree)
        progress = attempt.drive(machine.do_progress, tree)
        if progress is Progress.RESOLVED:
            woken: list[tuple[int, int, DurableTask]] = []
            for task in waiting:
                assert task.tree is not None
                at = machine.resolved_at(task.tree)
                if at is not None:
                    woken.append((at, task.index, task))
            woken.sort(key=lambda entry: (entry[0], entry[1]))
            for _, _, task in woken:
                del self._waiting[task.index]
                self._make_ready(task)
            for timer in timers:
                if machine.resolved_at(Leaf(timer.nid)) is not None:
                    timer.fired = True
                    timer.scope.cancel()  # its parked tasks land in _aborted
            self._abort_caller()
            return True
        if progress is Progress.CANCELLED:
            # Restate cancelled the invocation: every parked task gets it, in spawn order;
            # the first one also cancels the calls this invocation made.
            first = True
            for task in waiting:
                del self._waiting[task.index]
                # The first raises after propagating (in _park); the others at once.
                task.propagate_cancel = first
                task.outcome = None if first else _outcome.Error(Cancelled())
                first = False
                self._make_ready(task)
            return True
        return False  # WAIT_INPUT, or SUSPENDED (the machine closed: everything unwinds)

    def _abort_caller(self) -> None:
        """A timer that just fired may also have cancelled the task running this step: the
        one giving the baton up, still on its way to park. trio only calls a task's abort
        callback once it parks, which is after the next step; with the input closed that
        step would suspend without this task's cancellation, waiting for its tree alone
        (forever, if nobody completes it). Queue it now, as a parked task would be."""
        task = self._tasks.get(trio.lowlevel.current_task())
        if task is None or task.state != _WAITING or task.parked:
            return
        if trio.current_effective_deadline() != -math.inf:  # not (or shielded from) cancelled
            return
        del self._waiting[task.index]
        task.state = _READY
        task.outcome = None
        self._aborted.append(task)

    def release_all(self) -> None:
        """The attempt is over: every parked durable task goes on at once, without the baton,
        to unwind (its durable await sees the closed machine). trio's cancellation of the
        attempt's scope does not reach a task parked inside a shielded scope."""
        self.holder = None
        self._ready.clear()
        self._waiting.clear()
        self._aborted.clear()
        for task in list(self._tasks.values()):
            if task.parked:
                task.parked = False
                task.outcome = None
                assert task.task is not None
                trio.lowlevel.reschedule(task.task)

    def wake(self) -> None:
        """Input arrived or a run closure proposed: try a quiescent step if nobody runs."""
        if self.holder is None and not self._ready:
            self._advance()
