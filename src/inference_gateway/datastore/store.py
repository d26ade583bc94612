"""The datastore: the one place that knows pools, models, pods and endpoint metrics.

Sources write objects in (idempotent upserts and deletes, or a whole desired state with
``sync``); the request path reads each pool's published tuple of ``Endpoint`` cells
(``_views.EndpointTable``: O(1) to read, cells updated in place by scrapes, in-flight changes
and passive health, a pod event touching only that pod's cells). Endpoints are derived:
a pod is an endpoint of a pool when it is Ready, not terminating, in the pool's namespace and
matches its selector, once per target port. Metrics are keyed by ``ip:port`` because that is
what a model server is, whatever pool happens to select it; the metrics scraper learns about
endpoints appearing and disappearing through an ``EndpointListener``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from inference_gateway.datastore._load import LoadWatch
from inference_gateway.datastore._views import NEVER_FAILED, EndpointTable
from inference_gateway.datastore.objects import (
    ModelInfo,
    ObjectiveInfo,
    PodInfo,
    PoolInfo,
    RewriteInfo,
)
from inference_gateway.datastore.types import Endpoint, Metrics

log = logging.getLogger(__name__)

SYNC_STEP = 100
"""Pods applied per step of ``sync_steps``. Placing a pod and starting its scrape loop (the
listener) cost ~25-90 us on a busy 2-core box (``bench pool-load``: 250-pod steps took 6-9 ms,
22 ms at worst, when every pod moved), so a step stays a few ms and far below 50 ms."""


class EndpointListener(Protocol):
    """Told when a model server appears or goes; the scraper starts and stops loops here."""

    def endpoint_added(self, endpoint: Endpoint) -> None: ...

    def endpoint_removed(self, endpoint: Endpoint) -> None: ...


@dataclass(frozen=True, slots=True)
class DesiredState:
    """Everything a source knows at once; ``Datastore.sync`` makes the store equal to it."""

    pools: tuple[PoolInfo, ...] = ()
    models: tuple[ModelInfo, ...] = ()
    pods: tuple[PodInfo, ...] = ()
    objectives: tuple[ObjectiveInfo, ...] = ()
    rewrites: tuple[RewriteInfo, ...] = ()


class Datastore:
    def __init__(self, *, listeners: Iterable[EndpointListener] = ()) -> None:
        self._listeners: list[EndpointListener] = list(listeners)
        self._pools: dict[str, PoolInfo] = {}
        self._model_claims: dict[str, ModelInfo] = {}
        self._models: dict[str, ModelInfo] = {}
        self._pods: dict[str, PodInfo] = {}
        self._objectives: dict[str, ObjectiveInfo] = {}
        self._rewrites: dict[str, RewriteInfo] = {}
        self._table = EndpointTable()
        self._synced = False
        self._change_callbacks: list[Callable[[], None]] = []

    # --- wiring -------------------------------------------------------------------------
    def add_listener(self, listener: EndpointListener) -> None:
        self._listeners.append(listener)
        for ep in self.all_endpoints():
            listener.endpoint_added(ep)

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after any change of pools or their endpoint sets."""
        self._change_callbacks.append(callback)

    def mark_synced(self) -> None:
        self._synced = True

    @property
    def synced(self) -> bool:
        return self._synced

    # --- pools ----------------------------------------------------------------------------
    def upsert_pool(self, pool: PoolInfo) -> None:
        if self._pools.get(pool.key) == pool:
            return
        self._pools[pool.key] = pool
        self._table.set_pool(pool, self._pods.values())
        self._changed()

    def delete_pool(self, key: str) -> None:
        if self._pools.pop(key, None) is not None:
            self._table.drop_pool(key)
            self._changed()

    def pool(self, key: str) -> PoolInfo | None:
        return self._pools.get(key)

    def pools(self) -> tuple[PoolInfo, ...]:
        return tuple(self._pools.values())

    # --- models (oldest claim on a modelName wins) ----------------------------------------
    def upsert_model(self, model: ModelInfo) -> None:
        self._model_claims[model.key] = model
        self._resolve_models()

    def delete_model(self, key: str) -> None:
        if self._model_claims.pop(key, None) is not None:
            self._resolve_models()

    def model(self, model_name: str) -> ModelInfo | None:
        return self._models.get(model_name)

    def models(self) -> tuple[ModelInfo, ...]:
        return tuple(self._models.values())

    def model_claims(self) -> tuple[ModelInfo, ...]:
        return tuple(self._model_claims.values())

    def model_accepted(self, key: str) -> bool:
        """False for a claim that lost its modelName to an older one (ModelNameInUse)."""
        claim = self._model_claims.get(key)
        return claim is not None and self._models.get(claim.model_name) == claim

    def _resolve_models(self) -> None:
        winners: dict[str, ModelInfo] = {}
        for claim in self._model_claims.values():
            best = winners.get(claim.model_name)
            if best is None or (claim.created, claim.key) < (best.created, best.key):
                winners[claim.model_name] = claim
        self._models = winners

    # --- objectives and rewrites ---------------------------------------------------------
    def upsert_objective(self, objective: ObjectiveInfo) -> None:
        self._objectives[objective.key] = objective

    def delete_objective(self, key: str) -> None:
        self._objectives.pop(key, None)

    def objective(self, namespace: str, name: str) -> ObjectiveInfo | None:
        return self._objectives.get(f"{namespace}/{name}")

    def upsert_rewrite(self, rewrite: RewriteInfo) -> None:
        self._rewrites[rewrite.key] = rewrite

    def delete_rewrite(self, key: str) -> None:
        self._rewrites.pop(key, None)

    def rewrites(self, pool_key: str) -> tuple[RewriteInfo, ...]:
        """Rewrites for a pool, oldest first (the precedence order between objects)."""
        found = [r for r in self._rewrites.values() if f"{r.namespace}/{r.pool}" == pool_key]
        return tuple(sorted(found, key=lambda r: (r.created, r.key)))

    # --- pods -------------------------------------------------------------------------------
    def upsert_pod(self, pod: PodInfo) -> None:
        if self._pods.get(pod.key) == pod:
            return
        self._pods[pod.key] = pod
        self._table.place(pod)
        self._changed()

    def delete_pod(self, key: str) -> None:
        if self._pods.pop(key, None) is not None:
            self._table.remove_pod(key)
            self._changed()

    def pods(self) -> tuple[PodInfo, ...]:
        return tuple(self._pods.values())

    # --- whole-state replacement (file source reloads) -------------------------------------
    def sync(self, state: DesiredState) -> None:
        """Make the store equal to ``state`` in one step (listeners and callbacks once)."""
        for _ in self.sync_steps(state, step=None):
            pass

    def sync_steps(self, state: DesiredState, *, step: int | None = SYNC_STEP) -> Iterator[None]:
        """``sync``, pausing after every ``step`` changed pods so the caller can yield.

        Only what differs is touched. Pools, models, objectives and rewrites change in the
        first step; then changed pods are placed and, last, pods that went are removed, so an
        address that moves from one pod to another keeps its metrics and is not announced
        twice. Between steps every object is either as it was or as ``state`` has it, and
        listeners and callbacks have been told about everything applied so far.
        """
        new_pods = {p.key: p for p in state.pods}
        old_pools, self._pools = self._pools, {p.key: p for p in state.pools}
        self._model_claims = {m.key: m for m in state.models}
        self._objectives = {o.key: o for o in state.objectives}
        self._rewrites = {r.key: r for r in state.rewrites}
        self._resolve_models()
        table = self._table
        for key in old_pools:
            if key not in self._pools:
                table.drop_pool(key)
        for pool in self._pools.values():
            table.set_pool(pool, self._pods.values())
        changed = [pod for pod in state.pods if self._pods.get(pod.key) != pod]
        gone = [key for key in self._pods if key not in new_pods]
        done = 0
        for pod in changed:
            self._pods[pod.key] = pod
            table.place(pod)
            done += 1
            if done == step:
                done = 0
                self._changed()
                yield
        for key in gone:
            del self._pods[key]
            table.remove_pod(key)
            done += 1
            if done == step:
                done = 0
                self._changed()
                yield
        self._changed()

    # --- endpoints --------------------------------------------------------------------------
    def _changed(self) -> None:
        removed, added = self._table.changes()
        for endpoint in removed:
            for listener in self._listeners:
                listener.endpoint_removed(endpoint)
        for endpoint in added:
            for listener in self._listeners:
                listener.endpoint_added(endpoint)
        for callback in self._change_callbacks:
            callback()

    def endpoints(self, pool_key: str) -> tuple[Endpoint, ...]:
        """The pool's published endpoints, sorted by pod key: O(1), no copy.

        The tuple is replaced when the pool's membership changes; the cells in it carry the
        latest metrics, in-flight count and failure record, updated in place. Read them
        within one synchronous step (a scheduling cycle) and do not keep them as history.
        """
        return self._table.endpoints(pool_key)

    def all_endpoints(self) -> tuple[Endpoint, ...]:
        """One endpoint per ``ip:port`` across all pools."""
        return self._table.all_endpoints()

    def set_metrics(self, hostport: str, metrics: Metrics) -> None:
        """Swap in a new snapshot; ignored for endpoints that left while a scrape ran."""
        self._table.set_metrics(hostport, metrics)

    def metrics(self, hostport: str) -> Metrics | None:
        return self._table.metrics.get(hostport)

    def acquire(self, hostport: str) -> None:
        self._table.add_in_flight(hostport, 1)

    def release(self, hostport: str) -> None:
        self._table.add_in_flight(hostport, -1)

    def in_flight(self, hostport: str) -> int:
        return self._table.in_flight.get(hostport, 0)

    def load_watch(self, level: int) -> LoadWatch:
        """O(1) running totals of the in-flight counts: see ``datastore._load``."""
        table = self._table
        return table.load.watch(level, table.in_flight.values())

    def record_outcome(self, hostport: str, *, ok: bool, now: float) -> None:
        """One finished request's verdict on the endpoint that served it (passive health).

        A failure extends the endpoint's run of consecutive failures, a success ends it.
        Only live endpoints are tracked, so a pod that leaves takes its record with it.
        """
        self._table.record_outcome(hostport, ok=ok, now=now)

    def failures(self, hostport: str) -> int:
        """The endpoint's current run of consecutive failures (0 when healthy)."""
        return self._table.failures.get(hostport, NEVER_FAILED)[0]
