"""Passive health (outlier detection): avoid endpoints that keep failing requests.

The director records each finished request's outcome in the datastore, so every
``Endpoint`` carries its run of consecutive failures and the time of the latest one. This
filter turns that into ejections: ``consecutiveFailures`` in a row eject the endpoint for
``ejectionSeconds`` from its latest failure. When the time is up the endpoint takes traffic
again (half-open): one success resets its count and clears it, while a failure after the
window ejects it again for twice as long as before, up to ``maxEjectionSeconds``. Failures
of requests already in flight when it was ejected land inside the window and do not count
as a failed retry, so a burst of concurrent failures does not escalate the backoff.

If every candidate is ejected, all are kept: a degraded pool still beats a dead one. The
filter keeps only its per-endpoint ejection rounds (time comes from the cycle's ``now``),
so the same instance gives the same answers in the servers and in virtual time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field, model_validator

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import (
    NOW_KEY,
    CycleState,
    Params,
    Plugin,
    PluginHandle,
)
from inference_gateway.scheduling.types import LLMRequest

_MAX_ROUNDS = 30
_PRUNE_ABOVE = 1024


class HealthParams(Params):
    consecutiveFailures: int = Field(default=3, ge=1)
    """Failures in a row (5xx or a broken connection) that eject an endpoint."""
    ejectionSeconds: float = Field(default=5.0, gt=0)
    """First ejection's length, counted from the latest failure."""
    maxEjectionSeconds: float = Field(default=60.0, gt=0)
    """Cap of the doubling on each failed retry."""

    @model_validator(mode="after")
    def _ordered(self) -> HealthParams:
        if self.maxEjectionSeconds < self.ejectionSeconds:
            raise ValueError("maxEjectionSeconds must be >= ejectionSeconds")
        return self


@dataclass(frozen=True, slots=True)
class _Ejection:
    failures: int
    until: float
    rounds: int


class HealthyEndpointFilter(Plugin):
    TYPE = "healthy-endpoint-filter"
    Params = HealthParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, HealthParams)
        self.threshold = params.consecutiveFailures
        self.base = params.ejectionSeconds
        self.cap = params.maxEjectionSeconds
        self._ejections: dict[str, _Ejection] = {}

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        now = cycle_state.get(NOW_KEY)
        if not isinstance(now, float | int):
            return list(endpoints)
        if not self._ejections and (
            max([e.consecutive_failures for e in endpoints], default=0) < self.threshold
        ):
            return list(endpoints)  # nobody failing and nobody ejected: the common case
        kept = [e for e in endpoints if not self.ejected(e, float(now))]
        if len(self._ejections) > _PRUNE_ABOVE:
            self._prune(float(now))
        return kept if kept else list(endpoints)

    def ejected(self, endpoint: Endpoint, now: float) -> bool:
        """Whether ``endpoint`` is ejected at ``now`` (updating its ejection rounds)."""
        failures = endpoint.consecutive_failures
        if failures < self.threshold:
            if self._ejections:
                self._ejections.pop(endpoint.hostport, None)
            return False
        key = endpoint.hostport
        last = endpoint.last_failure_at
        old = self._ejections.get(key)
        if old is None or failures < old.failures:
            new = _Ejection(failures, last + self.base, 0)
        elif last >= old.until:
            rounds = min(old.rounds + 1, _MAX_ROUNDS)
            new = _Ejection(failures, last + min(self.base * 2**rounds, self.cap), rounds)
        else:
            new = _Ejection(failures, old.until, old.rounds)
        self._ejections[key] = new
        return now < new.until

    def _prune(self, now: float) -> None:
        """Forget endpoints unseen for long (pods that left); bounds the table."""
        horizon = now - 2 * self.cap
        for key in [k for k, e in self._ejections.items() if e.until < horizon]:
            del self._ejections[key]
