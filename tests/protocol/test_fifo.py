"""The state machine's FIFO queue behaves like a deque for what the machine uses."""

from __future__ import annotations

from collections import deque

import pytest

from restate_trio._protocol.fifo import Fifo


def test_append_popleft_len_and_indexing_match_a_deque() -> None:
    fifo: Fifo[int] = Fifo()
    reference: deque[int] = deque()
    assert not fifo
    with pytest.raises(IndexError):
        fifo.popleft()
    # Long enough to cross the compaction point several times, interleaving both operations.
    for step in range(1_000):
        for value in range(step % 7):
            fifo.append(step * 10 + value)
            reference.append(step * 10 + value)
        for _ in range(step % 5):
            if reference:
                assert fifo.popleft() == reference.popleft()
        assert len(fifo) == len(reference)
        assert bool(fifo) == bool(reference)
        assert list(fifo) == list(reference)
        if reference:
            assert fifo[0] == reference[0]
            assert fifo[-1] == reference[-1]
            assert list(fifo[1:3]) == list(reference)[1:3]
    while reference:
        assert fifo.popleft() == reference.popleft()
    assert not fifo
    assert len(fifo) == 0
    with pytest.raises(IndexError):
        fifo[0]
