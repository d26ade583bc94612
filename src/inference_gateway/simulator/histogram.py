"""Bucket counts the engine fills in bulk (one call per step, not per token).

The bucket bounds are vLLM's (``vllm/v1/metrics/loggers.py``), so the simulator's
``/metrics`` histograms line up bucket for bucket with a real server's.
"""

from __future__ import annotations

from bisect import bisect_left

TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
ITL_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
E2E_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip


class Histogram:
    """Non-cumulative counts per bucket (last slot is +Inf), a sum and a count."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float, n: int = 1) -> None:
        self.counts[bisect_left(self.bounds, value)] += n
        self.sum += value * n
        self.count += n

    def bucket_of(self, value: float) -> int:
        return bisect_left(self.bounds, value)

    def observe_series(self, a: float, b: float, k: int, n: int) -> None:
        """Observe ``a + b*j`` for ``j`` in ``range(k)``, each ``n`` times (a decode run).

        When the first and last value share a bucket the whole series is one addition.
        """
        first, last = a, a + b * (k - 1)
        if self.bucket_of(first) == self.bucket_of(last):
            self.counts[self.bucket_of(first)] += n * k
            self.sum += n * (k * a + b * k * (k - 1) / 2)
            self.count += n * k
        else:
            for j in range(k):
                self.observe(a + b * j, n)

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs, '+Inf' last, as Prometheus exposes them."""
        out: list[tuple[str, int]] = []
        acc = 0
        for bound, c in zip(self.bounds, self.counts, strict=False):
            acc += c
            out.append((_fmt(bound), acc))
        out.append(("+Inf", acc + self.counts[-1]))
        return out


def _fmt(bound: float) -> str:
    return repr(float(bound))
