from __future__ import annotations

import random

import pytest

from inference_gateway.scheduling.config import load_config, parse_config
from inference_gateway.scheduling.registry import Registry
from inference_gateway.scheduling.scheduler import PluginScheduler, build_scheduler
from inference_gateway.scheduling.types import Criticality, NoCapacityError
from tests.unit.scheduling.helpers import NOW, make_endpoint, make_request, names

HEADER = """
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
"""


def _tree_scheduler(registry: Registry, tree: str) -> PluginScheduler:
    import yaml

    doc = yaml.safe_load(
        HEADER
        + """
plugins:
- {type: low-queue-filter, parameters: {threshold: 10}}
- {type: least-queue-filter}
- {type: "tests.unit.scheduling.helpers:NothingFilter", name: nothing}
- {type: decision-tree-filter, name: tree}
- {type: max-score-picker}
schedulingProfiles:
- name: p
  plugins: [{pluginRef: tree}]
"""
    )
    doc["plugins"][3]["parameters"] = yaml.safe_load(tree)
    return build_scheduler(parse_config(doc, registry), rng=random.Random(0), staleness=None)


def test_failure_branch_receives_the_original_set(registry: Registry) -> None:
    scheduler = _tree_scheduler(
        registry,
        """
current: {pluginRef: nothing}
nextOnFailure: {pluginRef: least-queue-filter}
""",
    )
    eps = [make_endpoint("p0", waiting=50), make_endpoint("p1", waiting=0)]
    decision = scheduler.schedule(make_request(), eps, NOW)
    assert decision.primary.name == "p1"
    steps = decision.explanation["filters"]
    assert steps[:2] == [("nothing", 2, 0), ("least-queue-filter", 2, 1)]  # type: ignore[index]


def test_success_branch_receives_the_filtered_set(registry: Registry) -> None:
    scheduler = _tree_scheduler(
        registry,
        """
current: {pluginRef: low-queue-filter}
nextOnSuccess:
  decisionTree:
    current: {pluginRef: least-queue-filter}
nextOnFailure: {pluginRef: nothing}
""",
    )
    # low-queue keeps p1 (5) and p2 (9); least-queue band over them is [5, 7]: p1 only.
    eps = [
        make_endpoint("p0", waiting=11),
        make_endpoint("p1", waiting=5),
        make_endpoint("p2", waiting=9),
    ]
    decision = scheduler.schedule(make_request(), eps, NOW)
    assert decision.primary.name == "p1"


def test_failure_without_branch_yields_no_capacity(registry: Registry) -> None:
    scheduler = _tree_scheduler(registry, "current: {pluginRef: low-queue-filter}")
    with pytest.raises(NoCapacityError):
        scheduler.schedule(make_request(), [make_endpoint("p0", waiting=99)], NOW)


@pytest.fixture
def default_scheduler(registry: Registry) -> PluginScheduler:
    return build_scheduler(load_config("default", registry), rng=random.Random(0))


@pytest.mark.parametrize(
    ("criticality", "endpoints", "allowed", "path"),
    [
        # Critical, a pod under 128: low-queue, lora (fails: no slots), least-queue, least-kv
        (
            Criticality.CRITICAL,
            [("p0", 200, 0.1), ("p1", 20, 0.9), ("p2", 21, 0.2), ("p3", 100, 0.0)],
            {"p2"},
            ["is-critical", "low-queue-filter", "lora-affinity-filter", "least-queue-filter"],
        ),
        # Critical, all queues >= 128: least-queue first over everyone
        (
            Criticality.CRITICAL,
            [("p0", 200, 0.1), ("p1", 130, 0.5), ("p2", 300, 0.0)],
            {"p1"},
            ["is-critical", "low-queue-filter", "least-queue-filter"],
        ),
        # Standard with capacity: only pods with queue <= 5 and kv <= 0.8
        (
            Criticality.STANDARD,
            [("p0", 0, 0.9), ("p1", 5, 0.8), ("p2", 6, 0.0), ("p3", 4, 0.5)],
            {"p1", "p3"},
            ["is-critical", "sheddable-capacity-filter", "least-queue-filter"],
        ),
        # Standard, no capacity: falls back to the low-latency path
        (
            Criticality.STANDARD,
            [("p0", 50, 0.9), ("p1", 9, 0.95), ("p2", 60, 0.2)],
            {"p1"},
            ["is-critical", "sheddable-capacity-filter", "is-standard", "low-queue-filter"],
        ),
        # Sheddable with capacity
        (
            Criticality.SHEDDABLE,
            [("p0", 50, 0.9), ("p1", 1, 0.3)],
            {"p1"},
            ["is-critical", "sheddable-capacity-filter"],
        ),
    ],
)
def test_default_tree_paths(
    default_scheduler: PluginScheduler,
    criticality: Criticality,
    endpoints: list[tuple[str, int, float]],
    allowed: set[str],
    path: list[str],
) -> None:
    eps = [make_endpoint(n, waiting=w, kv=kv) for n, w, kv in endpoints]
    for _ in range(20):
        decision = default_scheduler.schedule(make_request(criticality), eps, NOW)
        assert decision.primary.name in allowed
    steps = [name for name, _, _ in decision.explanation["filters"]]  # type: ignore[attr-defined]
    assert steps[0] == "healthy-endpoint-filter"
    assert steps[1 : len(path) + 1] == path


def test_default_tree_sheds_sheddable_without_capacity(default_scheduler: PluginScheduler) -> None:
    eps = [make_endpoint("p0", waiting=50, kv=0.9), make_endpoint("p1", waiting=6)]
    with pytest.raises(NoCapacityError):
        default_scheduler.schedule(make_request(Criticality.SHEDDABLE), eps, NOW)


def test_default_tree_prefers_lora_affinity(default_scheduler: PluginScheduler) -> None:
    eps = [
        make_endpoint("p0", waiting=0, adapters={"chat"}, max_adapters=1),
        make_endpoint("p1", waiting=3, adapters={"sql"}, max_adapters=1),
    ]
    picks = {
        default_scheduler.schedule(
            make_request(Criticality.CRITICAL, target="sql"), eps, NOW
        ).primary.name
        for _ in range(30)
    }
    assert picks == {"p1"}


def test_trace_key_is_per_cycle(default_scheduler: PluginScheduler) -> None:
    eps = [make_endpoint("p0")]
    a = default_scheduler.schedule(make_request(), eps, NOW)
    b = default_scheduler.schedule(make_request(), eps, NOW)
    assert a.explanation["filters"] == b.explanation["filters"]
    assert names(a.endpoints) == ["p0"]
