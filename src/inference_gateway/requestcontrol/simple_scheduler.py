"""A least-in-flight scheduler: the fallback when no plugin scheduler is configured.

It needs no model-server metrics at all, only the EPP's own in-flight counts, which are
never stale; ties go to the lexically first endpoint name so tests are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

from inference_gateway.datastore import Endpoint
from inference_gateway.scheduling.types import Decision, LLMRequest, NoEndpointsError


class LeastInFlightScheduler:
    TYPE = "least-in-flight"

    def schedule(self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float) -> Decision:
        if not endpoints:
            raise NoEndpointsError("no candidate endpoints")
        best = min(endpoints, key=lambda e: (e.in_flight, e.name))
        return Decision(
            endpoints=(best,),
            profile=self.TYPE,
            explanation={"picker": self.TYPE, "in_flight": best.in_flight},
        )
