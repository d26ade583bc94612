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

Finding the affine pods is the one part that grows with the pool. A list (the harness, a
narrowed subset) is scanned at every pick, in one comprehension. The datastore's published
view is a tuple, the same object until the pool's membership changes, with each endpoint's
fields updated in place; for it the filter keeps an index (name -> endpoint, adapter ->
pods running it), rebuilt when another tuple comes and its adapters re-read every
``_REFRESH`` seconds, so a pick looks up only the holders. A pod that loaded the adapter
since then is missed until the next refresh (it may still be drawn); one that unloaded it is
checked and dropped. At 5,000 pods the scan was half of a pick.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence

from pydantic import BaseModel, Field

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import (
    NOW_KEY,
    CycleState,
    Params,
    Plugin,
    PluginHandle,
)
from inference_gateway.scheduling.types import LLMRequest

_REFRESH = 0.1
"""Seconds an index's adapter holders are trusted: two of upstream's 50 ms scrapes."""


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
        self._index: _PoolIndex | None = None

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
        now = cycle_state.get(NOW_KEY)
        if isinstance(endpoints, tuple) and isinstance(now, float | int):
            index = self._indexed(endpoints, float(now))
            by_name = index.by_name
            holders = [e for name in shares if (e := by_name.get(name)) is not None]
            kept = self._longest(holders, shares, quarter) if holders else []
            running = [
                e for e in index.by_adapter.get(target, ()) if target in e.metrics.running_adapters
            ]
        elif shares:  # one pass over the pool for both kinds of affine pod
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

    def _indexed(self, pool: tuple[Endpoint, ...], now: float) -> _PoolIndex:
        index = self._index
        if index is None or index.pool is not pool:
            index = self._index = _PoolIndex(pool, now)
        elif not 0.0 <= now - index.read_at < _REFRESH:
            index.read_adapters(now)
        return index

    def _longest(
        self, holders: list[Endpoint], shares: Mapping[str, float], count: int
    ) -> list[Endpoint]:
        """Up to ``count`` of ``holders`` with the longest prefixes, random among equals."""
        if len(holders) <= count:
            return holders
        self.rng.shuffle(holders)
        holders.sort(key=lambda e: shares[e.name], reverse=True)
        return holders[:count]


class _PoolIndex:
    """One published pool view's endpoints by name, and by the adapters they ran when last
    read."""

    __slots__ = ("by_adapter", "by_name", "pool", "read_at")

    def __init__(self, pool: tuple[Endpoint, ...], now: float) -> None:
        self.pool = pool
        self.by_name = {e.name: e for e in pool}
        self.by_adapter: dict[str, list[Endpoint]] = {}
        self.read_at = now
        self.read_adapters(now)

    def read_adapters(self, now: float) -> None:
        by_adapter: dict[str, list[Endpoint]] = {}
        for e in self.pool:
            for adapter in e.metrics.running_adapters:
                holders = by_adapter.get(adapter)
                if holders is None:
                    by_adapter[adapter] = [e]
                else:
                    holders.append(e)
        self.by_adapter, self.read_at = by_adapter, now
