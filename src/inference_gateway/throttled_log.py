"""One log line per period for a condition that can recur thousands of times a second.

A saturated pool refuses every Sheddable request and a starved process stalls its loop again
and again; a line for each would bury the log and cost the loop more. ``Throttled`` writes
the first occurrence at once, then at most one line per ``every`` seconds, each saying how
many occurrences it stands for since the previous line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class Deferred:
    """An argument built only when its line is written (``logging`` calls ``str`` on it then)."""

    __slots__ = ("_build",)

    def __init__(self, build: Callable[[], str]) -> None:
        self._build = build

    def __str__(self) -> str:
        return self._build()


class Throttled:
    __slots__ = ("_clock", "_every", "_level", "_logger", "_next", "_skipped")

    def __init__(
        self,
        logger: logging.Logger,
        *,
        every: float = 10.0,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._every = every
        self._level = level
        self._clock = clock
        self._next = float("-inf")
        self._skipped = 0

    def __call__(self, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless a line went out less than ``every`` ago; True if it did."""
        now = self._clock()
        if now < self._next:
            self._skipped += 1
            return False
        self._next = now + self._every
        if self._skipped:
            msg += " (and %d more since the last such line)"
            args = (*args, self._skipped)
            self._skipped = 0
        self._logger.log(self._level, msg, *args)
        return True


__all__ = ["Deferred", "Throttled"]
