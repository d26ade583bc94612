"""The datastore: the one place that knows pools, models, pods and endpoint metrics.

Sources write objects in (idempotent upserts and deletes, or a whole desired state with
``sync``); the request path reads immutable ``Endpoint`` snapshots. Endpoints are derived:
a pod is an endpoint of a pool when it is Ready, not terminating, in the pool's namespace and
matches its selector, once per target port. Metrics are keyed by ``ip:port`` because that is
what a model server is, whatever pool happens to select it; the metrics scraper learns about
endpoints appearing and disappearing through an ``EndpointListener``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from inference_gateway.datastore.objects import (
    ModelInfo,
    ObjectiveInfo,
    PodInfo,
    PoolInfo,
    RewriteInfo,
)
from inference_gateway.datastore.types import Endpoint, Metrics

log = logging.getLogger(__name__)


class EndpointListener(Protocol):
    """Told when a model server appears or goes; the scraper starts and stops loops here."""

    def endpoint_added(self, endpoint: Endpoint) -> None: ...

    def endpoint_removed(self, endpoint: Endpoint) -> None: ...


@dataclass(frozen=True, slots=True)
class _Slot:
    """An endpoint without its changing parts (metrics and in-flight count)."""

    name: str
    address: str
    port: int
    pool: str
    namespace: str
    labels: Mapping[str, str]

    @property
    def hostport(self) -> str:
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


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
        self._slots: dict[str, tuple[_Slot, ...]] = {}
        self._live: frozenset[str] = frozenset()
        self._metrics: dict[str, Metrics] = {}
        self._in_flight: dict[str, int] = {}
        self._failures: dict[str, tuple[int, float]] = {}
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
        self._reconcile_endpoints()

    def delete_pool(self, key: str) -> None:
        if self._pools.pop(key, None) is not None:
            self._reconcile_endpoints()

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
        self._reconcile_endpoints()

    def delete_pod(self, key: str) -> None:
        if self._pods.pop(key, None) is not None:
            self._reconcile_endpoints()

    def pods(self) -> tuple[PodInfo, ...]:
        return tuple(self._pods.values())

    # --- whole-state replacement (file source reloads) -------------------------------------
    def sync(self, state: DesiredState) -> None:
        self._pools = {p.key: p for p in state.pools}
        self._pods = {p.key: p for p in state.pods}
        self._model_claims = {m.key: m for m in state.models}
        self._objectives = {o.key: o for o in state.objectives}
        self._rewrites = {r.key: r for r in state.rewrites}
        self._resolve_models()
        self._reconcile_endpoints()

    # --- endpoints --------------------------------------------------------------------------
    def _reconcile_endpoints(self) -> None:
        before = {s.hostport: s for slots in self._slots.values() for s in slots}
        slots: dict[str, tuple[_Slot, ...]] = {}
        for pool in self._pools.values():
            slots[pool.key] = tuple(_slots_for(pool, self._pods.values()))
        self._slots = slots
        after = {s.hostport: s for pool_slots in slots.values() for s in pool_slots}
        self._live = frozenset(after)
        for hostport, slot in before.items():
            if hostport not in after:
                self._metrics.pop(hostport, None)
                self._failures.pop(hostport, None)
                for listener in self._listeners:
                    listener.endpoint_removed(self._endpoint(slot))
        for hostport, slot in after.items():
            if hostport not in before:
                for listener in self._listeners:
                    listener.endpoint_added(self._endpoint(slot))
        for callback in self._change_callbacks:
            callback()

    def _endpoint(self, slot: _Slot) -> Endpoint:
        hostport = slot.hostport
        failures, failed_at = self._failures.get(hostport, _NEVER_FAILED)
        return Endpoint(
            name=slot.name,
            address=slot.address,
            port=slot.port,
            pool=slot.pool,
            namespace=slot.namespace,
            labels=slot.labels,
            metrics=self._metrics.get(hostport) or _NEVER_SCRAPED,
            in_flight=self._in_flight.get(hostport, 0),
            consecutive_failures=failures,
            last_failure_at=failed_at,
        )

    def endpoints(self, pool_key: str) -> tuple[Endpoint, ...]:
        """A snapshot of the pool's endpoints with their latest metrics and in-flight counts."""
        return tuple(self._endpoint(s) for s in self._slots.get(pool_key, ()))

    def all_endpoints(self) -> tuple[Endpoint, ...]:
        seen: dict[str, Endpoint] = {}
        for slots in self._slots.values():
            for slot in slots:
                seen.setdefault(slot.hostport, self._endpoint(slot))
        return tuple(seen.values())

    def set_metrics(self, hostport: str, metrics: Metrics) -> None:
        """Swap in a new snapshot; ignored for endpoints that left while a scrape ran."""
        if hostport in self._live:
            self._metrics[hostport] = metrics

    def metrics(self, hostport: str) -> Metrics | None:
        return self._metrics.get(hostport)

    def acquire(self, hostport: str) -> None:
        self._in_flight[hostport] = self._in_flight.get(hostport, 0) + 1

    def release(self, hostport: str) -> None:
        left = self._in_flight.get(hostport, 0) - 1
        if left > 0:
            self._in_flight[hostport] = left
        else:
            self._in_flight.pop(hostport, None)

    def in_flight(self, hostport: str) -> int:
        return self._in_flight.get(hostport, 0)

    def record_outcome(self, hostport: str, *, ok: bool, now: float) -> None:
        """One finished request's verdict on the endpoint that served it (passive health).

        A failure extends the endpoint's run of consecutive failures, a success ends it.
        Only live endpoints are tracked, so a pod that leaves takes its record with it.
        """
        if ok:
            self._failures.pop(hostport, None)
        elif hostport in self._live:
            count = self._failures.get(hostport, _NEVER_FAILED)[0]
            self._failures[hostport] = (count + 1, now)

    def failures(self, hostport: str) -> int:
        """The endpoint's current run of consecutive failures (0 when healthy)."""
        return self._failures.get(hostport, _NEVER_FAILED)[0]


_NEVER_SCRAPED = Metrics()
_NEVER_FAILED = (0, float("-inf"))


def _slots_for(pool: PoolInfo, pods: Iterable[PodInfo]) -> Iterable[_Slot]:
    multi = len(pool.target_ports) > 1
    for pod in sorted(pods, key=lambda p: p.key):
        if not (pod.serving and pool.selects(pod)):
            continue
        active = pod.active_ports()
        for rank, port in enumerate(pool.target_ports):
            if active is not None and port not in active:
                continue
            yield _Slot(
                name=f"{pod.name}-rank-{rank}" if multi else pod.name,
                address=pod.address,
                port=port,
                pool=pool.key,
                namespace=pod.namespace,
                labels=pod.labels,
            )
