"""What a plugin implements to learn from responses: ``ResponseObserver``.

Scheduling is pure and never sees a response itself; whoever streams responses (the
Director in the gateway, the harness in virtual time) calls ``observe_response`` on every
configured plugin that implements it, with what it measured. Latencies are in seconds on
the caller's clock; a value the caller could not measure is ``None`` (no first token, a
one-token completion, no usage block).

A request may be reported more than once, so that a slow pod is learned from while its
first responses are still streaming (a 1,000-token answer from a slow pod takes minutes):
``final=False`` with ``ttft`` at the first token; optionally ``final=False`` with ``tpot``
so far and ``completion_tokens`` so far while streaming; always once with ``final=True``
when the request ends (``ttft`` may be repeated there; a plugin counts it once). A request
that failed, was refused, never streamed or was moved to another endpoint by the proxy
still gets that final report, with nothing measured, so that a plugin can let go of what
it holds for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

TTFT_SLO_HEADER = "x-slo-ttft-ms"
TPOT_SLO_HEADER = "x-slo-tpot-ms"
"""Per-request latency objectives in milliseconds (upstream's SLO-aware routing names)."""
LLM_D_TTFT_SLO_HEADER = "x-llm-d-slo-ttft-ms"
LLM_D_TPOT_SLO_HEADER = "x-llm-d-slo-tpot-ms"
"""llm-d's names for the same objectives, read first when present, as llm-d's router does
(it keeps upstream's as deprecated aliases)."""


def slo_seconds(headers: Mapping[str, str], name: str) -> float | None:
    """The objective in header ``name`` in seconds; None when absent, garbage, infinite or
    not > 0 (an infinite objective would be met by every pod and poison the scorers'
    arithmetic)."""
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw) / 1000.0
    except ValueError:
        return None
    return value if 0.0 < value < math.inf else None


def objectives(headers: Mapping[str, str] | None) -> tuple[float | None, float | None]:
    """The request's (TTFT, TPOT) objectives in seconds, each None when not given."""
    if not headers:
        return None, None
    ttft = slo_seconds(headers, LLM_D_TTFT_SLO_HEADER) if LLM_D_TTFT_SLO_HEADER in headers else None
    tpot = slo_seconds(headers, LLM_D_TPOT_SLO_HEADER) if LLM_D_TPOT_SLO_HEADER in headers else None
    return (
        ttft if ttft is not None else slo_seconds(headers, TTFT_SLO_HEADER),
        tpot if tpot is not None else slo_seconds(headers, TPOT_SLO_HEADER),
    )


@runtime_checkable
class ResponseObserver(Protocol):
    name: str

    def observe_response(
        self,
        request_id: str,
        endpoint_name: str,
        *,
        ttft: float | None,
        tpot: float | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        now: float,
        final: bool = True,
    ) -> None:
        """``ttft`` from request start to the first body chunk; ``tpot`` = (latest chunk -
        first chunk) / (completion_tokens - 1); ``final`` on the last report."""
        ...


@runtime_checkable
class Predictor(Protocol):
    """A plugin that can say what it predicted for a request it picked a pod for."""

    def prediction(self, request_id: str) -> tuple[float, float] | None:
        """(TTFT, TPOT) predicted on the picked pod, while the request is still pending."""
        ...


def first_predictor(plugins: Iterable[object]) -> Predictor | None:
    """The first ``Predictor`` among ``plugins``, whose predictions the metrics report."""
    return next((p for p in plugins if isinstance(p, Predictor)), None)


def observers(plugins: Iterable[object]) -> list[ResponseObserver]:
    """The distinct ``ResponseObserver``s among ``plugins`` (an iterable), in order."""
    seen: set[int] = set()
    out: list[ResponseObserver] = []
    for plugin in plugins:
        if isinstance(plugin, ResponseObserver) and id(plugin) not in seen:
            seen.add(id(plugin))
            out.append(plugin)
    return out
