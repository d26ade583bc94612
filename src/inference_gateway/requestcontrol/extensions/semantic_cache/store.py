"""A bounded vector store: per model, (unit vector, value) entries with a TTL and LRU eviction.

Each model has its own partition, and ``max_entries`` bounds each partition, so a busy
model cannot evict a quiet one's answers. Within a partition an entry also carries a
``scope`` (a 64-bit hash of everything that must match exactly: API, sampling parameters,
earlier conversation turns); only entries of the request's scope are candidates. Vectors
are L2-normalised, so cosine similarity is one matrix-vector product over a contiguous
array (1,000 x 384 float32 is about 0.1 ms). Time comes from an injected clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

V = TypeVar("V")
Vector = npt.NDArray[np.float32]

_INITIAL_ROWS = 64
DUPLICATE_SIMILARITY = 0.9999
"""An insert this close to a live entry of the same scope replaces it instead of adding one
(concurrent misses on one prompt each fill the cache)."""


@dataclass(frozen=True, slots=True)
class Hit(Generic[V]):
    value: V
    similarity: float


class _Partition(Generic[V]):
    def __init__(self, dimension: int, rows: int) -> None:
        self.vectors = np.zeros((rows, dimension), dtype=np.float32)
        self.scopes = np.zeros(rows, dtype=np.int64)
        self.expires = np.full(rows, -np.inf, dtype=np.float64)
        self.values: list[V | None] = [None] * rows
        self.lru: OrderedDict[int, None] = OrderedDict()
        self.free: list[int] = []
        self.used = 0
        """High-water mark: rows at or after it were never written."""

    def best(self, scope: int, vector: Vector, now: float) -> tuple[int, float] | None:
        n = self.used
        if n == 0:
            return None
        sims = self.vectors[:n] @ vector
        live = (self.expires[:n] > now) & (self.scopes[:n] == scope)
        sims = np.where(live, sims, -np.inf)
        row = int(np.argmax(sims))
        sim = float(sims[row])
        return (row, sim) if sim > -np.inf else None

    def purge(self, now: float) -> None:
        n = self.used
        for row in np.nonzero(self.expires[:n] <= now)[0].tolist():
            if row in self.lru:
                self.drop(row)

    def drop(self, row: int) -> None:
        del self.lru[row]
        self.values[row] = None
        self.expires[row] = -np.inf
        self.vectors[row] = 0.0
        self.free.append(row)

    def allocate(self, max_entries: int) -> int:
        if self.free:
            return self.free.pop()
        if self.used < len(self.values):
            self.used += 1
            return self.used - 1
        if len(self.values) < max_entries:
            self._grow(min(max_entries, 2 * len(self.values)))
            self.used += 1
            return self.used - 1
        oldest = next(iter(self.lru))
        self.drop(oldest)
        return self.free.pop()

    def _grow(self, rows: int) -> None:
        extra = rows - len(self.values)
        dim = self.vectors.shape[1]
        self.vectors = np.concatenate([self.vectors, np.zeros((extra, dim), dtype=np.float32)])
        self.scopes = np.concatenate([self.scopes, np.zeros(extra, dtype=np.int64)])
        self.expires = np.concatenate([self.expires, np.full(extra, -np.inf)])
        self.values.extend([None] * extra)


class SemanticStore(Generic[V]):
    def __init__(
        self,
        *,
        dimension: int,
        max_entries: int,
        ttl: float,
        clock: Callable[[], float],
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.dimension = dimension
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        self._partitions: dict[str, _Partition[V]] = {}

    def lookup(self, model: str, scope: int, vector: Vector, threshold: float) -> Hit[V] | None:
        """The most similar live entry of ``model`` and ``scope``, if at least ``threshold``."""
        part = self._partitions.get(model)
        if part is None:
            return None
        found = part.best(scope, vector, self.clock())
        if found is None or found[1] < threshold:
            return None
        row, sim = found
        value = part.values[row]
        assert value is not None
        part.lru.move_to_end(row)
        return Hit(value, sim)

    def insert(self, model: str, scope: int, vector: Vector, value: V) -> None:
        part = self._partitions.get(model)
        if part is None:
            part = _Partition(self.dimension, min(self.max_entries, _INITIAL_ROWS))
            self._partitions[model] = part
        now = self.clock()
        part.purge(now)
        found = part.best(scope, vector, now)
        if found is not None and found[1] >= DUPLICATE_SIMILARITY:
            row = found[0]
        else:
            row = part.allocate(self.max_entries)
        part.vectors[row] = vector
        part.scopes[row] = scope
        part.expires[row] = now + self.ttl
        part.values[row] = value
        part.lru[row] = None
        part.lru.move_to_end(row)

    def size(self, model: str) -> int:
        """Live entries of ``model`` (expired ones not yet purged are not counted)."""
        part = self._partitions.get(model)
        if part is None:
            return 0
        n = part.used
        return int(np.count_nonzero(part.expires[:n] > self.clock()))

    def models(self) -> list[str]:
        return sorted(self._partitions)
