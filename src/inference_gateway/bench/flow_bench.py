"""``bench flow-control``: what flow control does under overload, in virtual time.

Two experiments on the same request streams with and without flow control (``+fc``):

- ``mixed-criticality`` at fractions of the probed capacity (50 % as the reference, then
  overload): per-criticality p90 TTFT, completions and goodput (both SLOs met).
- ``multi-tenant`` at one overload fraction: two Standard tenants at a 10:1 rate plus a
  Critical trickle. Per-tenant completions and p90 TTFT; with flow control also the
  tenants' shares of the dispatches made while both had requests waiting (the fairness
  policy's doing), and Jain's index over those shares.

Every run is a pure function of (workload, rate, policy, seed), as in ``bench policies``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from inference_gateway.bench import harness, policies, workloads
from inference_gateway.bench.stats import Outcome, Slo, Status, percentile
from inference_gateway.bench.sweep import SweepConfig, probe_capacity

CRITICALITIES = ("Critical", "Standard", "Sheddable")


@dataclass(slots=True)
class Row:
    policy: str
    fraction: float
    rate: float
    by_class: dict[str, dict[str, float]] = field(default_factory=dict)
    goodput: float = 0.0
    completed: int = 0
    shed: int = 0
    contended: dict[str, int] | None = None
    finished: dict[str, int] = field(default_factory=dict)
    """Completions that finished inside the window, per group."""


def max_min_shares(demands: Sequence[float], capacity: float) -> list[float]:
    """Max-min fair allocation of ``capacity`` to ``demands`` (water-filling)."""
    shares = [0.0] * len(demands)
    left, open_ = capacity, sorted(range(len(demands)), key=lambda i: demands[i])
    while open_:
        even = left / len(open_)
        i = open_[0]
        if demands[i] <= even:
            shares[i] = demands[i]
            left -= demands[i]
            open_.pop(0)
        else:
            for j in open_:
                shares[j] = even
            break
    return shares


def jain(values: Sequence[float]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    total, squares = sum(values), sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else float("nan")


def _summary(
    outcomes: Sequence[Outcome],
    window: tuple[float, float],
    slo: Slo,
    key: str,
    groups: dict[int, str],
) -> tuple[dict[str, dict[str, float]], float, int, int]:
    start, end = window
    measured = [o for o in outcomes if start <= o.arrival < end]
    out: dict[str, dict[str, float]] = {}
    good = 0
    for o in measured:
        g = out.setdefault(groups.get(o.index, key), {"sent": 0, "completed": 0, "good": 0})
        g["sent"] += 1
        if o.status is Status.OK:
            g["completed"] += 1
            if o.ttft <= slo.ttft and o.tpot <= slo.tpot:
                g["good"] += 1
                good += 1
    for name, g in out.items():
        ttfts = sorted(
            o.ttft for o in measured if o.status is Status.OK and groups.get(o.index, key) == name
        )
        g["ttft_p90"] = percentile(ttfts, 90)
        g["ttft_p50"] = percentile(ttfts, 50)
    done = sum(1 for o in measured if o.status is Status.OK)
    shed = sum(1 for o in measured if o.status is Status.SHED)
    return out, good / (end - start), done, shed


def run_experiment(
    workload: str,
    fractions: Sequence[float],
    names: Sequence[str],
    *,
    pods: int = 4,
    seed: int = 0,
    stage_seconds: float = 30.0,
    by_tenant: bool = False,
) -> tuple[float, list[Row]]:
    """(capacity in req/s, one row per fraction and policy)."""
    config = SweepConfig(workload, pods=pods, seed=seed, stage_seconds=stage_seconds)
    capacity = probe_capacity(config)
    setup = config.setup()
    stage, warmup, _ = config.timing()
    rows: list[Row] = []
    for fraction in fractions:
        stream = workloads.generate(config.spec(), fraction * capacity, warmup + stage, seed)
        groups = {
            r.index: (r.tenant if by_tenant else r.criticality.value) or "none" for r in stream
        }
        for name in names:
            res = harness.run(
                setup, policies.resolve(name), stream, warmup=warmup, duration=stage, seed=seed
            )
            by, goodput, done, shed = _summary(res.outcomes, res.window, config.slo, "", groups)
            row = Row(name, fraction, fraction * capacity, by, goodput, done, shed, res.contended)
            start, end = res.window
            for o in res.outcomes:
                if o.status is Status.OK and start <= o.finish < end:
                    g = groups.get(o.index, "")
                    row.finished[g] = row.finished.get(g, 0) + 1
            rows.append(row)
    return capacity, rows


def criticality_table(capacity: float, rows: Sequence[Row]) -> str:
    head = (
        f"capacity {capacity:.1f} req/s\n\n| policy | load | Critical p90 TTFT | Standard p90 "
        "TTFT | Sheddable p90 TTFT | Critical/Standard/Sheddable completed | shed | goodput |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        c = [r.by_class.get(k, {}) for k in CRITICALITIES]
        p90 = [f"{x.get('ttft_p90', float('nan')) * 1000:.0f} ms" for x in c]
        done = "/".join(f"{int(x.get('completed', 0))}" for x in c)
        lines.append(
            f"| {r.policy} | {r.fraction:.0%} | {' | '.join(p90)} | {done} | {r.shed} "
            f"| {r.goodput:.2f}/s |"
        )
    return head + "\n".join(lines) + "\n"


def tenant_table(capacity: float, rows: Sequence[Row]) -> str:
    head = (
        f"capacity {capacity:.1f} req/s\n\n| policy | load | heavy done (p90 TTFT) | light done "
        "(p90 TTFT) | Critical done (p90 TTFT) | light share of dispatches while both wait "
        "| Jain (max-min) |\n|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        cells = []
        for t in ("tenant-0", "tenant-1", "interactive"):
            g = r.by_class.get(t, {})
            p90 = g.get("ttft_p90", float("nan")) * 1000
            cells.append(f"{int(g.get('completed', 0))} ({p90:.0f} ms)")
        share = "n/a"
        if r.contended:
            heavy, light = r.contended.get("tenant-0", 0), r.contended.get("tenant-1", 0)
            if heavy + light:
                share = f"{light / (heavy + light):.1%} of {heavy + light}"
        index = f"{tenant_jain(r):.3f}"
        lines.append(f"| {r.policy} | {r.fraction:.0%} | {' | '.join(cells)} | {share} | {index} |")
    return head + "\n".join(lines) + "\n"


def tenant_jain(row: Row) -> float:
    """Jain's index over the two tenants' window throughput, each divided by its max-min
    fair share of what the band completed (demand: what the tenant sent in the window)."""
    names = ("tenant-0", "tenant-1")
    done = [float(row.finished.get(t, 0)) for t in names]
    demand = [row.by_class.get(t, {}).get("sent", 0.0) for t in names]
    fair = max_min_shares(demand, sum(done))
    return jain([d / f if f else 1.0 for d, f in zip(done, fair, strict=True)])
