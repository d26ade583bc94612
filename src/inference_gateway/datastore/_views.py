"""The endpoint table behind ``Datastore``: published per-pool views and the cells in them.

Each pool publishes one tuple of ``Endpoint`` cells, sorted by pod key (then by rank), that
readers take as it is: ``endpoints(pool)`` is a dictionary lookup, not a copy. The tuple is
swapped whole when the pool's membership changes, and rebuilt lazily, on the first read after
a change, so a burst of pod events costs one rebuild. What changes between membership changes
(the latest metrics, the in-flight count, the passive-health record) is written into the
endpoint's cell in place, in every pool that holds the same ``ip:port``, so a scrape or an
acquire costs O(pools holding it) and never copies a view.

A pod event touches only that pod's cells in each pool (O(pools)); a pool event rebuilds that
pool (O(pods)). Listener notifications are computed per operation from refcount transitions
of each ``ip:port`` (absent -> present is "added", present -> absent is "removed"), so a pod
that hands its address to another in one ``sync`` keeps its metrics and is not re-announced.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from itertools import chain

from inference_gateway.datastore._load import InFlightLoad
from inference_gateway.datastore.objects import PodInfo, PoolInfo
from inference_gateway.datastore.types import Endpoint, Metrics

# Endpoint is frozen for every reader; the table owns the cells it publishes and is the one
# writer of their four changing fields.
_set = object.__setattr__

NEVER_SCRAPED = Metrics()
NEVER_FAILED = (0, float("-inf"))


def endpoint_slots(pool: PoolInfo, pod: PodInfo) -> list[tuple[str, int]]:
    """``(name, port)`` of each endpoint ``pod`` makes in ``pool`` (empty when none)."""
    if not (pod.serving and pool.selects(pod)):
        return []
    active = pod.active_ports()
    multi = len(pool.target_ports) > 1
    return [
        (f"{pod.name}-rank-{rank}" if multi else pod.name, port)
        for rank, port in enumerate(pool.target_ports)
        if active is None or port in active
    ]


class _PoolView:
    __slots__ = ("by_pod", "order", "pool", "view")

    def __init__(self, pool: PoolInfo) -> None:
        self.pool = pool
        self.by_pod: dict[str, tuple[Endpoint, ...]] = {}
        self.order: list[str] = []
        """Keys of ``by_pod``, sorted."""
        self.view: tuple[Endpoint, ...] | None = ()

    def published(self) -> tuple[Endpoint, ...]:
        view = self.view
        if view is None:
            view = self.view = tuple(chain.from_iterable(map(self.by_pod.__getitem__, self.order)))
        return view


def _same(cells: tuple[Endpoint, ...], pod: PodInfo, slots: list[tuple[str, int]]) -> bool:
    return len(cells) == len(slots) and all(
        c.name == name
        and c.port == port
        and c.address == pod.address
        and c.namespace == pod.namespace
        and c.labels == pod.labels
        for c, (name, port) in zip(cells, slots, strict=True)
    )


class EndpointTable:
    """Pools' published views plus the per-``ip:port`` state their cells mirror."""

    def __init__(self) -> None:
        self._views: dict[str, _PoolView] = {}
        self._cells: dict[str, list[Endpoint]] = {}
        """Live ``ip:port`` -> its cell in every pool that selects it."""
        self.metrics: dict[str, Metrics] = {}
        self.in_flight: dict[str, int] = {}
        self.load = InFlightLoad()
        self.failures: dict[str, tuple[int, float]] = {}
        self._touched: dict[str, tuple[bool, Endpoint]] = {}
        """``ip:port`` whose liveness changed in this operation -> (live before, a cell)."""

    # --- reads -------------------------------------------------------------------------------
    def endpoints(self, pool_key: str) -> tuple[Endpoint, ...]:
        view = self._views.get(pool_key)
        return () if view is None else view.published()

    def all_endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(cells[0] for cells in self._cells.values())

    def live(self, hostport: str) -> bool:
        return hostport in self._cells

    # --- cell updates (O(pools holding the ip:port)) ------------------------------------------
    def set_metrics(self, hostport: str, metrics: Metrics) -> None:
        cells = self._cells.get(hostport)
        if cells is not None:
            self.metrics[hostport] = metrics
            for cell in cells:
                _set(cell, "metrics", metrics)

    def add_in_flight(self, hostport: str, delta: int) -> None:
        old = self.in_flight.get(hostport, 0)
        count = old + delta
        if count > 0:
            self.in_flight[hostport] = count
        else:
            count = 0
            self.in_flight.pop(hostport, None)
        self.load.moved(old, count)
        for cell in self._cells.get(hostport, ()):
            _set(cell, "in_flight", count)

    def record_outcome(self, hostport: str, *, ok: bool, now: float) -> None:
        if ok:
            if self.failures.pop(hostport, None) is None:
                return
            record = NEVER_FAILED
        elif hostport in self._cells:
            record = (self.failures.get(hostport, NEVER_FAILED)[0] + 1, now)
            self.failures[hostport] = record
        else:
            return
        for cell in self._cells.get(hostport, ()):
            _set(cell, "consecutive_failures", record[0])
            _set(cell, "last_failure_at", record[1])

    # --- membership -----------------------------------------------------------------------------
    def set_pool(self, pool: PoolInfo, pods: Iterable[PodInfo]) -> None:
        """(Re)build one pool's view from every pod (O(pods)); a no-op when unchanged."""
        old = self._views.get(pool.key)
        if old is not None and old.pool == pool:
            return
        view = _PoolView(pool)
        for pod in pods:
            slots = endpoint_slots(pool, pod)
            if slots:
                view.by_pod[pod.key] = self._new_cells(pool, pod, slots)
        view.order = sorted(view.by_pod)
        view.view = None
        self._views[pool.key] = view
        if old is not None:
            self._drop_cells(old)

    def drop_pool(self, key: str) -> None:
        view = self._views.pop(key, None)
        if view is not None:
            self._drop_cells(view)

    def place(self, pod: PodInfo) -> None:
        """Make the pod's cells in every pool match it (O(pools))."""
        for view in self._views.values():
            slots = endpoint_slots(view.pool, pod)
            old = view.by_pod.get(pod.key)
            if old is None:
                if slots:
                    view.by_pod[pod.key] = self._new_cells(view.pool, pod, slots)
                    insort(view.order, pod.key)
                    view.view = None
                continue
            if _same(old, pod, slots):
                continue
            if slots:
                view.by_pod[pod.key] = self._new_cells(view.pool, pod, slots)
            else:
                del view.by_pod[pod.key]
                del view.order[bisect_left(view.order, pod.key)]
            view.view = None
            for cell in old:
                self._unregister(cell)

    def remove_pod(self, key: str) -> None:
        for view in self._views.values():
            old = view.by_pod.pop(key, None)
            if old is not None:
                del view.order[bisect_left(view.order, key)]
                view.view = None
                for cell in old:
                    self._unregister(cell)

    def changes(self) -> tuple[list[Endpoint], list[Endpoint]]:
        """Endpoints that went and came since the last call; forgets the state of the gone."""
        removed: list[Endpoint] = []
        added: list[Endpoint] = []
        for hostport, (was_live, cell) in self._touched.items():
            cells = self._cells.get(hostport)
            if was_live and cells is None:
                removed.append(cell)
                self.metrics.pop(hostport, None)
                self.failures.pop(hostport, None)
            elif cells is not None and not was_live:
                added.append(cells[0])
        self._touched.clear()
        return removed, added

    # --- cells -----------------------------------------------------------------------------------
    def _new_cells(
        self, pool: PoolInfo, pod: PodInfo, slots: list[tuple[str, int]]
    ) -> tuple[Endpoint, ...]:
        cells = []
        for name, port in slots:
            hostport = f"[{pod.address}]:{port}" if ":" in pod.address else f"{pod.address}:{port}"
            failures, failed_at = self.failures.get(hostport, NEVER_FAILED)
            cell = Endpoint(
                name=name,
                address=pod.address,
                port=port,
                pool=pool.key,
                namespace=pod.namespace,
                labels=pod.labels,
                metrics=self.metrics.get(hostport, NEVER_SCRAPED),
                in_flight=self.in_flight.get(hostport, 0),
                consecutive_failures=failures,
                last_failure_at=failed_at,
            )
            self._register(hostport, cell)
            cells.append(cell)
        return tuple(cells)

    def _register(self, hostport: str, cell: Endpoint) -> None:
        cells = self._cells.get(hostport)
        if cells is None:
            self._touched.setdefault(hostport, (False, cell))
            self._cells[hostport] = [cell]
        else:
            cells.append(cell)

    def _unregister(self, cell: Endpoint) -> None:
        hostport = cell.hostport
        cells = self._cells[hostport]
        for i, held in enumerate(cells):
            if held is cell:
                del cells[i]
                break
        if not cells:
            del self._cells[hostport]
            self._touched.setdefault(hostport, (True, cell))

    def _drop_cells(self, view: _PoolView) -> None:
        for cells in view.by_pod.values():
            for cell in cells:
                self._unregister(cell)
