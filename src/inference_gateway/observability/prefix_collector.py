"""Upstream's prefix-indexer metrics, read from the prefix-cache scorers at scrape time.

``inference_extension_prefix_indexer_size`` (entries in the index), and per scored request
``inference_extension_prefix_indexer_hit_ratio`` (longest matched prefix / prefix looked up)
and ``..._hit_bytes`` (the matched length). The scheduling core stays pure: the scorer only
keeps the matches since the last read, and this collector observes them when scraped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

# Upstream v1.5.0 pkg/epp/metrics/metrics.go.
HIT_RATIO_BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
HIT_BYTES_BUCKETS = (
    0.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0,
    32768.0, 65536.0,
)  # fmt: skip


class PrefixIndex(Protocol):
    def index_size(self) -> int: ...

    def take_matches(self) -> list[tuple[int, int]]: ...


class PrefixIndexerCollector:
    def __init__(self, indexes: Sequence[PrefixIndex]) -> None:
        self._indexes = tuple(indexes)
        self._ratio = Histogram(
            "inference_extension_prefix_indexer_hit_ratio",
            "Ratio of prefix length matched to total prefix length in the cache lookup.",
            buckets=HIT_RATIO_BUCKETS,
            registry=None,
        )
        self._bytes = Histogram(
            "inference_extension_prefix_indexer_hit_bytes",
            "Length of the prefix match in number of bytes in the cache lookup.",
            buckets=HIT_BYTES_BUCKETS,
            registry=None,
        )

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("inference_extension_prefix_indexer_size", "")
        yield from self._ratio.describe()
        yield from self._bytes.describe()

    def collect(self) -> Iterator[Metric]:
        for index in self._indexes:
            for matched, total in index.take_matches():
                self._ratio.observe(matched / total if total else 0.0)
                self._bytes.observe(matched)
        yield GaugeMetricFamily(
            "inference_extension_prefix_indexer_size",
            "Size of the prefix indexer.",
            value=sum(index.index_size() for index in self._indexes),
        )
        yield from self._ratio.collect()
        yield from self._bytes.collect()
