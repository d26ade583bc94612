from __future__ import annotations

import pytest

from inference_gateway.scheduling.framework import NoParams
from inference_gateway.scheduling.plugins.filters import (
    CapacityParams,
    CriticalityFilter,
    CriticalityParams,
    LeastKVCacheFilter,
    LeastQueueFilter,
    LowQueueFilter,
    LowQueueParams,
    SheddableCapacityFilter,
)
from inference_gateway.scheduling.plugins.lora import LoraAffinityFilter, LoraAffinityParams
from inference_gateway.scheduling.types import Criticality
from tests.unit.scheduling.helpers import handle, make_endpoint, make_request, names


@pytest.mark.parametrize(
    ("waits", "threshold", "expected"),
    [
        ([0, 127, 128, 129, 500], 128, ["p0", "p1", "p2"]),
        ([5, 6, 7], 6, ["p0", "p1"]),
        ([200, 300], 128, []),
        ([], 128, []),
    ],
)
def test_low_queue_filter(waits: list[int], threshold: int, expected: list[str]) -> None:
    f = LowQueueFilter("lq", LowQueueParams(threshold=threshold), handle())
    eps = [make_endpoint(f"p{i}", waiting=w) for i, w in enumerate(waits)]
    assert names(f.filter(make_request(), eps, {})) == expected


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ([(5, 0.8), (6, 0.1), (0, 0.81), (0, 0.0)], ["p0", "p3"]),
        ([(6, 0.9)], []),
    ],
)
def test_sheddable_capacity_filter(metrics: list[tuple[int, float]], expected: list[str]) -> None:
    f = SheddableCapacityFilter("cap", CapacityParams(), handle())
    eps = [make_endpoint(f"p{i}", waiting=w, kv=kv) for i, (w, kv) in enumerate(metrics)]
    assert names(f.filter(make_request(), eps, {})) == expected


@pytest.mark.parametrize(
    ("waits", "expected"),
    [
        # band = min + (max - min) / N = 0 + 30 / 4 = 7.5
        ([0, 7, 8, 30], ["p0", "p1"]),
        ([3, 3, 3], ["p0", "p1", "p2"]),
        ([10], ["p0"]),
        ([], []),
    ],
)
def test_least_queue_filter(waits: list[int], expected: list[str]) -> None:
    f = LeastQueueFilter("q", NoParams(), handle())
    eps = [make_endpoint(f"p{i}", waiting=w) for i, w in enumerate(waits)]
    assert names(f.filter(make_request(), eps, {})) == expected


@pytest.mark.parametrize(
    ("kvs", "expected"),
    [
        ([0.1, 0.9], ["p0"]),  # band 0.1 + 0.8 / 2 = 0.5
        ([0.2, 0.5, 0.45, 0.8], ["p0"]),  # band 0.2 + 0.6 / 4 = 0.35
        ([0.2, 0.3, 0.34, 0.8], ["p0", "p1", "p2"]),
        ([0.5, 0.5], ["p0", "p1"]),
    ],
)
def test_least_kv_cache_filter(kvs: list[float], expected: list[str]) -> None:
    f = LeastKVCacheFilter("kv", NoParams(), handle())
    eps = [make_endpoint(f"p{i}", kv=kv) for i, kv in enumerate(kvs)]
    assert names(f.filter(make_request(), eps, {})) == expected


@pytest.mark.parametrize(
    ("accepted", "criticality", "passes"),
    [
        ((Criticality.CRITICAL,), Criticality.CRITICAL, True),
        ((Criticality.CRITICAL,), Criticality.STANDARD, False),
        ((Criticality.STANDARD, Criticality.SHEDDABLE), Criticality.SHEDDABLE, True),
    ],
)
def test_criticality_filter(
    accepted: tuple[Criticality, ...], criticality: Criticality, passes: bool
) -> None:
    f = CriticalityFilter("c", CriticalityParams(criticalities=accepted), handle())
    eps = [make_endpoint("p0"), make_endpoint("p1")]
    assert names(f.filter(make_request(criticality), eps, {})) == (["p0", "p1"] if passes else [])


LORA_EPS = [
    make_endpoint("p0", adapters={"sql"}, max_adapters=2),
    make_endpoint("p1", waiting_adapters={"sql"}, max_adapters=1),
    make_endpoint("p2", adapters={"chat"}, max_adapters=2),
    make_endpoint("p3", adapters={"chat", "code"}, max_adapters=2),
]


@pytest.mark.parametrize(
    ("target", "threshold", "expected"),
    [
        ("sql", 1.0, ["p0", "p1"]),  # affinity group (running or waiting) always wins
        ("sql", 0.0, ["p2"]),  # the group with a free slot always wins
        ("new", 0.5, ["p0", "p2"]),  # no affinity: servers with a free slot
        ("code", 1.0, ["p3"]),
    ],
)
def test_lora_affinity_filter(target: str, threshold: float, expected: list[str]) -> None:
    f = LoraAffinityFilter("l", LoraAffinityParams(threshold=threshold), handle())
    assert names(f.filter(make_request(target=target), LORA_EPS, {})) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("sql", ["p0", "p1", "p2"]),  # p3 is full without it: only there would it wait
        ("code", ["p0", "p2", "p3"]),  # in the pool's order, not group by group
        ("new", ["p0", "p2"]),
    ],
)
def test_lora_affinity_filter_union_drops_only_where_the_adapter_would_wait(
    target: str, expected: list[str]
) -> None:
    f = LoraAffinityFilter("l", LoraAffinityParams(union=True), handle())
    assert names(f.filter(make_request(target=target), LORA_EPS, {})) == expected
    full = [make_endpoint("p0", adapters={"a"}, max_adapters=1), make_endpoint("p1")]
    assert f.filter(make_request(target="b"), full, {}) == []


def test_lora_affinity_filter_returns_nothing_without_affinity_or_slots() -> None:
    f = LoraAffinityFilter("l", LoraAffinityParams(), handle())
    full = [make_endpoint("p0", adapters={"a"}, max_adapters=1), make_endpoint("p1")]
    assert f.filter(make_request(target="b"), full, {}) == []


def test_lora_affinity_filter_draws_from_the_injected_rng() -> None:
    picks = []
    for seed in range(200):
        f = LoraAffinityFilter("l", LoraAffinityParams(threshold=0.5), handle(seed))
        picks.append(tuple(names(f.filter(make_request(target="sql"), LORA_EPS, {}))))
    assert set(picks) == {("p0", "p1"), ("p2",)}
    again = [
        tuple(
            names(
                LoraAffinityFilter("l", LoraAffinityParams(threshold=0.5), handle(seed)).filter(
                    make_request(target="sql"), LORA_EPS, {}
                )
            )
        )
        for seed in range(200)
    ]
    assert again == picks
