"""Routing policies the benchmark compares: scheduler configs plus how they see the pool.

A policy is an ``EndpointPickerConfig`` (a built-in name or a YAML path) run by the real
scheduler, plus two harness switches. ``oracle`` feeds the scheduler exact engine state
taken at pick time instead of the last 50 ms scrape, a limit for metrics-based policies;
plain ``oracle`` (also spelled ``oracle:tuned``, the name reports use) is our ``tuned``
config so fed, ``oracle:<policy>`` any other. ``lookahead`` is the real bound: it tries
each request on exact copies of every pod and keeps the fastest (``bench.lookahead``).
``admission`` applies the gateway's saturation detector to Sheddable requests; it is off
for ``random`` and ``round-robin``, which stand in for a Kubernetes Service, which sheds
nothing. ``service`` is a Kubernetes Service as kube-proxy runs it: client keep-alive
connections pinned to random pods (``bench.service``). Any policy with ``+fc`` appended
runs with flow control in front (``bench.flow_stage``). Our own configs live next to this
module in ``policies/``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from inference_gateway.app import epp_registry
from inference_gateway.bench.flow_stage import flow_source
from inference_gateway.bench.service import ConnectionScheduler
from inference_gateway.scheduling.config import SchedulerConfig, load_config
from inference_gateway.scheduling.observe import ResponseObserver, observers
from inference_gateway.scheduling.saturation import Detector
from inference_gateway.scheduling.scheduler import (
    PluginScheduler,
    build_saturation_detector,
    build_scheduler,
)
from inference_gateway.scheduling.types import Scheduler


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    source: str
    """A built-in config name (``scheduling.config.BUILTIN_CONFIGS``) or YAML text/path."""
    oracle: bool = False
    admission: bool = True
    flow_control: bool = False
    """``<policy>+fc``: requests wait in flow control (``bench.flow_stage``) first."""
    lookahead: str | None = None
    """``e2e`` or ``slo``: pick by trying the request on exact copies of every pod
    (``bench.lookahead``) instead of the scheduler; admission still uses ``source``."""
    slo_headers: bool = False
    """``<policy>+slo``: every request carries the goodput objectives as SLO headers
    (``x-slo-ttft-ms``, ``x-slo-tpot-ms``), for the policies that route by them."""


OWN_CONFIGS: tuple[str, ...] = ("tuned",)
"""Configs shipped in ``bench/policies/<name>.yaml``, usable by name."""

ORACLE_BASE = "tuned"
"""The config ``oracle`` runs with exact state: our best, which on every workload is at
least as good as the upstream scorer mix (``oracle:scorer-mix`` runs that one instead)."""

BUILTIN_POLICIES: dict[str, Policy] = {
    "random": Policy("random", "random", admission=False),
    "round-robin": Policy("round-robin", "round-robin", admission=False),
    "service": Policy("service", "random", admission=False),
    "least-request": Policy("least-request", "least-request"),
    "default": Policy("default", "default"),
    "scorer-mix": Policy("scorer-mix", "scorer-mix"),
    "predicted": Policy("predicted", "predicted"),
}

LOOKAHEAD_MODES = ("e2e", "slo")

DEFAULT_POLICIES = (
    "random",
    "round-robin",
    "least-request",
    "default",
    "scorer-mix",
    "tuned",
    "predicted",
    "oracle:tuned",
    "lookahead",
)


def _own_config_text(name: str) -> str:
    ref = resources.files("inference_gateway.bench") / "policies" / f"{name}.yaml"
    return ref.read_text(encoding="utf-8")


def resolve(name: str) -> Policy:
    """A built-in policy, one of ours, or ``path.yaml`` (named after the file's stem)."""
    if name.endswith("+slo"):
        base = resolve(name.removesuffix("+slo"))
        return replace(base, name=f"{base.name}+slo", slo_headers=True)
    if name.endswith("+fc"):
        base = resolve(name.removesuffix("+fc"))
        return replace(base, name=name, source=flow_source(base.source), flow_control=True)
    if name in BUILTIN_POLICIES:
        return BUILTIN_POLICIES[name]
    if name in OWN_CONFIGS:
        return Policy(name, _own_config_text(name))
    if name == "oracle":
        return Policy(name, _own_config_text(ORACLE_BASE), oracle=True)
    if name == "lookahead" or name.startswith("lookahead:"):
        mode = name.partition(":")[2] or "e2e"
        if mode not in LOOKAHEAD_MODES:
            raise ValueError(f"unknown lookahead mode {mode!r}: use one of {LOOKAHEAD_MODES}")
        return Policy(name, "least-request", oracle=True, lookahead=mode)
    if name.startswith("oracle:"):
        inner = resolve(name.removeprefix("oracle:"))
        return Policy(name, inner.source, oracle=True, admission=inner.admission)
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return Policy(path.stem, path.read_text(encoding="utf-8"))
    known = sorted(
        [
            *BUILTIN_POLICIES,
            *OWN_CONFIGS,
            "oracle",
            "oracle:<policy>",
            "lookahead[:slo]",
            "<policy>+fc",
            "<policy>+slo",
        ]
    )
    raise ValueError(f"unknown policy {name!r}: use one of {known} or a path to a .yaml file")


def observers_of(scheduler: Scheduler) -> list[ResponseObserver]:
    """The scheduler's plugins that learn from responses, each once (none for schedulers
    that are not plugin schedulers, such as ``service``).

    The harness feeds them every finished request, as the gateway's response path does.
    """
    if not isinstance(scheduler, PluginScheduler):
        return []
    plugins: list[object] = list(scheduler.post_pick)
    for profile in scheduler.profiles.values():
        plugins += [*profile.filters, *(s for s, _ in profile.scorers), profile.picker]
    return observers(plugins)


def load(policy: Policy) -> SchedulerConfig:
    return load_config(policy.source, epp_registry())  # as the EPP loads its config


def instantiate(
    policy: Policy, config: SchedulerConfig, seed: int
) -> tuple[Scheduler, Detector | None]:
    """A fresh scheduler (its own RNG and prefix index) and admission detector for one run."""
    rng = random.Random(f"{seed}/{policy.name}/scheduler")
    scheduler: Scheduler = build_scheduler(config, rng=rng)
    if policy.name.removesuffix("+fc") == "service":
        scheduler = ConnectionScheduler(rng)
    detector = build_saturation_detector(config) if policy.admission else None
    return scheduler, detector
