"""The per-model vector store: threshold, TTL on an injected clock, LRU bound, isolation."""

from __future__ import annotations

import numpy as np
import pytest

from inference_gateway.requestcontrol.extensions.semantic_cache.store import SemanticStore

DIM = 8


def unit(*values: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def axis(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i % DIM] = 1.0
    return v


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(max_entries: int = 10, ttl: float = 60.0) -> tuple[SemanticStore[str], Clock]:
    clock = Clock()
    return SemanticStore(dimension=DIM, max_entries=max_entries, ttl=ttl, clock=clock), clock


@pytest.mark.parametrize(
    ("query", "threshold", "expected"),
    [
        (unit(1.0), 0.95, "a"),
        (unit(1.0, 0.2), 0.95, "a"),  # cos = 0.98
        (unit(1.0, 0.5), 0.95, None),  # cos = 0.894
        (unit(1.0, 0.5), 0.85, "a"),
        (unit(0.0, 1.0), 0.5, None),
    ],
)
def test_threshold(query: np.ndarray, threshold: float, expected: str | None) -> None:
    store, _ = make()
    store.insert("m", 0, unit(1.0), "a")
    hit = store.lookup("m", 0, query, threshold)
    assert (hit.value if hit else None) == expected
    if hit:
        assert hit.similarity == pytest.approx(float(unit(1.0) @ query), abs=1e-6)


def test_best_match_wins() -> None:
    store, _ = make()
    store.insert("m", 0, unit(1.0, 0.3), "near")
    store.insert("m", 0, unit(1.0, 0.05), "nearest")
    hit = store.lookup("m", 0, unit(1.0), 0.9)
    assert hit is not None and hit.value == "nearest"


def test_entries_expire_after_the_ttl() -> None:
    store, clock = make(ttl=30.0)
    store.insert("m", 0, axis(0), "a")
    clock.now += 29.9
    assert store.lookup("m", 0, axis(0), 0.9) is not None
    clock.now += 0.1
    assert store.lookup("m", 0, axis(0), 0.9) is None
    assert store.size("m") == 0


def test_lru_bound_per_model_evicts_the_least_recently_used() -> None:
    store, _ = make(max_entries=3)
    for i in range(3):
        store.insert("m", 0, axis(i), f"e{i}")
    assert store.lookup("m", 0, axis(0), 0.9) is not None  # e0 is now the most recent
    store.insert("m", 0, axis(3), "e3")  # evicts e1
    assert store.size("m") == 3
    assert store.lookup("m", 0, axis(1), 0.9) is None
    for i in (0, 2, 3):
        hit = store.lookup("m", 0, axis(i), 0.9)
        assert hit is not None and hit.value == f"e{i}"


def test_models_are_isolated_and_bounded_separately() -> None:
    store, _ = make(max_entries=2)
    store.insert("a", 0, axis(0), "a0")
    for i in range(5):
        store.insert("b", 0, axis(i), f"b{i}")
    assert store.lookup("b", 0, axis(0), 0.9) is None
    hit = store.lookup("a", 0, axis(0), 0.9)
    assert hit is not None and hit.value == "a0"
    assert store.lookup("c", 0, axis(0), 0.1) is None
    assert (store.size("a"), store.size("b"), store.models()) == (1, 2, ["a", "b"])


def test_scopes_must_match_exactly() -> None:
    store, _ = make()
    store.insert("m", 1, axis(0), "one")
    store.insert("m", -2, axis(0), "two")
    assert store.lookup("m", 1, axis(0), 0.9).value == "one"  # type: ignore[union-attr]
    assert store.lookup("m", -2, axis(0), 0.9).value == "two"  # type: ignore[union-attr]
    assert store.lookup("m", 3, axis(0), 0.1) is None


def test_reinserting_the_same_prompt_replaces_instead_of_duplicating() -> None:
    store, _ = make()
    store.insert("m", 0, axis(0), "old")
    store.insert("m", 0, axis(0), "new")
    assert store.size("m") == 1
    assert store.lookup("m", 0, axis(0), 0.9).value == "new"  # type: ignore[union-attr]


def test_grows_past_the_initial_allocation_and_reuses_expired_rows() -> None:
    store, clock = make(max_entries=200, ttl=10.0)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(150, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, v in enumerate(vectors):
        store.insert("m", i, v, str(i))
    assert store.size("m") == 150
    assert store.lookup("m", 149, vectors[149], 0.99).value == "149"  # type: ignore[union-attr]
    clock.now += 11.0
    store.insert("m", 0, vectors[0], "fresh")
    assert store.size("m") == 1


def test_rejects_an_empty_bound() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        SemanticStore[str](dimension=DIM, max_entries=0, ttl=1.0, clock=Clock())
