"""Requests without a body, and so without a model: probes, other GETs, ``GET /v1/models``.

``GET /v1/models`` and ``/v1/models/{id}`` are answered from the datastore
(``models_list``): the names clients may use, not one pod's names. Anything else goes to a
ready endpoint of the pool, as upstream; with no model there is nothing to rewrite or
meter, so only the in-flight count is kept. No scheduler runs, so passive health is
applied here: endpoints on a failing streak are skipped unless all of them are.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from inference_gateway.datastore import Datastore, Endpoint, PoolInfo
from inference_gateway.requestcontrol import errors
from inference_gateway.requestcontrol.models_list import models_answer
from inference_gateway.requestcontrol.resolve import in_subset
from inference_gateway.requestcontrol.routed import ResponsePolicy, Routed
from inference_gateway.requestcontrol.types import IncomingRequest

FAILURE_LIMIT = 3
"""Consecutive failures that take an endpoint out (the default profile's ejection threshold)."""


def route_bodiless(
    request: IncomingRequest,
    datastore: Datastore,
    policy: ResponsePolicy,
    *,
    pool: PoolInfo | None,
    request_id: str,
    subset_filter: bool,
    rng: random.Random,
) -> Routed:
    """The gateway's own answer, or a ready endpoint of ``pool`` (the route's, else the
    first pool by key) holding an in-flight slot."""
    started = policy.clock()
    pool_key = pool.key if pool is not None else None
    answer = models_answer(datastore, request.headers, now=time.time(), pool_key=pool_key)
    if answer is not None:
        routed = Routed(
            policy,
            request_id=request_id,
            model="",
            target_model="",
            endpoints=(),
            body=None,
            answer=answer,
            metered=False,
            started_at=started,
        )
        routed.finish()
        return routed
    pools = [pool] if pool is not None else sorted(datastore.pools(), key=lambda p: p.key)
    endpoints: Sequence[Endpoint] = datastore.endpoints(pools[0].key) if pools else ()
    hint = request.subset_hint
    if hint is not None and subset_filter:
        endpoints = in_subset(endpoints, hint)
    if not endpoints:
        raise errors.service_unavailable("no ready endpoints")
    healthy = [e for e in endpoints if e.consecutive_failures < FAILURE_LIMIT]
    if healthy:
        endpoints = healthy
    chosen = endpoints[rng.randrange(len(endpoints))].hostport
    routed = Routed(
        policy,
        request_id=request_id,
        model="",
        target_model="",
        endpoints=(chosen,),
        body=None,
        pool=pools[0].key,
        started_at=started,
        hostport=chosen,
        metered=False,
    )
    datastore.acquire(chosen)
    return routed
