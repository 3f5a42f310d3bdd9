"""A first-in, first-out queue for the state machine's per-invocation queues."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar, overload

T = TypeVar("T")

# Consumed slots are dropped in one go once there are this many and they are at least half.
_COMPACT_AT = 64


class Fifo(Sequence[T]):
    """``append`` / ``popleft`` over a list and a head index.

    Why not ``collections.deque``: a deque allocates a 64-slot block when it is created, ~0.7 KiB
    even while empty, and every invocation holds two queues for its whole life, so they were
    ~1.5 KiB of each parked invocation (tracemalloc, 1,000 invocations awaiting an awakeable).
    Most stay empty or short; this costs an empty list until used.
    """

    __slots__ = ("_head", "_items")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._head = 0

    def append(self, item: T) -> None:
        self._items.append(item)

    def popleft(self) -> T:
        items = self._items
        head = self._head
        if head >= len(items):
            raise IndexError("pop from an empty Fifo")
        item = items[head]
        head += 1
        if head == len(items):
            items.clear()
            head = 0
        elif head >= _COMPACT_AT and 2 * head >= len(items):
            del items[:head]
            head = 0
        self._head = head
        return item

    def __len__(self) -> int:
        return len(self._items) - self._head

    def __bool__(self) -> bool:
        return len(self._items) > self._head

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, int) and 0 <= index < len(self):
            return self._items[self._head + index]
        return self._items[self._head :][index]

    def __iter__(self) -> Iterator[T]:
        items = self._items
        for position in range(self._head, len(items)):
            yield items[position]

    def __repr__(self) -> str:
        return f"Fifo({list(self)!r})"
