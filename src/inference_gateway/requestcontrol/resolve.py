"""Turning the requested model into a pool, the model a server will see, a criticality,
and the candidate endpoints.

An unknown model is a 404, except under v1 semantics: a lone v1 InferencePool without any
InferenceModel serves whatever model name arrives, unchanged. Target order (upstream v1.5
plus the v1alpha2 InferenceModel): the ``x-gateway-model-name-rewrite`` header, else a
weighted draw over the InferenceModel's ``targetModels``, else the name itself; then the
pool's InferenceModelRewrite rules, matched against the *requested* name, override it.
Rule precedence: an exact match beats a match-all rule; between objects the oldest wins;
within one object the first rule wins. Draws use the injected RNG only. Criticality comes
from the InferenceModel (unset: the configured default), overridden by an
InferenceObjective named in ``x-gateway-inference-objective`` (looked up in the pool's
namespace; an unknown name leaves the model's criticality in place).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

from inference_gateway.datastore import (
    Datastore,
    Endpoint,
    ModelInfo,
    PoolInfo,
    RewriteInfo,
    TargetModel,
)
from inference_gateway.requestcontrol import errors
from inference_gateway.scheduling.types import Criticality

MODEL_REWRITE_HEADER = "x-gateway-model-name-rewrite"
OBJECTIVE_HEADER = "x-gateway-inference-objective"
LLM_D_OBJECTIVE_HEADER = "x-llm-d-inference-objective"
"""llm-d's router's name for the same header, read first (it keeps upstream's as an alias)."""


def objective_name(headers: Mapping[str, str]) -> str | None:
    """The InferenceObjective the request names, under llm-d's header or upstream's."""
    return headers.get(LLM_D_OBJECTIVE_HEADER) or headers.get(OBJECTIVE_HEADER)


def pool_for(datastore: Datastore, model: str, info: ModelInfo | None) -> PoolInfo:
    if info is None:
        pool = passthrough_pool(datastore)
        if pool is None:
            raise errors.model_not_found(model)
        return pool
    pool = datastore.pool(info.pool_key)
    if pool is None:
        raise errors.service_unavailable(f"no ready endpoints for model {model}")
    return pool


def passthrough_pool(datastore: Datastore) -> PoolInfo | None:
    """v1 semantics: a lone v1 pool without InferenceModels serves any model name."""
    pools = datastore.pools()
    if len(pools) != 1 or pools[0].api_version != "v1":
        return None
    key = pools[0].key
    if any(m.pool_key == key for m in datastore.models()):
        return None
    return pools[0]


def target_for(
    datastore: Datastore,
    model: str,
    info: ModelInfo | None,
    pool: PoolInfo,
    headers: Mapping[str, str],
    rng: random.Random,
) -> str:
    target = headers.get(MODEL_REWRITE_HEADER) or ""
    if not target:
        target = weighted_target(info.targets, rng) if info and info.targets else model
    rewritten = rewrite_target(datastore.rewrites(pool.key), model, rng)
    return rewritten or target


def criticality_for(
    datastore: Datastore,
    info: ModelInfo | None,
    pool: PoolInfo,
    headers: Mapping[str, str],
    default: Criticality,
) -> Criticality:
    name = objective_name(headers)
    if name:
        objective = datastore.objective(pool.namespace, name)
        if objective is not None:
            return Criticality.from_priority(objective.priority)
    if info is not None and info.criticality is not None:
        return Criticality(info.criticality)
    return default


def weighted_target(targets: Sequence[TargetModel], rng: random.Random) -> str:
    """Uniform when the first target has no weight, else a cumulative-weight draw."""
    if len(targets) == 1:
        return targets[0].name
    if targets[0].weight is None:
        return targets[rng.randrange(len(targets))].name
    total = sum(t.weight or 0 for t in targets)
    if total <= 0:
        return targets[rng.randrange(len(targets))].name
    point = rng.randrange(total)
    for t in targets:
        point -= t.weight or 0
        if point < 0:
            return t.name
    return targets[-1].name


def rewrite_target(rewrites: Iterable[RewriteInfo], model: str, rng: random.Random) -> str | None:
    """The rewritten target for ``model`` from the first applicable rule, or None."""
    fallback: tuple[TargetModel, ...] | None = None
    for obj in rewrites:
        for rule in obj.rules:
            if not rule.matches:
                if fallback is None:
                    fallback = rule.targets
            elif model in rule.matches:
                return weighted_target(rule.targets, rng) if rule.targets else None
    if fallback:
        return weighted_target(fallback, rng)
    return None


def host_of(hostport: str) -> str:
    """The IP of ``ip:port`` / ``[v6]:port`` / a bare address (port stripped at the last ':')."""
    if hostport.startswith("["):
        end = hostport.find("]")
        return hostport[1:end] if end > 0 else hostport[1:]
    if hostport.count(":") == 1:
        return hostport.rsplit(":", 1)[0]
    return hostport


def in_subset(endpoints: Sequence[Endpoint], hint: Sequence[str]) -> list[Endpoint]:
    """Endpoints whose IP is named by the proxy's subset hint (ports ignored, as upstream)."""
    allowed = {host_of(h.strip()) for h in hint}
    return [e for e in endpoints if e.address in allowed]


def routed_pool(datastore: Datastore, key: str) -> PoolInfo:
    """The pool a route chose by name (body-based routing); 503 when it does not exist."""
    pool = datastore.pool(key)
    if pool is None:
        raise errors.service_unavailable(f"pool {key} chosen by the route does not exist")
    return pool


def candidates_for(
    datastore: Datastore, model: str, pool: PoolInfo, hint: Sequence[str] | None
) -> Sequence[Endpoint]:
    """The pool's endpoints, narrowed to the proxy's subset ``hint`` when there is one;
    503 when that leaves none."""
    endpoints = datastore.endpoints(pool.key)
    if not endpoints:
        raise errors.service_unavailable(f"no ready endpoints for model {model}")
    if hint is None:
        return endpoints
    chosen = in_subset(endpoints, hint)
    if not chosen:
        raise errors.service_unavailable(
            f"no ready endpoints for model {model} in the proxy's endpoint subset"
        )
    return chosen
