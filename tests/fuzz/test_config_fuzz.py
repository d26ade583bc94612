"""Any EndpointPickerConfig, as a decoded mapping or as YAML text, through the real loader.

The loader's contract: a ``SchedulerConfig`` or a ``ConfigError`` naming the key, never any
other exception. A config that loads must also build into a scheduler that schedules a
request (or says there is no capacity / no endpoint), so validation cannot let through
something that crashes at the first request.
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from inference_gateway.datastore import Metrics
from inference_gateway.scheduling.config import (
    BUILTIN_CONFIGS,
    ConfigError,
    SchedulerConfig,
    instantiate,
    load_config,
    parse_config,
)
from inference_gateway.scheduling.registry import default_registry
from inference_gateway.scheduling.scheduler import build_saturation_detector, build_scheduler
from inference_gateway.scheduling.types import (
    Criticality,
    LLMRequest,
    NoCapacityError,
    NoEndpointsError,
)
from tests.fuzz.strategies import FAST_VALUES, doc_mutants, mutated, mutated_text, seeds
from tests.unit.requestcontrol.builders import POOL_KEY, make_store

REGISTRY = default_registry()
UPSTREAM = Path(__file__).parents[1] / "upstream"
TEXTS = {
    name: (resources.files("inference_gateway.scheduling") / "configs" / f"{name}.yaml").read_text(
        encoding="utf-8"
    )
    for name in BUILTIN_CONFIGS
}
# Upstream's predicted-latency configs (those without a data-layer plugin) seed mutants too.
TEXTS |= {
    path.stem: path.read_text(encoding="utf-8")
    for path in (
        UPSTREAM / "llm_d_predicted_latency.yaml",
        UPSTREAM / "llm_d_predicted_latency_slo.yaml",
        UPSTREAM / "predicted_latency_chart_v1.4.0.yaml",
    )
}
DOCS = {name: yaml.safe_load(text) for name, text in TEXTS.items()}


def _names(doc: Any) -> set[str]:
    """Every string in a document: keys, plugin names and types, parameter names."""
    if isinstance(doc, dict):
        return {str(k) for k in doc} | set().union(*(_names(v) for v in doc.values()))
    if isinstance(doc, list):
        return set().union(*(_names(v) for v in doc))
    return {doc} if isinstance(doc, str) else set()


POOL: list[Any] = sorted(set(REGISTRY.types()) | set().union(*map(_names, DOCS.values())))
POOL += FAST_VALUES + [{"pluginRef": n} for n in POOL[:8]] + [{"name": "p", "type": "x"}]

STORE = make_store(pods=3)
for _i, _e in enumerate(STORE.endpoints(POOL_KEY)):
    STORE.set_metrics(_e.hostport, Metrics(waiting=_i * 4, kv_usage=_i * 0.4, updated_at=0.0))
ENDPOINTS = STORE.endpoints(POOL_KEY)
HOSTPORTS = {e.hostport for e in ENDPOINTS}
SLO = {"x-slo-ttft-ms": "1", "x-llm-d-slo-tpot-ms": "1"}
REQUESTS = [
    LLMRequest("r1", "m", "m", Criticality.CRITICAL, "hello " * 40),
    LLMRequest("r2", "m", "a1", Criticality.SHEDDABLE, ""),
    LLMRequest("r3", "m", "m", Criticality.SHEDDABLE, "hello " * 40, SLO),
]
_values = st.one_of(st.sampled_from(POOL), st.recursive(st.none() | st.integers() | st.text(),
                    lambda c: st.lists(c, max_size=3), max_leaves=4))  # fmt: skip
MUTANTS = 7


def exercise(config: SchedulerConfig) -> None:
    """A loaded config builds and schedules: a Decision, or no capacity / no endpoints."""
    rng = random.Random(0)
    scheduler = build_scheduler(config, rng=rng)
    detector = build_saturation_detector(config)
    for request in REQUESTS:
        detector.is_saturated(ENDPOINTS, 0.0)
        try:
            decision = scheduler.schedule(request, ENDPOINTS, 0.0)
        except (NoCapacityError, NoEndpointsError):
            continue
        assert {e.hostport for e in decision.endpoints} <= HOSTPORTS


def load_dict(doc: Any) -> None:
    try:
        if not isinstance(doc, dict):
            raise ConfigError("<root>: expected a mapping")
        config = parse_config(doc, REGISTRY)
        instantiate(config, random.Random(0))
    except ConfigError as e:
        assert str(e)
        event("rejected")
        return
    event("loaded")
    exercise(config)


@settings(max_examples=1_000, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=st.sampled_from(sorted(DOCS)).flatmap(
        lambda n: mutated(DOCS[n], values=_values, max_edits=2)
    ),
    rnd=seeds,
)
def test_config_mappings_load_or_are_rejected(doc: Any, rnd: random.Random) -> None:
    """The drawn mapping and 7 fast mutants of it: 1,000 x 8 = 8,000 configs."""
    load_dict(doc)
    for mutant in doc_mutants(doc, rnd, MUTANTS, POOL):
        load_dict(mutant)


def load_text(text: str) -> None:
    try:
        config = load_config(text + "\n")
    except ConfigError as e:
        assert str(e)
        return
    exercise(config)


small = sorted(n for n in TEXTS if n != "default")


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.sampled_from(small).flatmap(lambda n: mutated_text(TEXTS[n])),
        st.sampled_from(small).map(TEXTS.__getitem__),
        st.text(max_size=80),
    ),
)
def test_config_text_loads_or_is_rejected(text: str) -> None:
    """600 YAML texts: mutated built-in and upstream configs (the big ``default`` one via
    mappings only)."""
    load_text(text)


def test_builtin_configs_load_and_schedule() -> None:
    for text in TEXTS.values():
        exercise(load_config(text))
