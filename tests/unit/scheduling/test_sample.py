"""``candidate-sample-filter``: a bounded sample of a big pool that keeps its affine pods."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from inference_gateway.datastore.types import Endpoint, Metrics
from inference_gateway.scheduling.config import instantiate, load_config
from inference_gateway.scheduling.framework import NOW_KEY, CycleState
from inference_gateway.scheduling.plugins.prefix import PrefixCacheScorer
from inference_gateway.scheduling.plugins.sample import CandidateSampleFilter
from inference_gateway.scheduling.scheduler import build_scheduler
from tests.unit.scheduling.helpers import NOW, make_endpoint, make_request

CONFIG = """
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: prefix-cache-scorer
- type: candidate-sample-filter
  parameters: {size: 16, prefixScorer: prefix-cache-scorer}
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: candidate-sample-filter}
  - {pluginRef: prefix-cache-scorer}
  - {pluginRef: max-score-picker}
"""
PROMPT = "You are a careful assistant. " * 20
Pool = Callable[[list[Endpoint]], Sequence[Endpoint]]
CONTAINERS = pytest.mark.parametrize("container", [list, tuple], ids=["scanned", "indexed"])
"""A list is scanned at every pick; a tuple (the datastore's published view) is indexed."""


def _built(seed: int = 0) -> tuple[CandidateSampleFilter, PrefixCacheScorer]:
    plugins = instantiate(load_config(CONFIG), random.Random(seed))
    sample, prefix = plugins["candidate-sample-filter"], plugins["prefix-cache-scorer"]
    assert isinstance(sample, CandidateSampleFilter)
    assert isinstance(prefix, PrefixCacheScorer)
    return sample, prefix


def _cycle() -> CycleState:
    return {NOW_KEY: NOW}


def test_a_pool_no_bigger_than_the_sample_passes_whole_in_order() -> None:
    sample, _ = _built()
    pool = [make_endpoint(f"p{i}") for i in range(16)]
    assert sample.filter(make_request(), pool, _cycle()) == pool


@CONTAINERS
def test_a_bigger_pool_gives_size_distinct_members_of_it(container: Pool) -> None:
    sample, _ = _built()
    pool = container([make_endpoint(f"p{i}") for i in range(500)])
    for _ in range(50):
        kept = sample.filter(make_request(), pool, _cycle())
        assert len(kept) == 16
        assert len({id(e) for e in kept}) == 16
        assert all(any(e is p for p in pool) for e in kept)


@CONTAINERS
def test_every_pod_of_the_pool_is_drawn_in_time(container: Pool) -> None:
    sample, _ = _built()
    pool = container([make_endpoint(f"p{i}") for i in range(200)])
    seen: Counter[str] = Counter()
    for _ in range(400):  # 32 expected draws per pod
        seen.update(e.name for e in sample.filter(make_request(), pool, _cycle()))
    assert len(seen) == 200
    assert max(seen.values()) < 4 * min(seen.values())


@CONTAINERS
def test_the_longest_prefix_holders_are_kept_up_to_a_quarter(container: Pool) -> None:
    sample, prefix = _built()
    pool = container([make_endpoint(f"p{i}") for i in range(1000)])
    request = make_request(prompt=PROMPT)
    for i in (7, 500, 999):  # full holders
        prefix.on_picked(request, pool[i], {})
    half = make_request(prompt=PROMPT[: len(PROMPT) // 2])
    for i in range(100, 110):  # half holders: more than the quarter left
        prefix.on_picked(half, pool[i], {})
    for _ in range(20):
        names = {e.name for e in sample.filter(request, pool, _cycle())}
        assert {"p7", "p500", "p999"} <= names
        assert names & {f"p{i}" for i in range(100, 110)}


@CONTAINERS
def test_equal_holders_beyond_the_quarter_take_turns(container: Pool) -> None:
    sample, prefix = _built()
    pool = container([make_endpoint(f"p{i}") for i in range(1000)])
    request = make_request(prompt=PROMPT)
    holders = {f"p{i}" for i in range(0, 1000, 50)}  # 20 equal holders, 4 kept
    for e in pool:
        if e.name in holders:
            prefix.on_picked(request, e, {})
    seen: set[str] = set()
    for _ in range(60):
        kept = {e.name for e in sample.filter(request, pool, _cycle())}
        assert len(kept & holders) >= 4
        seen |= kept & holders
    assert seen == holders


@CONTAINERS
def test_pods_running_the_adapter_are_kept(container: Pool) -> None:
    sample, _ = _built()
    pool = container(
        [
            make_endpoint(f"p{i}", adapters=["sql-lora"] if i in (3, 640, 871) else ["chat-lora"])
            for i in range(1000)
        ]
    )
    request = make_request(target="sql-lora")
    for _ in range(20):
        names = {e.name for e in sample.filter(request, pool, _cycle())}
        assert {"p3", "p640", "p871"} <= names


@CONTAINERS
def test_predicted_keeps_lora_affinity_on_a_big_pool(container: Pool) -> None:
    """Only three of 1,000 pods run the adapter and every slot elsewhere is taken: a
    uniform sample of 128 would miss all three about a third of the time."""
    config = load_config("predicted")
    rng = random.Random(0)
    scheduler = build_scheduler(config, rng=rng, plugins=instantiate(config, rng))
    holders = {"p3", "p640", "p871"}
    pool = container(
        [
            make_endpoint(
                f"p{i}",
                adapters=["sql-lora"] if f"p{i}" in holders else ["chat-lora"],
                max_adapters=1,
            )
            for i in range(1000)
        ]
    )
    for n in range(30):
        request = make_request(target="sql-lora", prompt=f"question {n}")
        decision = scheduler.schedule(request, pool, NOW)
        assert decision.endpoints[0].name in holders
        steps = decision.explanation["filters"]
        assert isinstance(steps, list)
        assert steps[0] == ("candidate-sample-filter", 1000, 128)


@CONTAINERS
def test_predicted_keeps_prefix_affinity_on_a_big_pool(container: Pool) -> None:
    config = load_config("predicted")
    rng = random.Random(0)
    scheduler = build_scheduler(config, rng=rng, plugins=instantiate(config, rng))
    pool = container([make_endpoint(f"p{i}") for i in range(1000)])
    first = scheduler.schedule(make_request(prompt=PROMPT + "first question"), pool, NOW)
    home = first.endpoints[0].name
    for n in range(30):
        again = scheduler.schedule(make_request(prompt=PROMPT + f"question {n}"), pool, NOW)
        assert again.endpoints[0].name == home


def _run_adapter(e: Endpoint, adapter: str) -> None:
    """A scrape written into the endpoint's cell in place, as the datastore does."""
    object.__setattr__(e, "metrics", Metrics(running_adapters=frozenset([adapter]), updated_at=NOW))


def test_the_index_reads_the_adapters_again_after_the_refresh() -> None:
    sample, _ = _built()
    pool = tuple(make_endpoint(f"p{i}", adapters=["chat-lora"]) for i in range(1000))
    request = make_request(target="sql-lora")
    sample.filter(request, pool, _cycle())  # indexed: nobody runs sql-lora
    _run_adapter(pool[640], "sql-lora")
    _run_adapter(pool[3], "sql-lora")
    later: CycleState = {NOW_KEY: NOW + 0.2}
    for _ in range(20):
        names = {e.name for e in sample.filter(request, pool, later)}
        assert {"p3", "p640"} <= names
    _run_adapter(pool[3], "chat-lora")  # unloaded: checked at every pick, not kept for it
    drawn = Counter(e.name for _ in range(200) for e in sample.filter(request, pool, later))
    assert drawn["p640"] == 200
    assert drawn["p3"] < 20  # drawn by chance only: 16 of 1,000 a pick


def test_another_pool_view_is_indexed_afresh() -> None:
    sample, prefix = _built()
    first = tuple(make_endpoint(f"p{i}") for i in range(1000))
    request = make_request(prompt=PROMPT)
    sample.filter(request, first, _cycle())
    second = (*first[:500], *(make_endpoint(f"q{i}") for i in range(500)))
    prefix.on_picked(request, second[700], {})
    for _ in range(20):
        kept = sample.filter(request, second, _cycle())
        assert "q200" in {e.name for e in kept}
        assert all(any(e is p for p in second) for e in kept)
