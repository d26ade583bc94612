from __future__ import annotations

import gc
import random
from collections import OrderedDict

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.plugins.prefix import (
    PrefixCacheScorer,
    PrefixParams,
    block_hashes,
)
from inference_gateway.scheduling.registry import Registry
from inference_gateway.scheduling.scheduler import build_scheduler
from tests.unit.scheduling.helpers import NOW, handle, make_endpoint, make_request

EPS = [make_endpoint(f"p{i}") for i in range(4)]


def _scorer(**params: int) -> PrefixCacheScorer:
    return PrefixCacheScorer("prefix", PrefixParams(**params), handle())


def test_hash_chain_matches_the_upstream_recipe() -> None:
    text = "a" * 64 + "b" * 64 + "tail"
    seed = xxhash.xxh64_intdigest(b"llama")
    h0 = xxhash.xxh64_intdigest(b"a" * 64 + seed.to_bytes(8, "little"))
    h1 = xxhash.xxh64_intdigest(b"b" * 64 + h0.to_bytes(8, "little"))
    assert block_hashes(text, "llama", 64, 256) == [h0, h1]


@pytest.mark.parametrize(
    ("length", "max_blocks", "expected"),
    [(63, 256, 0), (64, 256, 1), (64 * 300, 256, 256), (640, 3, 3)],
)
def test_only_full_blocks_up_to_the_limit(length: int, max_blocks: int, expected: int) -> None:
    assert len(block_hashes("x" * length, "m", 64, max_blocks)) == expected


def test_model_seeds_the_chain() -> None:
    assert block_hashes("x" * 128, "a", 64, 256) != block_hashes("x" * 128, "b", 64, 256)


def test_score_is_the_share_of_leading_blocks_held() -> None:
    scorer = _scorer()
    shared = "s" * 128
    first = make_request(prompt=shared + "A" * 128)
    scorer.on_picked(first, EPS[1], {})
    second = make_request(prompt=shared + "B" * 64)  # 3 blocks, first 2 held by p1
    assert scorer.score(second, EPS, {}) == [0.0, pytest.approx(2 / 3), 0.0, 0.0]
    assert scorer.score(first, EPS, {}) == [0.0, 1.0, 0.0, 0.0]
    other_model = make_request(prompt=shared + "A" * 128, model="other")
    assert scorer.score(other_model, EPS, {}) == [0.0] * 4


def test_only_consecutive_blocks_count() -> None:
    scorer = _scorer()
    scorer.on_picked(make_request(prompt="a" * 64 + "b" * 64 + "c" * 64), EPS[0], {})
    scorer.on_picked(make_request(prompt="a" * 64), EPS[2], {})
    scores = scorer.score(make_request(prompt="a" * 64 + "b" * 64 + "c" * 64), EPS, {})
    assert scores == [1.0, 0.0, pytest.approx(1 / 3), 0.0]


def test_lru_evicts_oldest_blocks_per_server() -> None:
    scorer = _scorer(lruCapacityPerServer=4)
    old = make_request(prompt="o" * 64 * 2)
    new = make_request(prompt="n" * 64 * 3)
    scorer.on_picked(old, EPS[0], {})
    scorer.on_picked(old, EPS[1], {})
    scorer.on_picked(new, EPS[0], {})
    assert scorer.indexed_blocks("p0") == 4
    # p0 evicted the oldest block (old's first), so old's prefix no longer matches there.
    assert scorer.score(old, EPS, {})[:2] == [0.0, 1.0]
    assert scorer.score(new, EPS, {})[:2] == [1.0, 0.0]
    scorer.forget("p1")
    assert scorer.indexed_blocks("p1") == 0
    assert scorer.score(old, EPS, {})[1] == 0.0


def test_hit_rate_rises_with_a_repeated_prefix(registry: Registry) -> None:
    scheduler = build_scheduler(load_config("scorer-mix", registry), rng=random.Random(0))
    system = "You are a helpful assistant. " * 20
    rng = random.Random(5)
    hits = []
    for i in range(20):
        request = make_request(prompt=system + f"question {i} " + "z" * rng.randint(0, 300))
        decision = scheduler.schedule(request, EPS, NOW)
        prefix_score = decision.explanation["scores"][0][2]["prefix-cache-scorer"]  # type: ignore[index]
        hits.append(prefix_score)
    assert hits[0] == 0.0
    assert all(h > 0.5 for h in hits[1:])
    chosen = {
        scheduler.schedule(make_request(prompt=system), EPS, NOW).primary.name for _ in range(5)
    }
    assert len(chosen) == 1


def test_scheduler_forget_reaches_the_prefix_index(registry: Registry) -> None:
    scheduler = build_scheduler(load_config("scorer-mix", registry), rng=random.Random(0))
    request = make_request(prompt="p" * 640)
    first = scheduler.schedule(request, EPS, NOW).primary.name
    assert (
        scheduler.schedule(request, EPS, NOW).explanation["scores"][0][2][  # type: ignore[index]
            "prefix-cache-scorer"
        ]
        == 1.0
    )
    scheduler.forget(first)
    again = scheduler.schedule(request, EPS, NOW)
    assert again.explanation["scores"][0][2]["prefix-cache-scorer"] == 0.0  # type: ignore[index]


_CHUNKS = ["a" * 64, "b" * 64, "c" * 64, "d" * 64]
_OPS = st.lists(
    st.tuples(
        st.sampled_from(["pick", "pick", "pick", "forget"]),
        st.integers(0, 3),  # server
        st.lists(st.integers(0, 3), min_size=1, max_size=4),  # prompt as chunk indexes
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS, queries=st.lists(st.lists(st.integers(0, 3), max_size=4), max_size=6))
def test_the_index_matches_what_each_servers_lru_holds(
    ops: list[tuple[str, int, list[int]]], queries: list[list[int]]
) -> None:
    """Against a plain model of the per-server LRUs: a block shared by several servers, held
    by one again after evictions or a forget, or by none, scores as those LRUs say."""
    scorer = _scorer(lruCapacityPerServer=5)
    model: dict[str, OrderedDict[int, None]] = {}
    for op, server, chunks in ops:
        name = EPS[server].name
        if op == "forget":
            scorer.forget(name)
            model.pop(name, None)
            continue
        request = make_request(prompt="".join(_CHUNKS[c] for c in chunks))
        scorer.on_picked(request, EPS[server], {})
        lru = model.setdefault(name, OrderedDict())
        for h in block_hashes(request.prompt, request.target_model, 64, 256):
            lru[h] = None
            lru.move_to_end(h)
        while len(lru) > 5:
            lru.popitem(last=False)
    for chunks in queries:
        request = make_request(prompt="".join(_CHUNKS[c] for c in chunks))
        hashes = block_hashes(request.prompt, request.target_model, 64, 256)
        expected = []
        for e in EPS:
            held = model.get(e.name, OrderedDict())
            depth = next((i for i, h in enumerate(hashes) if h not in held), len(hashes))
            expected.append(depth / len(hashes) if hashes else 0.0)
        assert scorer.score(request, EPS, {}) == pytest.approx(expected)


def test_a_block_held_by_one_server_is_not_an_object_the_collector_tracks() -> None:
    """A full index holds millions of blocks; a set per block made each full garbage
    collection walk them all (~650 ms at 100 servers x 31,250 blocks)."""
    scorer = _scorer()
    gc.collect()
    before = len(gc.get_objects())
    for i in range(20):
        scorer.on_picked(make_request(prompt=f"{i:04d}" * 16 * 100), EPS[i % 4], {})
    assert sum(scorer.indexed_blocks(e.name) for e in EPS) == 2000
    assert len(gc.get_objects()) - before < 100
    shared = make_request(prompt="s" * 64 * 1000)  # 256 blocks (the match limit)
    for e in EPS[:2]:
        scorer.on_picked(shared, e, {})
    assert scorer.score(shared, EPS, {}) == [1.0, 1.0, 0.0, 0.0]
    assert len(gc.get_objects()) - before > 256  # held by two: a set each
    scorer.forget("p1")  # held by one again: the name again
    assert scorer.score(shared, EPS, {}) == [1.0, 0.0, 0.0, 0.0]
    assert len(gc.get_objects()) - before < 100
