"""Running totals of the EPP's own in-flight counts, kept as each count changes.

Flow control's concurrency gate asks, for every request, whether the pool is under its
ceiling and no pod is at its limit. Summing the counts per request is a pass over the pool;
these totals answer in O(1): the sum over every ``ip:port`` (an upper bound on any pool's),
and, per watched level, how many ``ip:port`` are at or above it.
"""

from __future__ import annotations

from collections.abc import Iterable


class InFlightLoad:
    __slots__ = ("_at", "total")

    def __init__(self) -> None:
        self.total = 0
        self._at: dict[int, int] = {}

    def watch(self, level: int, counts: Iterable[int]) -> LoadWatch:
        """Start counting the ``ip:port`` at or above ``level`` (``counts``: every count now)."""
        if level not in self._at:
            self._at[level] = sum(1 for c in counts if c >= level)
        return LoadWatch(self, level)

    def moved(self, old: int, new: int) -> None:
        self.total += new - old
        for level in self._at:
            if old < level <= new:
                self._at[level] += 1
            elif new < level <= old:
                self._at[level] -= 1

    def at_or_over(self, level: int) -> int:
        return self._at[level]


class LoadWatch:
    """``watch()`` -> (in-flight requests across every pool, ``ip:port`` at or over the level)."""

    __slots__ = ("_level", "_load")

    def __init__(self, load: InFlightLoad, level: int) -> None:
        self._load = load
        self._level = level

    def __call__(self) -> tuple[int, int]:
        load = self._load
        return load.total, load.at_or_over(self._level)
