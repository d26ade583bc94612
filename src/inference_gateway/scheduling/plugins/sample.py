"""``candidate-sample-filter`` (our own type): score a bounded sample of a big pool.

Every scorer costs time per candidate, so a pick over the whole pool grows with it:
``predicted`` took 3.3 ms of CPU a pick at 5,000 pods. Choosing among a uniform random
sample of d pods balances load almost as well as scanning all of them (the power of d
choices), but a uniform sample would drop what the affine scorers exist for: the few pods
that hold this prompt's prefix or run this request's LoRA adapter. So the sample takes
those first (the longest prefix holders, then pods running the adapter, each at most a
quarter of the sample, chosen at random among equals) and fills the rest with a uniform
draw from the pool. A pool no bigger than ``size`` passes whole, so decisions on it are
the full scan's.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence

from pydantic import BaseModel, Field

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, Plugin, PluginHandle
from inference_gateway.scheduling.types import LLMRequest


class SampleParams(Params):
    size: int = Field(default=128, ge=4)
    """Candidates kept when the pool has more."""
    prefixScorer: str | None = None
    """Name of a ``prefix-cache-scorer`` whose index names the prefix holders to keep."""

    def plugin_refs(self) -> Iterator[tuple[str, str]]:
        if self.prefixScorer is not None:
            yield "prefixScorer", self.prefixScorer


class CandidateSampleFilter(Plugin):
    TYPE = "candidate-sample-filter"
    Params = SampleParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, SampleParams)
        self.size = params.size
        self.rng: random.Random = handle.rng
        self._prefix = handle.plugin(params.prefixScorer) if params.prefixScorer else None

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        size = self.size
        if len(endpoints) <= size:
            return list(endpoints)
        quarter = size // 4
        shares: Mapping[str, float] = {}
        shares_of = getattr(self._prefix, "shares", None)
        if shares_of is not None:
            shares = shares_of(request, cycle_state)
        target = request.target_model
        # One pass over the pool: this scan and the draw are the filter's only cost in n.
        if shares:
            affine = [
                e for e in endpoints if e.name in shares or target in e.metrics.running_adapters
            ]
            kept = self._longest([e for e in affine if e.name in shares], shares, quarter)
            running = [e for e in affine if target in e.metrics.running_adapters]
        else:
            kept = []
            running = [e for e in endpoints if target in e.metrics.running_adapters]
        if len(running) > quarter:
            running = self.rng.sample(running, quarter)
        taken = {id(e) for e in kept}
        kept += [e for e in running if id(e) not in taken]
        taken.update(id(e) for e in running)
        for e in self.rng.sample(endpoints, size):
            if len(kept) >= size:
                break
            if id(e) not in taken:
                kept.append(e)
        return kept

    def _longest(
        self, holders: list[Endpoint], shares: Mapping[str, float], count: int
    ) -> list[Endpoint]:
        """Up to ``count`` of ``holders`` with the longest prefixes, random among equals."""
        if len(holders) <= count:
            return holders
        self.rng.shuffle(holders)
        holders.sort(key=lambda e: shares[e.name], reverse=True)
        return holders[:count]
