"""The ``service`` baseline: a Kubernetes Service (kube-proxy) in front of the pods.

kube-proxy balances connections, not requests: a client's keep-alive connection is sent to
a random pod when it opens, and every request on it goes to that pod. The client here
keeps ``CONNECTIONS_PER_POD`` connections per pod open and sends requests on them in turn
(an HTTP/1.1 pool without pipelining), so a pod that drew more connections gets more
requests however busy it is. Upstream's published charts compare against this baseline;
our per-request ``round-robin`` is kinder than it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.types import Decision, LLMRequest, NoEndpointsError

CONNECTIONS_PER_POD = 2
"""A client pool of twice as many connections as pods, the size at which a Service's
imbalance is typical without every pod being hit by exactly the same number."""


class ConnectionScheduler:
    """Implements ``scheduling.types.Scheduler`` by connection pinning."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pinned: list[str] = []
        self.turn = 0

    def schedule(self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float) -> Decision:
        if not endpoints:
            raise NoEndpointsError()
        if not self.pinned:
            count = CONNECTIONS_PER_POD * len(endpoints)
            self.pinned = [endpoints[self.rng.randrange(len(endpoints))].name for _ in range(count)]
        name = self.pinned[self.turn % len(self.pinned)]
        self.turn += 1
        for e in endpoints:
            if e.name == name:
                return Decision((e,), profile="service")
        raise NoEndpointsError()
