"""Turning outcomes into the demo's verdict: numbers per policy, a table, a paragraph.

``summarize`` gives a plain JSON-able dict per run (the tests and ``--json`` read it);
``summary_table`` lays runs side by side; ``reading`` says in one paragraph what the
numbers mean. Latencies are over answered requests; TTFT only over streamed ones, since a
non-streamed answer arrives all at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from inference_gateway.demo.load import Outcome
from inference_gateway.demo.settings import POD_NAMES, SLOW_POD
from inference_gateway.demo.world import MODELS

CRITICALITIES = ("Critical", "Standard", "Sheddable")
QUANTILES = (50, 90, 99)
LABELS = {
    "default": "EPP (criticality tree)",
    "scorer-mix": "EPP (scorer mix + flow control)",
    "round-robin": "round-robin",
}


@dataclass(frozen=True, slots=True)
class RunResult:
    policy: str
    outcomes: list[Outcome]
    targets: Mapping[tuple[str, str], int]
    """(model, target model) -> requests the EPP routed there."""
    seconds: float
    """Wall time from the first request to the last answer."""


def percentiles_ms(values: Sequence[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for q in QUANTILES:
        value = ordered[min(len(ordered) - 1, len(ordered) * q // 100)] if ordered else None
        out[f"p{q}"] = None if value is None else round(value * 1000, 1)
    return out


def summarize(run: RunResult) -> dict[str, Any]:
    outs = run.outcomes
    ok = [o for o in outs if o.ok]
    per_pod = Counter(o.pod for o in ok if o.pod is not None)
    shed = Counter(o.criticality for o in outs if o.shed)
    e2e_by = {
        c: percentiles_ms([o.e2e for o in ok if o.criticality == c and o.e2e is not None])
        for c in CRITICALITIES
    }
    return {
        "policy": run.policy,
        "requests": len(outs),
        "ok": len(ok),
        "errors": sum(1 for o in outs if not o.ok and not o.shed and not o.late),
        "unfinished": sum(1 for o in outs if o.late),
        "shed": {c: shed[c] for c in CRITICALITIES},
        "per_pod": {p: per_pod[p] for p in POD_NAMES},
        "per_target": {f"{m} -> {t}": n for (m, t), n in sorted(run.targets.items())},
        "ttft_ms": percentiles_ms([o.ttft for o in ok if o.ttft is not None]),
        "e2e_ms": percentiles_ms([o.e2e for o in ok if o.e2e is not None]),
        "e2e_ms_by_criticality": e2e_by,
        "ttft_ms_by_criticality": {
            c: percentiles_ms([o.ttft for o in ok if o.criticality == c and o.ttft is not None])
            for c in CRITICALITIES
        },
        "answers_per_second": round(len(ok) / run.seconds, 1) if run.seconds else 0.0,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def summary_table(summaries: Sequence[Mapping[str, Any]]) -> Table:
    title = "Same requests, same seed" if len(summaries) > 1 else "Summary"
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for s in summaries:
        table.add_column(LABELS.get(s["policy"], s["policy"]), justify="right")

    def row(label: str, cell: Any, *, style: str | None = None) -> None:
        table.add_row(label, *(str(cell(s)) for s in summaries), style=style)

    def section(title: str) -> None:
        table.add_row(f"[bold]{title}[/]", *("" for _ in summaries))

    row("requests sent", lambda s: s["requests"])
    row("answered 200", lambda s: s["ok"])
    row("answers / s (whole run)", lambda s: s["answers_per_second"])
    row("errors", lambda s: s["errors"])
    row("unanswered at the end", lambda s: s["unfinished"])
    section("served by pod")
    for pod in POD_NAMES:
        label = f"  {pod}" + (" (slow)" if pod == SLOW_POD else "")
        row(label, lambda s, p=pod: _share(s["per_pod"][p], s["ok"]))
    section("routed to target model")
    keys = sorted({k for s in summaries for k in s["per_target"]}, key=_model_order)
    for key in keys:
        row(f"  {_short(key)}", lambda s, k=key: s["per_target"].get(k, 0))
    section("shed (429) by criticality")
    for crit in CRITICALITIES:
        row(f"  {crit}", lambda s, c=crit: s["shed"][c])
    section("latency of answered requests")
    for q in QUANTILES:
        row(f"  TTFT p{q} (streamed)", lambda s, q=q: _ms(s["ttft_ms"][f"p{q}"]))
    for q in QUANTILES:
        row(f"  end-to-end p{q}", lambda s, q=q: _ms(s["e2e_ms"][f"p{q}"]))
    for crit in CRITICALITIES:
        row(f"  {crit} p90", lambda s, c=crit: _ms(s["e2e_ms_by_criticality"][c]["p90"]))
    for crit in CRITICALITIES:
        row(f"  {crit} TTFT p90", lambda s, c=crit: _ms(s["ttft_ms_by_criticality"][c]["p90"]))
    return table


def _short(key: str) -> str:
    """``batch -> meta-llama/Llama-3.1-8B-Instruct`` as ``batch → Llama-3.1-8B-Instruct``."""
    model, _, target = key.partition(" -> ")
    if model == target:
        return f"{model.split('/')[-1]} (as named)"
    return f"{model.split('/')[-1]} → {target.split('/')[-1]}"


def _share(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.0f}%)" if total else str(n)


def _model_order(key: str) -> tuple[int, str]:
    names = [m.name for m in MODELS]
    model = key.split(" -> ")[0]
    return (names.index(model) if model in names else len(names), key)


def reading(summaries: Sequence[Mapping[str, Any]]) -> str:
    """One paragraph in plain English on what the table shows."""
    epp = summaries[0]
    parts = [_split_sentence(epp), _shed_sentence(epp), _priority_sentence(epp)]
    if len(summaries) > 1:
        parts.append(_compare_sentence(epp, summaries[1]))
    return " ".join(p for p in parts if p)


def _slow_share(s: Mapping[str, Any]) -> float:
    return 100 * s["per_pod"][SLOW_POD] / s["ok"] if s["ok"] else 0.0


def _split_sentence(s: Mapping[str, Any]) -> str:
    v1 = s["per_target"].get("support -> sql-lora-v1", 0)
    v2 = s["per_target"].get("support -> sql-lora-v2", 0)
    if not v1 + v2:
        return ""
    return (
        f"The 'support' model was rolled out 90/10: the gateway sent {v1} requests to "
        f"sql-lora-v1 and {v2} to sql-lora-v2 ({100 * v2 / (v1 + v2):.0f}% to the new version; "
        f"each request draws its target, so the share wanders around 10%)."
    )


def _shed_sentence(s: Mapping[str, Any]) -> str:
    shed = s["shed"]
    if not any(shed.values()):
        return (
            "The pool never saturated, so nothing was shed "
            "(raise --rate to see Sheddable traffic refused)."
        )
    return (
        f"When every pod's queue was past the saturation threshold, the gateway answered "
        f"{shed['Sheddable']} Sheddable 'batch' requests with 429 at once instead of queueing "
        f"them, while Critical traffic was never shed ({shed['Critical']}) "
        f"and Standard traffic shed {shed['Standard']}."
    )


def _priority_sentence(s: Mapping[str, Any]) -> str:
    crit = s["ttft_ms_by_criticality"]["Critical"]["p90"]
    std = s["ttft_ms_by_criticality"]["Standard"]["p90"]
    if crit is None or std is None:
        return ""
    return (
        f"With flow control on, requests that found every pod busy during the burst waited "
        f"in the gateway, and Critical ones left that queue first: streamed Critical answers "
        f"began within {crit:,.0f} ms (TTFT p90) against {std:,.0f} ms for Standard."
    )


def _compare_sentence(epp: Mapping[str, Any], rr: Mapping[str, Any]) -> str:
    crit_epp = epp["e2e_ms_by_criticality"]["Critical"]["p90"]
    crit_rr = rr["e2e_ms_by_criticality"]["Critical"]["p90"]
    latency = ""
    if crit_epp is not None and crit_rr is not None:
        latency = (
            f" Critical chat requests finished within {crit_epp:,.0f} ms (p90) with the "
            f"endpoint picker against {crit_rr:,.0f} ms with round-robin."
        )
    unfinished = ""
    if rr["unfinished"] > epp["unfinished"]:
        unfinished = (
            f" Round-robin also left {rr['unfinished']} requests queued behind the slow pod "
            f"when the run ended (the endpoint picker: {epp['unfinished']})."
        )
    return (
        f"Round-robin ignores load and gave the slow {SLOW_POD} {_slow_share(rr):.0f}% of "
        f"the answered requests; the endpoint picker, which reads each pod's queue, gave it "
        f"{_slow_share(epp):.0f}%.{latency}{unfinished}"
    )
