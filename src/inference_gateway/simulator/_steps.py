"""Closed forms for a run of decode steps whose durations grow linearly: ``a + b*j``.

Within a run every step decodes the same sequences, each one token longer than the step
before, so only the context term grows; the time of ``k`` steps is an arithmetic series.
"""

from __future__ import annotations

import math

_EPS = 1e-9
"""Slack (seconds) so that ``now + span(k)`` computed elsewhere still counts as reached."""
_BIG = 1 << 60


def span(k: int, a: float, b: float) -> float:
    """Duration of the first ``k`` steps."""
    return k * a + b * k * (k - 1) / 2


def within(delta: float, a: float, b: float) -> int:
    """The most steps that complete within ``delta`` seconds."""
    delta += _EPS
    if delta < a:
        return 0
    if math.isinf(delta):
        return _BIG
    if b == 0.0:
        k = int(delta // a)
    else:
        h = a - b / 2
        k = int((-h + math.sqrt(h * h + 2 * b * delta)) / b)
    while span(k + 1, a, b) <= delta:
        k += 1
    while k > 0 and span(k, a, b) > delta:
        k -= 1
    return k


def reach(delta: float, a: float, b: float) -> int:
    """The fewest steps (at least one) that last ``delta`` seconds or more."""
    if delta <= a:
        return 1
    k = within(delta - 2 * _EPS, a, b)
    return k if span(k, a, b) >= delta else k + 1
