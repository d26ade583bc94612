"""Why an endpoint was chosen, cheaply: raw arrays are kept and summarised on demand.

``Explanation`` is the mapping stored in ``Decision.explanation``. Its keys are
``profile``, ``chosen``, ``candidates`` (after dropping stale endpoints), ``stale_dropped``,
``filters`` (``(name, in, out)`` per filter step, decision-tree steps included) and
``scores`` (the chosen endpoint, then the best others by total, each
``(name, total, {scorer: score})``), and ``predicted`` (for those same endpoints, what
plugins noted about them through ``framework.NOTES_KEY``, e.g. the latency predictor's
``{"ttft": s, "tpot": s}``). The score table is only sorted, and notes only rendered, when
someone reads them, so scheduling pays almost nothing for it.
``format_explanation`` renders it as one ASCII line under 1 KB for a response header.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.types import Decision

TOP_SCORES = 3
MAX_HEADER_BYTES = 1000


class Explanation(Mapping[str, object]):
    __slots__ = ("_base", "_endpoints", "_per_scorer", "_scores", "_totals")

    def __init__(
        self,
        base: dict[str, object],
        endpoints: Sequence[Endpoint] = (),
        totals: Sequence[float] = (),
        per_scorer: Sequence[tuple[str, Sequence[float]]] = (),
    ) -> None:
        self._base = base
        self._endpoints = endpoints
        self._totals = totals
        self._per_scorer = per_scorer
        self._scores: list[tuple[str, float, dict[str, float]]] | None = None

    def _top(self) -> list[tuple[str, float, dict[str, float]]]:
        if self._scores is None:
            totals = self._totals
            chosen = self._base.get("chosen")
            first = [i for i, e in enumerate(self._endpoints) if e.name == chosen][:1]
            rest = sorted(
                (i for i in range(len(totals)) if i not in first), key=lambda i: -totals[i]
            )
            order = (first + rest)[:TOP_SCORES]
            self._scores = [
                (
                    self._endpoints[i].name,
                    totals[i],
                    {name: scores[i] for name, scores in self._per_scorer},
                )
                for i in order
            ]
        return self._scores

    def _predicted(self) -> dict[str, dict[str, float]]:
        notes = self._base.get("notes")
        if not isinstance(notes, Mapping) or not notes:
            return {}
        out: dict[str, dict[str, float]] = {}
        by_name = {e.name: e for e in self._endpoints}
        names = [n for n, _, _ in self._top()] or [str(self._base.get("chosen"))]
        for name in names:
            endpoint = by_name.get(name)
            if endpoint is None:
                continue
            merged: dict[str, float] = {}
            for provider in notes.values():
                merged.update(provider(endpoint))
            if merged:
                out[name] = merged
        return out

    def __getitem__(self, key: str) -> object:
        if key == "scores":
            return self._top() if self._per_scorer else []
        if key == "predicted":
            return self._predicted()
        return self._base[key]

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self._base if k != "notes")
        yield "scores"
        yield "predicted"

    def __len__(self) -> int:
        return len(self._base) - ("notes" in self._base) + 2


def _ascii(text: object) -> str:
    return "".join(c if " " <= c <= "~" and c != ";" else "?" for c in str(text))


def format_explanation(decision: Decision) -> str:
    """``profile=p; pick=a; n=10; stale=0; filters=f:10>3,...; scores=a:4.20(q=1.00,...)|...``."""
    ex: Mapping[str, Any] = decision.explanation
    parts = [
        f"profile={_ascii(decision.profile)}",
        f"pick={_ascii(ex.get('chosen', decision.primary.name))}",
        f"n={ex.get('candidates', '?')}",
        f"stale={ex.get('stale_dropped', 0)}",
    ]
    steps = ex.get("filters") or []
    if steps:
        parts.append("filters=" + ",".join(f"{_ascii(n)}:{a}>{b}" for n, a, b in steps))
    scores = ex.get("scores") or []
    predicted: Mapping[str, Mapping[str, float]] = ex.get("predicted") or {}
    if scores:
        rendered = [
            f"{_ascii(name)}:{total:.2f}("
            + ",".join(f"{_ascii(s)}={v:.2f}" for s, v in per.items())
            + "".join(f",{_ascii(k)}={v * 1000:.0f}ms" for k, v in predicted.get(name, {}).items())
            + ")"
            for name, total, per in scores
        ]
        parts.append("scores=" + "|".join(rendered))
    line = "; ".join(parts)
    if len(line) > MAX_HEADER_BYTES:
        line = line[: MAX_HEADER_BYTES - 3] + "..."
    return line
