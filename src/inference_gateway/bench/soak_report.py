"""``bench soak`` output: the console report with its verdicts, the JSON record and the RSS plot.

Apart from ``soak`` so that the run (processes, sampling) and how its result is presented
change separately.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from inference_gateway.bench.soak import GOAL_GROWTH_PCT, GOAL_MINUTES, WARMUP_SHARE, SoakResult


def print_report(result: SoakResult, console: Console | None = None) -> None:
    """RSS over time, request counts and the verdict against the goals."""
    console = console or Console()
    table = Table(title=f"bench soak: EPP process RSS ({result.minutes:g} min, {result.policy})")
    for column in ("t (min)", "RSS (MB)", "Python blocks", "Envoy heap (MB)", "completed"):
        table.add_column(column, justify="right")
    step = max(1, len(result.samples) // 20)
    shown = result.samples[::step]
    if result.samples and shown[-1] is not result.samples[-1]:
        shown.append(result.samples[-1])
    for s in shown:
        heap = "-" if s.envoy_heap_mb is None else f"{s.envoy_heap_mb:.1f}"
        blocks = "-" if s.py_blocks is None else f"{s.py_blocks:,}"
        table.add_row(f"{s.seconds / 60:.2f}", f"{s.rss_mb:.1f}", blocks, heap, str(s.completed))
    console.print(table)
    rate = result.sent / result.wall_seconds if result.wall_seconds else 0.0
    console.print(
        f"requests: sent {result.sent}, succeeded {result.succeeded}, "
        f"failed {result.failed_total} {dict(sorted(result.failed.items())) or ''} "
        f"({rate:.1f} req/s); mix {dict(sorted(result.by_kind.items()))}"
    )
    for line in verdict_lines(result):
        console.print(line)
    if result.allocation_growth:
        console.print("Python allocations that grew most after warm-up (tracemalloc):")
        for line in result.allocation_growth:
            console.print(f"  {line}")


def verdict_lines(result: SoakResult) -> list[str]:
    growth, slope = result.growth_pct, result.slope_mb_per_min
    projected, extrapolated = result.growth_30min_pct
    after = result.post_warmup
    lines = []
    if growth is not None and after:
        lines.append(
            f"memory: {after[0].rss_mb:.1f} MB after warm-up (first 10%) -> "
            f"{after[-1].rss_mb:.1f} MB at the end: {growth:+.2f}%"
            + ("" if slope is None else f", slope {slope:+.3f} MB/min")
        )
    flat = result.memory_flat
    how = "extrapolated from the slope" if extrapolated else "measured"
    if flat is None:
        lines.append("verdict memory: not enough samples")
    else:
        assert projected is not None
        word = "PASS" if flat else "FAIL"
        lines.append(
            f"verdict memory: {word} ({projected:.2f}% over {GOAL_MINUTES:g} min, {how}; "
            f"goal <= {GOAL_GROWTH_PCT:g}%)"
        )
    word = "PASS" if result.failed_total == 0 and result.sent > 0 else "FAIL"
    lines.append(f"verdict failures: {word} ({result.failed_total} failed of {result.sent})")
    return lines


def write_json(result: SoakResult, path: Path) -> None:
    data = asdict(result)
    projected, extrapolated = result.growth_30min_pct
    data.update(
        growth_pct=result.growth_pct,
        slope_mb_per_min=result.slope_mb_per_min,
        growth_30min_pct=projected,
        growth_30min_extrapolated=extrapolated,
        memory_flat=result.memory_flat,
    )
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_plot(result: SoakResult, path: Path) -> Path:
    """RSS (and Envoy heap) over time as a PNG, warm-up shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [s.seconds / 60 for s in result.samples]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(xs, [s.rss_mb for s in result.samples], label="EPP process RSS")
    heaps = [s.envoy_heap_mb for s in result.samples if s.envoy_heap_mb is not None]
    if len(heaps) == len(xs):
        ax.plot(xs, heaps, label="Envoy heap (allocated)")
    if xs:
        ax.axvspan(0, xs[-1] * WARMUP_SHARE, alpha=0.15, color="grey", label="warm-up")
    ax.set_xlabel("minutes")
    ax.set_ylabel("MB")
    ax.set_ylim(bottom=0)
    ax.set_title(f"bench soak: {result.sent} requests, {result.failed_total} failed")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["print_report", "verdict_lines", "write_json", "write_plot"]
