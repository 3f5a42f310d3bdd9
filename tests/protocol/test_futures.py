"""Tests for restate_trio._protocol.futures: combinator resolution and pruning (§3.2, §4.5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings, strategies as st

from restate_trio._protocol.futures import (
    Combinator,
    FutureTree,
    Leaf,
    Node,
    Resolution,
    leaves,
    prune,
    resolve,
)
from restate_trio._protocol.types import (
    CANCEL,
    VOID,
    Failure,
    InvocationIdResult,
    NotificationId,
    Result,
    StateKeysResult,
    Success,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

FIRST = Combinator.FIRST_COMPLETED
ALL = Combinator.ALL_COMPLETED
ANY = Combinator.FIRST_SUCCEEDED_OR_ALL_FAILED
ALL_OK = Combinator.ALL_SUCCEEDED_OR_FIRST_FAILED

OK = Success(b"ok")
ERR = Failure(500, "boom")

Seen = dict[NotificationId, tuple[int, Result]]


def cid(n: int) -> NotificationId:
    return NotificationId.completion(n)


def c(n: int) -> Leaf:
    return Leaf(cid(n))


def node(combinator: Combinator, *children: FutureTree) -> Node:
    return Node(combinator, children)


def seen(*events: tuple[int | NotificationId, Result]) -> Seen:
    """Notifications in the order they were seen: position = index."""
    out: Seen = {}
    for pos, (nid, result) in enumerate(events):
        out[cid(nid) if isinstance(nid, int) else nid] = (pos, result)
    return out


def test_combinator_values_match_the_protocol() -> None:
    assert [int(x) for x in (FIRST, ALL, ANY, ALL_OK)] == [1, 2, 3, 4]


# --------------------------------------------------------------------------- leaves


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (OK, False),
        (VOID, False),
        (InvocationIdResult("inv_1"), False),
        (StateKeysResult(("a",)), False),
        (ERR, True),
    ],
)
def test_leaf(result: Result, failed: bool) -> None:
    s = seen((7, OK), (1, result))
    assert resolve(c(1), s) == Resolution(1, failed)
    assert resolve(c(2), s) is None


def test_leaf_kinds_are_distinct() -> None:
    s = seen((NotificationId.signal(17), OK), (NotificationId.named("n"), ERR))
    assert resolve(Leaf(NotificationId.signal(17)), s) == Resolution(0, False)
    assert resolve(Leaf(NotificationId.named("n")), s) == Resolution(1, True)
    assert resolve(c(17), s) is None
    assert resolve(Leaf(CANCEL), s) is None


# --------------------------------------------------------------------------- combinators


def test_first_completed() -> None:
    tree = node(FIRST, c(1), c(2))
    assert resolve(tree, seen()) is None
    assert resolve(tree, seen((2, OK))) == Resolution(0, False)
    # The earlier notification wins, whatever its position in the tree.
    assert resolve(tree, seen((2, ERR), (1, OK))) == Resolution(0, True)
    assert resolve(tree, seen((1, OK), (2, ERR))) == Resolution(0, False)
    assert resolve(tree, seen((9, OK), (2, OK), (1, ERR))) == Resolution(1, False)


def test_all_completed() -> None:
    tree = node(ALL, c(1), c(2), c(3))
    assert resolve(tree, seen((1, OK), (3, ERR))) is None
    # Resolves when the last child does; never "failed" (allSettled).
    assert resolve(tree, seen((1, ERR), (3, ERR), (2, ERR))) == Resolution(2, False)
    assert resolve(tree, seen((2, OK), (1, OK), (9, OK), (3, OK))) == Resolution(3, False)


def test_first_succeeded_or_all_failed() -> None:
    tree = node(ANY, c(1), c(2), c(3))
    assert resolve(tree, seen((1, ERR), (2, ERR))) is None
    assert resolve(tree, seen((1, ERR), (3, OK))) == Resolution(1, False)
    assert resolve(tree, seen((3, OK), (1, OK))) == Resolution(0, False)
    assert resolve(tree, seen((1, ERR), (2, OK), (3, OK))) == Resolution(1, False)
    # All failed: resolves, failed, at the last failure.
    assert resolve(tree, seen((3, ERR), (1, ERR), (2, ERR))) == Resolution(2, True)


def test_all_succeeded_or_first_failed() -> None:
    tree = node(ALL_OK, c(1), c(2), c(3))
    assert resolve(tree, seen((1, OK), (2, OK))) is None
    assert resolve(tree, seen((1, OK), (3, OK), (2, OK))) == Resolution(2, False)
    # The first failure resolves it at once, even with children pending.
    assert resolve(tree, seen((1, OK), (2, ERR))) == Resolution(1, True)
    assert resolve(tree, seen((3, ERR), (2, ERR))) == Resolution(0, True)
    assert resolve(tree, seen((9, ERR), (2, OK), (3, ERR), (1, ERR))) == Resolution(2, True)


def test_single_child_nodes() -> None:
    s = seen((1, ERR))
    assert resolve(node(FIRST, c(1)), s) == Resolution(0, True)
    assert resolve(node(ALL, c(1)), s) == Resolution(0, False)
    assert resolve(node(ANY, c(1)), s) == Resolution(0, True)
    assert resolve(node(ALL_OK, c(1)), s) == Resolution(0, True)


# --------------------------------------------------------------------------- nesting


def test_nested_server_probe_shape() -> None:
    # ALL_SUCCEEDED_OR_FIRST_FAILED(sleep#1, FIRST_COMPLETED(signal 17, signal 1)): the sleep
    # alone does not resolve it; signal 17 does (§3.2).
    s17, s1 = NotificationId.signal(17), NotificationId.signal(1)
    tree = node(ALL_OK, c(1), node(FIRST, Leaf(s17), Leaf(s1)))
    assert resolve(tree, seen((1, VOID))) is None
    assert resolve(tree, seen((1, VOID), (s17, OK))) == Resolution(1, False)
    assert resolve(tree, seen((s1, VOID), (1, VOID))) == Resolution(1, False)


def test_nested_which_finished_first() -> None:
    tree = node(FIRST, node(ALL, c(1), c(2)), c(3))
    # 1 at 0, 3 at 1, 2 at 2: the ALL branch finishes at 2, so c(3) (at 1) wins.
    assert resolve(tree, seen((1, OK), (3, ERR), (2, OK))) == Resolution(1, True)
    # 1 at 0, 2 at 1, 3 at 2: the ALL branch wins, and ALL never reports failure.
    assert resolve(tree, seen((1, ERR), (2, ERR), (3, OK))) == Resolution(1, False)


def test_nested_failure_propagation() -> None:
    tree = node(FIRST, node(ALL_OK, c(1), c(2)), c(3))
    # The inner ALL_OK fails at 0 (c1 failed), before c3 succeeds.
    assert resolve(tree, seen((1, ERR), (3, OK))) == Resolution(0, True)
    # c1 succeeds, c3 succeeds: inner still pending (c2), so c3 wins.
    assert resolve(tree, seen((1, OK), (3, OK))) == Resolution(1, False)


def test_nested_any_of_all() -> None:
    tree = node(ANY, node(ALL_OK, c(1), c(2)), c(3))
    # Inner fails at 0 and c3 fails at 1: everything failed, at 1.
    assert resolve(tree, seen((1, ERR), (3, ERR))) == Resolution(1, True)
    # Inner fails, c3 still pending: unresolved.
    assert resolve(tree, seen((1, ERR))) is None
    # Inner succeeds at 2 (when c2 arrives), c3 failed before: success at 2.
    assert resolve(tree, seen((1, OK), (3, ERR), (2, OK))) == Resolution(2, False)


def test_nested_all_of_any() -> None:
    tree = node(ALL_OK, node(ANY, c(1), c(2)), node(ANY, c(3), c(4)))
    assert resolve(tree, seen((1, ERR), (3, OK))) is None
    assert resolve(tree, seen((1, ERR), (3, OK), (2, OK))) == Resolution(2, False)
    assert resolve(tree, seen((1, ERR), (3, ERR), (4, ERR))) == Resolution(2, True)


# --------------------------------------------------------------------------- prune


def test_prune_leaf() -> None:
    assert prune(c(1), seen((1, OK))) is None
    assert prune(c(1), seen((2, OK))) == c(1)


def test_prune_resolved_node() -> None:
    assert prune(node(FIRST, c(1), c(2)), seen((2, ERR))) is None
    assert prune(node(ALL_OK, c(1), c(2)), seen((2, ERR))) is None
    assert prune(node(ANY, c(1), c(2)), seen((2, OK))) is None
    assert prune(node(ALL, c(1), c(2)), seen((1, OK), (2, ERR))) is None


def test_prune_drops_completed_children() -> None:
    assert prune(node(ALL, c(1), c(2), c(3)), seen((2, ERR))) == node(ALL, c(1), c(3))
    assert prune(node(ANY, c(1), c(2)), seen((1, ERR))) == node(ANY, c(2))
    assert prune(node(ALL_OK, c(1), c(2)), seen((1, OK))) == node(ALL_OK, c(2))
    assert prune(node(FIRST, c(1), c(2)), seen()) == node(FIRST, c(1), c(2))


def test_prune_nested() -> None:
    tree = node(FIRST, node(ALL, c(1), c(2)), c(3))
    assert prune(tree, seen((1, OK))) == node(FIRST, node(ALL, c(2)), c(3))
    # A resolved subtree disappears entirely.
    tree2 = node(ALL_OK, node(FIRST, c(1), c(2)), node(ALL, c(3), c(4)))
    assert prune(tree2, seen((2, OK), (3, OK))) == node(ALL_OK, node(ALL, c(4)))
    # A failed-but-unresolved ANY branch keeps only its pending children.
    tree3 = node(ALL, node(ANY, c(1), c(2), c(3)), c(4))
    assert prune(tree3, seen((1, ERR), (4, OK))) == node(ALL, node(ANY, c(2), c(3)))


def test_leaves_depth_first() -> None:
    tree = node(FIRST, node(ALL, c(1), Leaf(NotificationId.named("x"))), c(3), Leaf(CANCEL))
    assert list(leaves(tree)) == [cid(1), NotificationId.named("x"), cid(3), CANCEL]
    assert list(leaves(c(5))) == [cid(5)]


# --------------------------------------------------------------------------- properties

LEAF_IDS = range(1, 7)

trees: st.SearchStrategy[FutureTree] = st.recursive(
    st.sampled_from([c(i) for i in LEAF_IDS]),
    lambda children: st.builds(
        lambda comb, kids: Node(comb, tuple(kids)),
        st.sampled_from(list(Combinator)),
        st.lists(children, min_size=1, max_size=3),
    ),
    max_leaves=8,
)

outcomes: st.SearchStrategy[Result] = st.sampled_from([OK, ERR, VOID])


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[int, Result]]:
    """An arrival order of every leaf id, each with an outcome."""
    order = draw(st.permutations(list(LEAF_IDS)))
    return [(i, draw(outcomes)) for i in order]


def _upto(history: Sequence[tuple[int, Result]], n: int) -> Seen:
    return seen(*history[:n])


@settings(max_examples=60, deadline=None)
@given(trees, histories(), st.integers(0, len(LEAF_IDS)))
def test_prune_preserves_resolution(
    tree: FutureTree, history: list[tuple[int, Result]], n: int
) -> None:
    before = _upto(history, n)
    pruned = prune(tree, before)
    if resolve(tree, before) is not None:
        assert pruned is None
        return
    assert pruned is not None
    # Only notifications not yet seen remain.
    assert not set(leaves(pruned)) & set(before)
    assert set(leaves(pruned)) <= set(leaves(tree))
    # For every later point of the same history, the pruned tree resolves exactly like the
    # original: at the same moment, with the same outcome.
    for k in range(n, len(history) + 1):
        later = _upto(history, k)
        assert resolve(pruned, later) == resolve(tree, later), (k, pruned)


@settings(max_examples=50, deadline=None)
@given(trees, histories())
def test_resolution_is_monotonic(tree: FutureTree, history: list[tuple[int, Result]]) -> None:
    """Once resolved, more notifications never change when or how the tree resolved."""
    first: Resolution | None = None
    for k in range(len(history) + 1):
        r = resolve(tree, _upto(history, k))
        if first is None:
            first = r
            if r is not None:
                assert r.at == k - 1  # resolved by the notification just seen
        else:
            assert r == first
    assert first is not None  # everything arrived: every tree resolves


def test_empty_nodes_resolve_like_promise_combinators() -> None:
    # race([]) never settles; all([]) / allSettled([]) settle at once; any([]) fails at once.
    assert resolve(Node(Combinator.FIRST_COMPLETED, ()), {}) is None
    assert resolve(Node(ALL, ()), {}) == Resolution(-1, False)
    assert resolve(Node(ALL_OK, ()), {}) == Resolution(-1, False)
    assert resolve(Node(ANY, ()), {}) == Resolution(-1, True)
