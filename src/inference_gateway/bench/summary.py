"""One policy judged across many ``bench policies`` runs (workloads x speeds x seeds).

For every stage of every run: the policy's p90 end-to-end latency over the best policy's
at that stage (``lookahead`` and ``oracle:tuned`` included) and over the best upstream
config's (``default``, ``scorer-mix``), against the goals of 1.10 and 1.03; then the
latency predictor's median absolute errors by workload. Reads the ``results.json`` files,
so a summary can be rebuilt without rerunning anything.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference_gateway.bench.report import stages_key

UPSTREAM = ("default", "scorer-mix")
BEST_GOAL = 1.10
UPSTREAM_GOAL = 1.03


def load(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Parsed ``results.json`` files; a directory stands for its ``results.json`` and is
    skipped while it has none (a run still in progress). Runs of the same stages (same
    workload, pool, seed, capacity and stage lengths: each (policy, stage) sees the same
    arrivals) are merged into one, so policies run later are judged against those
    published before."""
    merged: dict[str, dict[str, Any]] = {}
    for path in paths:
        file = path / "results.json" if path.is_dir() else path
        if path.is_dir() and not file.exists():
            continue
        run = json.loads(file.read_text())
        key = stages_key(run["meta"])
        if key in merged:
            merged[key]["results"].update(run["results"])
        else:
            merged[key] = {"meta": dict(run["meta"]), "results": dict(run["results"])}
    return list(merged.values())


def _p90(stage: dict[str, Any]) -> float:
    value = float(stage["e2e"]["p90"])
    return value if math.isfinite(value) else math.inf


def _pool(meta: dict[str, Any]) -> str:
    slow = int(meta.get("slow_pods", 1 if meta.get("heterogeneous") else 0) or 0)
    if not meta.get("heterogeneous") or not slow:
        return "homogeneous"
    return f"{slow} x {meta['slow_factor']:g}x slower"


def rows(runs: Sequence[dict[str, Any]], policy: str) -> list[dict[str, Any]]:
    """One row per stage of every run that has ``policy``."""
    out = []
    for run in runs:
        results: dict[str, list[dict[str, Any]]] = run["results"]
        if policy not in results:
            continue
        meta = run["meta"]
        for i, stage in enumerate(results[policy]):
            values = {p: _p90(s[i]) for p, s in results.items() if i < len(s)}
            best = min(values, key=values.__getitem__)
            upstream = [values[p] for p in UPSTREAM if p in values]
            mine = values[policy]
            out.append(
                {
                    "workload": meta["workload"],
                    "pool": _pool(meta),
                    "seed": meta["seed"],
                    "load": stage["fraction"],
                    "p90": mine,
                    "best": best,
                    "vs_best": mine / values[best],
                    "vs_upstream": mine / min(upstream) if upstream else math.nan,
                }
            )
    return out


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def stage_table(table: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| workload | pool | seed | load | p90 e2e (s) | best | vs best | vs upstream |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        flag_best = "" if r["vs_best"] <= BEST_GOAL else " **x**"
        flag_up = "" if not r["vs_upstream"] > UPSTREAM_GOAL else " **x**"
        lines.append(
            f"| {r['workload']} | {r['pool']} | {r['seed']} | {r['load']:.0%} | {r['p90']:.2f} "
            f"| {r['best']} | {_fmt(r['vs_best'])}{flag_best} "
            f"| {_fmt(r['vs_upstream'])}{flag_up} |"
        )
    return "\n".join(lines)


COMPARED = ("predicted", "tuned", "scorer-mix", "default", "least-request", "oracle:tuned",
            "lookahead")  # fmt: skip


def worst_table(runs: Sequence[dict[str, Any]], policies: Sequence[str] = COMPARED) -> str:
    """Per run, each policy's worst p90 e2e over the best policy's across its stages."""
    shown = [p for p in policies if any(p in r["results"] for r in runs)]
    lines = [
        f"| workload | pool | seed | {' | '.join(shown)} |",
        "|---|---|---|" + "---|" * len(shown),
    ]
    for run in runs:
        meta = run["meta"]
        cells = []
        for policy in shown:
            got = rows([run], policy)
            cells.append(_fmt(max(r["vs_best"] for r in got)) if got else "-")
        lines.append(
            f"| {meta['workload']} | {_pool(meta)} | {meta['seed']} | {' | '.join(cells)} |"
        )
    return "\n".join(lines)


def accuracy_table(runs: Sequence[dict[str, Any]], policy: str) -> str:
    """Per workload, the medians over stages of the per-stage median absolute errors."""
    by: dict[str, list[dict[str, float]]] = defaultdict(list)
    for run in runs:
        for stage in run["results"].get(policy, []):
            if stage.get("predictor"):
                by[run["meta"]["workload"]].append(stage["predictor"])
    if not by:
        return ""
    lines = [
        "| workload | stages | TTFT abs err (ms) | TTFT (ms) | TPOT abs err (ms) | TPOT (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for workload, accs in sorted(by.items()):

        def med(key: str, accs: list[dict[str, float]] = accs) -> str:
            vals = [a[key] for a in accs if key in a]
            return f"{1000 * statistics.median(vals):.1f}" if vals else "-"

        lines.append(
            f"| {workload} | {len(accs)} | {med('ttft_mae')} | {med('ttft_median')} "
            f"| {med('tpot_mae')} | {med('tpot_median')} |"
        )
    return "\n".join(lines)


def write_plot(runs: Sequence[dict[str, Any]], policies: Sequence[str], path: Path) -> None:
    """One dot per stage and policy: p90 e2e over the best policy's, by run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['meta']['workload']}\n{_pool(r['meta'])}, s{r['meta']['seed']}" for r in runs]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.55 * len(runs)), 4.8))
    for k, policy in enumerate(policies):
        xs: list[float] = []
        ys: list[float] = []
        for i, r in enumerate(runs):
            for row in rows([r], policy):
                xs.append(i + (k - (len(policies) - 1) / 2) * 0.12)
                ys.append(row["vs_best"])
        ax.scatter(xs, ys, s=14, label=policy)
    ax.axhline(BEST_GOAL, color="grey", linestyle="--", linewidth=0.8)
    ax.set_ylim(bottom=0.95)
    ax.set_ylabel("p90 e2e / best policy's (per stage)")
    ax.set_xticks(range(len(runs)), labels, rotation=90, fontsize=7)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def document(runs: Sequence[dict[str, Any]], policy: str) -> str:
    table = rows(runs, policy)
    within = sum(1 for r in table if r["vs_best"] <= BEST_GOAL)
    upstream_ok = sum(1 for r in table if not r["vs_upstream"] > UPSTREAM_GOAL)
    worst_best = max((r["vs_best"] for r in table), default=math.nan)
    worst_up = max((r["vs_upstream"] for r in table), default=math.nan)
    parts = [
        f"`{policy}` over {len(table)} stages: within {BEST_GOAL:.2f}x of the best policy at "
        f"{within} (worst {_fmt(worst_best)}x); within {UPSTREAM_GOAL:.2f}x of the best "
        f"upstream config at {upstream_ok} (worst {_fmt(worst_up)}x). **x** marks a miss.",
        "",
        "Worst stage of each run, per policy (p90 e2e / the best policy's at that stage):",
        "",
        worst_table(runs, list(dict.fromkeys((policy, *COMPARED)))),
        "",
        f"Every stage, `{policy}`:",
        "",
        stage_table(table),
    ]
    accuracy = accuracy_table(runs, policy)
    if accuracy:
        parts += ["", "Predictor accuracy (median absolute error per request):", "", accuracy]
    return "\n".join(parts) + "\n"
