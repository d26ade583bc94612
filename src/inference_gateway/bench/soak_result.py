"""``bench soak`` results: the samples, the counts and the memory-growth arithmetic.

Separate from the run so that the verdict maths (warm-up cut, growth, least-squares slope,
the 30-minute extrapolation) is plain data with no gateway, child process or event loop
behind it: the report and the unit tests use it on hand-made samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WARMUP_SHARE = 0.10
GOAL_GROWTH_PCT = 10.0
GOAL_MINUTES = 30.0


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    rss_mb: float
    envoy_heap_mb: float | None
    completed: int
    py_blocks: int | None = None
    """Live Python memory blocks (``sys.getallocatedblocks``): flat while RSS grows means
    the growth is native memory or allocator fragmentation, not Python objects."""


@dataclass
class SoakResult:
    minutes: float
    concurrency: int
    policy: str
    samples: list[Sample]
    sent: int = 0
    succeeded: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    """Failures by cause: ``status 503``, ``incomplete stream``, ``ClientConnectorError``..."""
    by_kind: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    allocation_growth: list[str] = field(default_factory=list)
    """With ``trace_allocations``: the source lines whose live Python allocations grew most
    between the end of warm-up and the end of the run (``tracemalloc``)."""

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    @property
    def post_warmup(self) -> list[Sample]:
        if not self.samples:
            return []
        cut = self.samples[-1].seconds * WARMUP_SHARE
        return [s for s in self.samples if s.seconds >= cut]

    @property
    def growth_pct(self) -> float | None:
        """RSS growth from the end of warm-up to the last sample, in percent."""
        after = self.post_warmup
        if len(after) < 2:
            return None
        return (after[-1].rss_mb - after[0].rss_mb) / after[0].rss_mb * 100.0

    @property
    def slope_mb_per_min(self) -> float | None:
        after = self.post_warmup
        if len(after) < 3:
            return None
        xs = [s.seconds / 60.0 for s in after]
        ys = [s.rss_mb for s in after]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else None

    @property
    def growth_30min_pct(self) -> tuple[float | None, bool]:
        """(growth over 30 minutes after warm-up, whether it is extrapolated)."""
        if self.minutes >= GOAL_MINUTES:
            return self.growth_pct, False
        slope, after = self.slope_mb_per_min, self.post_warmup
        if slope is None or not after:
            return None, True
        return max(slope, 0.0) * GOAL_MINUTES / after[0].rss_mb * 100.0, True

    @property
    def memory_flat(self) -> bool | None:
        growth, _ = self.growth_30min_pct
        return None if growth is None else growth <= GOAL_GROWTH_PCT
