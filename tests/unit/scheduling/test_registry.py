from __future__ import annotations

import random

import pytest

from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.plugins.scorers import QueueScorer
from inference_gateway.scheduling.registry import Registry, RegistryError, default_registry
from inference_gateway.scheduling.scheduler import build_scheduler
from tests.unit.scheduling.helpers import NOW, FixedScorer, make_endpoint, make_request


def test_default_registry_has_the_upstream_types() -> None:
    types = set(default_registry().types())
    assert {
        "low-queue-filter",
        "lora-affinity-filter",
        "least-queue-filter",
        "least-kv-cache-filter",
        "decision-tree-filter",
        "queue-scorer",
        "kv-cache-utilization-scorer",
        "running-requests-size-scorer",
        "lora-affinity-scorer",
        "prefix-cache-scorer",
        "max-score-picker",
        "random-picker",
        "weighted-random-picker",
        "single-profile-handler",
    } <= types


def test_each_call_builds_a_fresh_registry() -> None:
    a, b = default_registry(), default_registry()
    a.register(FixedScorer)
    assert "fixed-scorer" in a and "fixed-scorer" not in b


def test_duplicate_type_is_rejected() -> None:
    registry = default_registry()
    with pytest.raises(RegistryError, match="'queue-scorer' is already registered"):
        registry.register(QueueScorer)
    with pytest.raises(RegistryError, match="already registered"):
        registry.register(FixedScorer, "queue-scorer")


@pytest.mark.parametrize(
    ("obj", "message"),
    [(object(), "is not a class"), (int, "has no TYPE"), (type("X", (), {"TYPE": "x"}), "Params")],
)
def test_register_checks_the_class(obj: object, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        Registry().register(obj)  # type: ignore[arg-type]


def test_module_attr_plugin_from_config(registry: Registry) -> None:
    config = load_config(
        """apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- name: fixed
  type: tests.unit.scheduling.helpers:FixedScorer
  parameters: {scores: {p1: 0.9}}
""",
        registry,
    )
    scheduler = build_scheduler(config, rng=random.Random(0))
    eps = [make_endpoint("p0"), make_endpoint("p1"), make_endpoint("p2")]
    assert scheduler.schedule(make_request(), eps, NOW).primary.name == "p1"


@pytest.mark.parametrize(
    ("type_name", "message"),
    [
        ("no.such.module:Thing", "cannot import plugin type"),
        ("tests.unit.scheduling.helpers:Missing", "cannot import plugin type"),
        ("tests.unit.scheduling.helpers:make_endpoint", "is not a class"),
    ],
)
def test_module_attr_errors(type_name: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        default_registry().resolve(type_name)
