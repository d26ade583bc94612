"""One server's prefix blocks, least recently used first, in objects the garbage collector
does not track.

A full index is millions of blocks (31,250 per server in the built-in configs). Kept in an
``OrderedDict`` per server, every full collection walked all of them: ~90 ms at 100 full
servers. Here a block maps to its position in a dict of ints only (which CPython leaves
untracked) and an ``array`` holds the blocks by position; using a block again appends it
and makes its older position stale, and stale positions are skipped when the oldest block
is evicted, and dropped by an occasional compaction.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence

_SLACK = 1024
_STALE_PER_LIVE = 8
"""Positions kept per live block (and ``_SLACK`` more) before compacting: a compaction
sorts the live blocks, so it must be rare; 8 bytes a position is still less than an
``OrderedDict`` spends per entry."""


class BlockLru:
    __slots__ = ("_at", "_first", "_head", "_order", "_slack")

    def __init__(self, slack: int = _SLACK) -> None:
        self._slack = slack
        self._at: dict[int, int] = {}
        """block -> its position (the latest use)."""
        self._order = array("Q")
        """Blocks by position; ``_order[i]`` is at position ``_first + i``."""
        self._first = 0
        self._head = 0
        """Index in ``_order`` of the oldest position not yet evicted."""

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, block: int) -> bool:
        return block in self._at

    def __iter__(self) -> Iterator[int]:
        return iter(self._at)

    def use(self, blocks: Sequence[int]) -> list[int]:
        """Make ``blocks`` the most recently used, in order; returns those not held."""
        at, order = self._at, self._order
        new = [block for block in blocks if block not in at]
        position = self._first + len(order)
        at.update(zip(blocks, range(position, position + len(blocks)), strict=True))
        order.extend(blocks)
        if len(order) - self._head > _STALE_PER_LIVE * len(at) + self._slack:
            self._compact()
        return new

    def pop_oldest(self) -> int:
        """Evict and return the least recently used block (the LRU must not be empty)."""
        at, order = self._at, self._order
        head, position = self._head, self._first + self._head
        while True:
            block = order[head]
            head += 1
            if at.get(block) == position:
                del at[block]
                break
            position += 1
        self._head = head
        if head > self._slack and 2 * head > len(order):
            self._compact()
        return block

    def _compact(self) -> None:
        """Keep only the live positions, renumbered from 0: a sort of the live blocks, after
        ``_STALE_PER_LIVE`` times as many uses, so O(1) per use on average."""
        at = self._at
        kept = array("Q", sorted(at, key=at.__getitem__))
        at.update(zip(kept, range(len(kept)), strict=True))
        self._order, self._first, self._head = kept, 0, 0
