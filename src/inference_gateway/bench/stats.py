"""Per-stage summaries of a routing run: latency percentiles, throughput, goodput, balance.

Only requests that arrive inside the measured window (after the warmup) count. Latency
percentiles are over the requests that finished; shed (429 by the gateway), rejected (429
by a pod's full queue), errors (other refusals by a pod) and timed-out requests (still
running when the drain cap hit) are counted separately. Throughput counts the requests that
finish inside the window (whenever they arrived), so at overload it shows the rate the pool
really sustained, not the offered rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    SHED = "shed"
    REJECTED = "rejected"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(slots=True)
class Outcome:
    """One request's fate; times are virtual seconds from the start of the run."""

    index: int
    arrival: float
    status: Status
    pod: int = -1
    criticality: str = "Standard"
    first_token: float = math.nan
    finish: float = math.nan
    output_tokens: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0

    @property
    def ttft(self) -> float:
        return self.first_token - self.arrival

    @property
    def e2e(self) -> float:
        return self.finish - self.arrival

    @property
    def tpot(self) -> float:
        if self.output_tokens <= 1:
            return 0.0
        return (self.finish - self.first_token) / (self.output_tokens - 1)


@dataclass(frozen=True, slots=True)
class Slo:
    ttft: float = 1.0
    tpot: float = 0.050


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    pos = (n - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def distribution(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered) if ordered else math.nan
    return {
        "mean": mean,
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
    }


def coefficient_of_variation(counts: Sequence[float]) -> float:
    if not counts:
        return math.nan
    mean = sum(counts) / len(counts)
    if mean == 0:
        return 0.0
    var = sum((c - mean) ** 2 for c in counts) / len(counts)
    return math.sqrt(var) / mean


@dataclass(slots=True)
class StageStats:
    """What one policy did in one stage; ``to_json`` is the results-file shape."""

    requests: int
    completed: int
    shed: int
    rejected: int
    errors: int
    """Refused by a pod for another reason than a full queue (4xx, e.g. too long)."""
    timed_out: int
    sent_rate: float
    completed_rate: float
    output_tokens_per_s: float
    goodput: float
    """Requests per second of the window that met both SLOs."""
    goodput_fraction: float
    ttft: dict[str, float]
    tpot: dict[str, float]
    e2e: dict[str, float]
    imbalance_cv: float
    prefix_hit_rate: float
    preemptions: int
    per_pod: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def summarize(
    outcomes: Sequence[Outcome],
    *,
    window: tuple[float, float],
    pods: int,
    slo: Slo,
    prefix_hit_rate: float,
    preemptions: int,
) -> StageStats:
    start, end = window
    length = end - start
    measured = [o for o in outcomes if start <= o.arrival < end]
    done = [o for o in measured if o.status is Status.OK]
    finished_in = [o for o in outcomes if o.status is Status.OK and start <= o.finish < end]
    per_pod = [0] * pods
    for o in measured:
        if o.pod >= 0:
            per_pod[o.pod] += 1
    good = sum(1 for o in done if o.ttft <= slo.ttft and o.tpot <= slo.tpot)
    count = {s: 0 for s in Status}
    for o in measured:
        count[o.status] += 1
    return StageStats(
        requests=len(measured),
        completed=len(done),
        shed=count[Status.SHED],
        rejected=count[Status.REJECTED],
        errors=count[Status.ERROR],
        timed_out=count[Status.TIMEOUT],
        sent_rate=len(measured) / length,
        completed_rate=len(finished_in) / length,
        output_tokens_per_s=sum(o.output_tokens for o in finished_in) / length,
        goodput=good / length,
        goodput_fraction=good / len(measured) if measured else math.nan,
        ttft=distribution([o.ttft for o in done]),
        tpot=distribution([o.tpot for o in done]),
        e2e=distribution([o.e2e for o in done]),
        imbalance_cv=coefficient_of_variation(per_pod),
        prefix_hit_rate=prefix_hit_rate,
        preemptions=preemptions,
        per_pod=per_pod,
    )
