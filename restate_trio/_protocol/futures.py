"""Trees of awaited notifications, combined as the protocol's four combinators.

The state machine evaluates a tree against the notifications it has seen, in the order it saw
them, so that "which one finished first" is decided by journal order and replays the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .types import Failure, NotificationId, Result


class Combinator(enum.IntEnum):
    """The protocol's CombinatorType values."""

    FIRST_COMPLETED = 1
    ALL_COMPLETED = 2
    FIRST_SUCCEEDED_OR_ALL_FAILED = 3
    ALL_SUCCEEDED_OR_FIRST_FAILED = 4


@dataclass(frozen=True, slots=True)
class Leaf:
    id: NotificationId


@dataclass(frozen=True, slots=True)
class Node:
    combinator: Combinator
    children: tuple[FutureTree, ...]


FutureTree = Leaf | Node


@dataclass(frozen=True, slots=True)
class Resolution:
    """A resolved (sub)tree: when it resolved (a position in seen order) and whether it failed."""

    at: int
    failed: bool


def resolve(
    tree: FutureTree, seen: Mapping[NotificationId, tuple[int, Result]]
) -> Resolution | None:
    """Whether ``tree`` is resolved by the ``seen`` notifications (id → (position, result))."""
    if isinstance(tree, Leaf):
        entry = seen.get(tree.id)
        if entry is None:
            return None
        return Resolution(entry[0], isinstance(entry[1], Failure))
    n = len(tree.children)
    combinator = tree.combinator
    if n == 0:
        # Like Promise.race([]) / all([]) / any([]): a race of nothing never finishes, "all of
        # nothing" is done at once, and "any of nothing" has failed at once.
        if combinator is Combinator.FIRST_COMPLETED:
            return None
        return Resolution(-1, combinator is Combinator.FIRST_SUCCEEDED_OR_ALL_FAILED)
    done = [r for r in (resolve(c, seen) for c in tree.children) if r is not None]
    if combinator is Combinator.FIRST_COMPLETED:
        return min(done, key=_at) if done else None
    if combinator is Combinator.ALL_COMPLETED:
        return Resolution(max(r.at for r in done), False) if len(done) == n else None
    ok = [r for r in done if not r.failed]
    failed = [r for r in done if r.failed]
    if combinator is Combinator.FIRST_SUCCEEDED_OR_ALL_FAILED:
        if ok:
            return Resolution(min(r.at for r in ok), False)
        return Resolution(max(r.at for r in failed), True) if len(failed) == n else None
    # ALL_SUCCEEDED_OR_FIRST_FAILED
    if failed:
        return Resolution(min(r.at for r in failed), True)
    return Resolution(max(r.at for r in ok), False) if len(ok) == n else None


def _at(r: Resolution) -> int:
    return r.at


def prune(tree: FutureTree, seen: Mapping[NotificationId, tuple[int, Result]]) -> FutureTree | None:
    """The unresolved part of ``tree`` (``None`` if nothing is left to wait for).

    Completed leaves are dropped; what remains still expresses what would resolve the tree.
    """
    if isinstance(tree, Leaf):
        return None if tree.id in seen else tree
    if resolve(tree, seen) is not None:
        return None
    children = tuple(c for c in (prune(c, seen) for c in tree.children) if c is not None)
    return Node(tree.combinator, children) if children else None


def leaves(tree: FutureTree) -> Iterator[NotificationId]:
    """Every notification id in the tree, depth first."""
    if isinstance(tree, Leaf):
        yield tree.id
    else:
        for child in tree.children:
            yield from leaves(child)
