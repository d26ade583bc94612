"""Turning the requested model into the model a server will see, and the candidate set.

Order (upstream v1.5 plus the v1alpha2 InferenceModel): the ``x-gateway-model-name-rewrite``
header, else a weighted draw over the InferenceModel's ``targetModels``, else the name
itself; then the pool's InferenceModelRewrite rules, matched against the *requested* name,
override it. Rule precedence: an exact match beats a match-all rule; between objects the
oldest wins; within one object the first rule wins. Draws use the injected RNG only.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from inference_gateway.datastore import Endpoint, RewriteInfo, TargetModel


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
