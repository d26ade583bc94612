"""Endpoint state as the scheduler sees it.

These are the frozen value types every layer shares: the metrics scraper builds a new
``Metrics`` per scrape and swaps it in whole (never mutating one), the datastore pairs it
with the pod's address in an ``Endpoint``, and the scheduler reads tuples of endpoints.
An ``Endpoint`` is read-only to everyone but the datastore that published it: it is the
cell of one ``ip:port`` in a pool's view, and the datastore writes that cell's changing
fields (``metrics``, ``in_flight``, ``consecutive_failures``, ``last_failure_at``) in place,
so a scrape never rebuilds a view. Endpoints built directly (tests, benchmarks) are plain
values; ``dataclasses.replace`` makes a detached copy.
Time is a float in seconds from whatever clock the owner injects (``time.monotonic`` in the
servers, the virtual clock in benchmarks), so staleness is ``now - metrics.updated_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Metrics:
    """One scrape of one model server, normalised across engines."""

    waiting: int = 0
    running: int = 0
    kv_usage: float = 0.0
    running_adapters: frozenset[str] = frozenset()
    waiting_adapters: frozenset[str] = frozenset()
    max_adapters: int = 0
    block_size: int | None = None
    num_blocks: int | None = None
    updated_at: float = float("-inf")
    """Clock time of the scrape; -inf means never scraped successfully."""

    @property
    def active_adapters(self) -> frozenset[str]:
        """Adapters resident or about to be: the running and waiting sets together."""
        return self.running_adapters | self.waiting_adapters

    def age(self, now: float) -> float:
        return now - self.updated_at


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A schedulable target: one pod, one port (``<pod>-rank-<i>`` when a pool has several)."""

    name: str
    address: str
    port: int
    pool: str = "default"
    namespace: str = "default"
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY_LABELS)
    metrics: Metrics = field(default_factory=Metrics)
    in_flight: int = 0
    """Requests the EPP has sent here and not yet seen finish (its own count, never stale)."""
    consecutive_failures: int = 0
    """Requests in a row that this endpoint answered with a 5xx or a broken connection;
    a success resets it (passive health: scheduling decides what the count means)."""
    last_failure_at: float = float("-inf")
    """Clock time of the latest such failure; -inf when it never failed."""

    @property
    def hostport(self) -> str:
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"
