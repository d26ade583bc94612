"""Turning sweep results into a Markdown table, a JSON file and PNG charts.

Charts follow GIE's benchmark notebook: p90 latencies (TTFT, TPOT, end-to-end) and output
throughput against the offered rate, one line per policy. matplotlib is imported lazily
with the Agg backend so that importing the harness never needs a display or pays for it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference_gateway.bench.stats import StageStats


@dataclass(slots=True)
class StageResult:
    fraction: float
    rate: float
    stats: StageStats
    predictor: dict[str, float] = field(default_factory=dict)
    """A latency predictor's accuracy over the stage (``sweep.predictor_accuracy``)."""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"fraction": self.fraction, "rate": self.rate}
        out.update(self.stats.to_json())
        if self.predictor:
            out["predictor"] = self.predictor
        return out


@dataclass(slots=True)
class SweepResult:
    meta: dict[str, Any]
    results: dict[str, list[StageResult]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "meta": self.meta,
            "results": {p: [s.to_json() for s in stages] for p, stages in self.results.items()},
        }


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value * 1000:.0f}" if value < 10 else f"{value * 1000:.3g}"


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


_HEADER = (
    "| load | rate | policy | done/s | out tok/s | TTFT p50 | TTFT p90 | TTFT p99 "
    "| TPOT p50 | TPOT p90 | e2e p50 | e2e p90 | e2e p99 | goodput | shed | 429 | error | timeout "
    "| prefix hit | CV |"
)


def markdown_table(result: SweepResult) -> str:
    """One row per stage and policy; latencies in ms except e2e in seconds."""
    lines = [_HEADER, _separator()]
    policies = list(result.results)
    stages = max((len(v) for v in result.results.values()), default=0)
    for i in range(stages):
        for policy in policies:
            if i >= len(result.results[policy]):
                continue
            st = result.results[policy][i]
            s = st.stats
            lines.append(
                f"| {_pct(st.fraction)} | {st.rate:.1f} | {policy} | {s.completed_rate:.1f} "
                f"| {s.output_tokens_per_s:.0f} | {_ms(s.ttft['p50'])} | {_ms(s.ttft['p90'])} "
                f"| {_ms(s.ttft['p99'])} | {_ms(s.tpot['p50'])} | {_ms(s.tpot['p90'])} "
                f"| {_s(s.e2e['p50'])} | {_s(s.e2e['p90'])} | {_s(s.e2e['p99'])} "
                f"| {s.goodput_fraction:.0%} | {s.shed} | {s.rejected} | {s.errors} "
                f"| {s.timed_out} | {s.prefix_hit_rate:.0%} | {s.imbalance_cv:.2f} |"
            )
    return "\n".join(lines)


def best_p90(result: SweepResult, stage: int, metric: str = "e2e") -> tuple[str, float]:
    """The policy with the lowest p90 ``metric`` at ``stage``, and that p90."""
    best = ("", math.inf)
    for policy, stages in result.results.items():
        if stage < len(stages):
            value = getattr(stages[stage].stats, metric)["p90"]
            if value < best[1]:
                best = (policy, value)
    return best


def ratio_table(result: SweepResult, metric: str = "e2e") -> str:
    """p90 of ``metric`` per policy divided by the best policy's at that stage (lookahead
    and every other policy run included), one row per stage."""
    policies = list(result.results)
    if not policies:
        return ""
    head = f"| load | best | {' | '.join(policies)} |"
    lines = [head, "|" + "---|" * (len(policies) + 2)]
    stages = max(len(v) for v in result.results.values())
    for i in range(stages):
        name, ref = best_p90(result, i, metric)
        cells = []
        for p in policies:
            stage = result.results[p][i] if i < len(result.results[p]) else None
            value = getattr(stage.stats, metric)["p90"] if stage is not None else math.nan
            ok = ref > 0 and math.isfinite(ref) and not math.isnan(value)
            cells.append(f"{value / ref:.2f}" if ok else "-")
        first = next(iter(result.results.values()))[i]
        label = _pct(first.fraction) if not math.isnan(first.fraction) else f"{first.rate:g}/s"
        lines.append(f"| {label} | {name} ({_s(ref)} s) | {' | '.join(cells)} |")
    return "\n".join(lines)


_ACCURACY = ("ttft_mae", "ttft_median", "tpot_mae", "tpot_median")


def _ms1(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.1f}"


def accuracy_table(result: SweepResult) -> str:
    """Median absolute error of each latency-predicting policy's TTFT and TPOT, per stage."""
    lines = []
    for policy, stages in result.results.items():
        for st in stages:
            acc = st.predictor
            if not acc:
                continue
            label = _pct(st.fraction) if not math.isnan(st.fraction) else f"{st.rate:g}/s"
            cells = [acc.get(k, math.nan) for k in _ACCURACY]
            lines.append(f"| {label} | {policy} | " + " | ".join(map(_ms1, cells)) + " |")
    if not lines:
        return ""
    head = [
        "| load | policy | TTFT abs err p50 | TTFT p50 | TPOT abs err p50 | TPOT p50 |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(head + lines)


def document(result: SweepResult) -> str:
    """The whole ``results.md``: legend, main table, p90 e2e relative to the best policy
    of each stage, and the latency predictor's accuracy."""
    parts = [legend(result), "", markdown_table(result)]
    ratios = ratio_table(result)
    if ratios:
        parts += [
            "",
            "p90 end-to-end latency relative to the best policy of each stage "
            "(1.00 = the best; `lookahead` and `oracle:tuned` included):",
            "",
            ratios,
        ]
    accuracy = accuracy_table(result)
    if accuracy:
        parts += ["", "Latency predictor accuracy per request (ms):", "", accuracy]
    return "\n".join(parts) + "\n"


def _separator() -> str:
    return "|" + "---|" * (_HEADER.count("|") - 1)


def legend(result: SweepResult) -> str:
    m = result.meta
    return (
        f"Workload `{m['workload']}`, {m['pods']} pods{_speeds(m)}, seed {m['seed']}, capacity "
        f"{m['capacity']:.1f} req/s (probe: {m['probe_policy']}), {m['stage_seconds']:g} s "
        f"measured per stage after {m['warmup_seconds']:g} s warmup. TTFT/TPOT in ms, e2e in "
        f"s; goodput = share of requests with TTFT <= {m['slo_ttft']:g} s and TPOT <= "
        f"{m['slo_tpot'] * 1000:g} ms; shed = 429 from the gateway; 429 = refused by a "
        "pod's full queue; error = other refusals by a pod; CV = coefficient of variation "
        "of requests per pod."
    )


def _speeds(meta: Mapping[str, Any]) -> str:
    slow = int(meta.get("slow_pods", 1 if meta.get("heterogeneous") else 0) or 0)
    if not meta.get("heterogeneous") or not slow:
        return ""
    return f" ({slow} of them {meta['slow_factor']:g}x slower)"


def write_json(result: SweepResult, path: Path) -> None:
    path.write_text(json.dumps(result.to_json(), indent=1, allow_nan=True) + "\n")


NOT_THE_RUN = ("policies", "wall_seconds")
"""Meta keys that differ between runs of the same stages with other policies."""


def stages_key(meta: Mapping[str, Any]) -> str:
    """What names a run's stages (workload, pool, seed, probed capacity, stage lengths):
    runs with equal keys gave every (policy, stage) the same arrivals. JSON, so that the
    NaN capacity of a run given rates still equals itself."""
    return json.dumps({k: v for k, v in meta.items() if k not in NOT_THE_RUN}, sort_keys=True)


def read_json(path: Path) -> SweepResult:
    """A ``results.json`` back as the ``SweepResult`` that wrote it."""
    data = json.loads(path.read_text())
    results: dict[str, list[StageResult]] = {}
    for policy, stages in data["results"].items():
        results[policy] = []
        for stage in stages:
            fields = dict(stage)
            fraction, rate = fields.pop("fraction"), fields.pop("rate")
            predictor = fields.pop("predictor", {})
            results[policy].append(StageResult(fraction, rate, StageStats(**fields), predictor))
    return SweepResult(dict(data["meta"]), results)


class StagesDiffer(ValueError):
    """Two runs that ``merge`` refuses: their policies did not see the same arrivals."""


def merge(published: SweepResult, new: SweepResult) -> SweepResult:
    """``published`` with the policies of ``new`` replaced or added, so that a change to one
    policy re-runs that policy alone (``lookahead`` forks every engine at every arrival and
    is most of a matrix's hour). Only runs of the same stages merge (workload, pool, seed,
    probed capacity, stage lengths, rates): every policy must have seen the same arrivals."""
    if stages_key(published.meta) != stages_key(new.meta):
        old, now = published.meta, new.meta
        keys = sorted((old.keys() | now.keys()) - set(NOT_THE_RUN))
        differ = ", ".join(k for k in keys if json.dumps(old.get(k)) != json.dumps(now.get(k)))
        raise StagesDiffer(f"not the same stages as the published run: {differ} differ")
    runs = [*published.results.values(), *new.results.values()]
    if len({json.dumps([(s.fraction, s.rate) for s in stages]) for stages in runs}) > 1:
        raise StagesDiffer("not the same stages as the published run: the stage rates differ")
    names = list(published.meta["policies"])
    names += [p for p in new.meta["policies"] if p not in names]
    wall = published.meta.get("wall_seconds", 0.0) + new.meta.get("wall_seconds", 0.0)
    meta = {**published.meta, "policies": names, "wall_seconds": wall}
    return SweepResult(meta, {**published.results, **new.results})


def _series(stages: Sequence[StageResult], metric: str) -> list[float]:
    out: list[float] = []
    for st in stages:
        s = st.stats
        if metric == "throughput":
            out.append(s.output_tokens_per_s)
        else:
            dist: Mapping[str, float] = getattr(s, metric)
            out.append(dist["p90"])
    return out


def write_plots(result: SweepResult, directory: Path) -> list[Path]:
    """``latency_p90.png`` (TTFT, TPOT, e2e) and ``throughput.png``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    title = f"{result.meta['workload']}, {result.meta['pods']} pods"
    paths: list[Path] = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, metric, label in zip(
        axes,
        ("ttft", "tpot", "e2e"),
        ("TTFT p90 (s)", "TPOT p90 (s)", "end-to-end p90 (s)"),
        strict=True,
    ):
        for policy, stages in result.results.items():
            ax.plot([s.rate for s in stages], _series(stages, metric), marker="o", label=policy)
        ax.set_xlabel("offered rate (req/s)")
        ax.set_ylabel(label)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"p90 latency vs rate: {title}")
    fig.tight_layout()
    paths.append(directory / "latency_p90.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for policy, stages in result.results.items():
        ax.plot([s.rate for s in stages], _series(stages, "throughput"), marker="o", label=policy)
    ax.set_xlabel("offered rate (req/s)")
    ax.set_ylabel("output tokens/s")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"throughput vs rate: {title}")
    fig.tight_layout()
    paths.append(directory / "throughput.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths
