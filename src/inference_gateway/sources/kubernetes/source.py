"""The Kubernetes source: watches one InferencePool and everything that feeds it.

Five watches run side by side, each mirrored into the datastore: the pool itself (by
name, in the group chosen by ``pool_group``), the InferenceModels, InferenceObjectives and
InferenceModelRewrites that name it, and the namespace's Pods (the datastore decides which
of them are endpoints). The three model CRDs are optional: a cluster without them gets a
warning and a slow retry, and the pool is served all the same.

In upstream's pool-less mode (``--endpoint-selector``, ``endpoint_pool``) there is no
InferencePool: the pool is the selector and target ports given, named after the EPP's
Deployment, and only the Pods are watched. As upstream (which then starts no CRD
reconcilers), no model CRD is read; a lone v1 pool without models serves any model name.

The datastore is marked synced (gRPC health turns SERVING) once the pool exists and every
watch has completed its first list. InferenceModels get an ``Accepted`` status condition,
``False/ModelNameInUse`` for the younger of two claiming one modelName, written only when it
differs from what the object already says.
"""

from __future__ import annotations

import asyncio
import logging

from inference_gateway.aio import spawn, stop
from inference_gateway.api import (
    ApiObject,
    InferenceModel,
    InferenceModelRewrite,
    InferenceObjective,
    InferencePoolV1,
    InferencePoolV1Alpha2,
    Pod,
)
from inference_gateway.datastore import Datastore, PoolInfo
from inference_gateway.datastore.objects import object_key
from inference_gateway.sources import convert
from inference_gateway.sources.convert import Record
from inference_gateway.sources.kubernetes.client import KubeClient, Resource
from inference_gateway.sources.kubernetes.mirror import Mirror
from inference_gateway.sources.kubernetes.settings import KubeSettings
from inference_gateway.sources.kubernetes.status import ModelStatusWriter
from inference_gateway.sources.kubernetes.watching import WatchSpec, watch_forever

log = logging.getLogger(__name__)

GA_GROUP = "inference.networking.k8s.io"
X_GROUP = "inference.networking.x-k8s.io"

POOL_V1 = Resource(GA_GROUP, "v1", "inferencepools", "InferencePool")
POOL_V1ALPHA2 = Resource(X_GROUP, "v1alpha2", "inferencepools", "InferencePool")
MODELS = Resource(X_GROUP, "v1alpha2", "inferencemodels", "InferenceModel")
OBJECTIVES = Resource(X_GROUP, "v1alpha2", "inferenceobjectives", "InferenceObjective")
REWRITES = Resource(X_GROUP, "v1alpha2", "inferencemodelrewrites", "InferenceModelRewrite")
PODS = Resource("", "v1", "pods", "Pod")


class KubernetesSource:
    """``async with KubernetesSource(datastore, pool_name=...)``: mirrors while entered."""

    def __init__(
        self,
        datastore: Datastore,
        *,
        pool_name: str,
        pool_namespace: str = "default",
        pool_group: str = GA_GROUP,
        kubeconfig: str | None = None,
        settings: KubeSettings | None = None,
        endpoint_pool: PoolInfo | None = None,
    ) -> None:
        if endpoint_pool is not None:
            pool_name, pool_namespace = endpoint_pool.name, endpoint_pool.namespace
        if pool_group not in (GA_GROUP, X_GROUP):
            raise ValueError(f"--pool-group must be {GA_GROUP} or {X_GROUP}, not {pool_group!r}")
        self._datastore = datastore
        self._pool_name = pool_name
        self._namespace = pool_namespace
        self._pool_resource = POOL_V1 if pool_group == GA_GROUP else POOL_V1ALPHA2
        self._kubeconfig = kubeconfig
        self._endpoint_pool = endpoint_pool
        self._settings = settings or KubeSettings()
        self._client: KubeClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._mirrors: list[Mirror] = []
        self._status: ModelStatusWriter | None = None
        self.synced = asyncio.Event()
        self._pool_listed = asyncio.Event()

    def unreadable(self) -> dict[str, int]:
        """Objects that failed validation so far, per watch (pools, models, ... pods)."""
        return {m.name: m.unreadable_total for m in self._mirrors}

    @property
    def pool_key(self) -> str:
        return object_key(self._namespace, self._pool_name)

    async def __aenter__(self) -> KubernetesSource:
        client = await KubeClient.connect(self._kubeconfig, self._settings)
        self._client = client
        store = self._datastore
        pods = (
            WatchSpec(PODS, self._namespace),
            Mirror("pods", convert=self._pod, upsert=store.upsert_pod, delete=store.delete_pod),
        )
        if self._endpoint_pool is not None:
            store.upsert_pool(self._endpoint_pool)
            self._pool_listed.set()
            self._mirrors = [pods[1]]
            self._tasks = [spawn(self._run(*pods, None), name="k8s-watch:pods")]
            return self
        self._status = ModelStatusWriter(client, store, MODELS, self._settings)
        watches = [
            (
                WatchSpec(
                    self._pool_resource,
                    self._namespace,
                    field_selector=f"metadata.name={self._pool_name}",
                ),
                Mirror(
                    "pool", convert=self._pool, upsert=store.upsert_pool, delete=store.delete_pool
                ),
            ),
            (
                WatchSpec(MODELS, self._namespace, optional=True),
                Mirror(
                    "inferencemodels",
                    convert=self._model,
                    upsert=store.upsert_model,
                    delete=store.delete_model,
                ),
            ),
            (
                WatchSpec(OBJECTIVES, self._namespace, optional=True),
                Mirror(
                    "inferenceobjectives",
                    convert=self._objective,
                    upsert=store.upsert_objective,
                    delete=store.delete_objective,
                ),
            ),
            (
                WatchSpec(REWRITES, self._namespace, optional=True),
                Mirror(
                    "inferencemodelrewrites",
                    convert=self._rewrite,
                    upsert=store.upsert_rewrite,
                    delete=store.delete_rewrite,
                ),
            ),
            pods,
        ]
        self._mirrors = [mirror for _, mirror in watches]
        self._tasks = [
            spawn(
                self._run(spec, mirror, self._status if spec.resource is MODELS else None),
                name=f"k8s-watch:{mirror.name}",
            )
            for spec, mirror in watches
        ]
        self._tasks.append(spawn(self._status.run(), name="k8s-model-status"))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await stop(task)
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _run(self, spec: WatchSpec, mirror: Mirror, status: ModelStatusWriter | None) -> None:
        assert self._client is not None
        if spec.resource is PODS:
            # Pods once the pool is known, so a big pool's pods join it a few at a time as
            # they are listed, not all in one step when the pool shows up after them.
            await self._pool_listed.wait()
        async for event in watch_forever(self._client, spec, self._settings):
            mirror.handle(event)
            if event.type == "LISTED" and spec.resource is self._pool_resource:
                self._pool_listed.set()
            if status is not None:
                status.observe(event)
            self._check_synced()

    def _check_synced(self) -> None:
        if self.synced.is_set():
            return
        if all(m.listed for m in self._mirrors) and self._datastore.pool(self.pool_key):
            self._datastore.mark_synced()
            self.synced.set()
            log.info("pool %s synced", self.pool_key)

    # --- conversion with the pool filter ---------------------------------------------------
    def _pool(self, obj: ApiObject) -> Record | None:
        if isinstance(obj, InferencePoolV1 | InferencePoolV1Alpha2):
            return convert.to_record(obj)
        return None

    def _model(self, obj: ApiObject) -> Record | None:
        if isinstance(obj, InferenceModel) and obj.spec.pool_ref.name == self._pool_name:
            return convert.model(obj)
        return None

    def _objective(self, obj: ApiObject) -> Record | None:
        if isinstance(obj, InferenceObjective) and obj.spec.pool_ref.name == self._pool_name:
            return convert.objective(obj)
        return None

    def _rewrite(self, obj: ApiObject) -> Record | None:
        if isinstance(obj, InferenceModelRewrite) and obj.spec.pool_ref.name == self._pool_name:
            return convert.rewrite(obj)
        return None

    def _pod(self, obj: ApiObject) -> Record | None:
        return convert.pod(obj) if isinstance(obj, Pod) else None


async def run_kubernetes_source(
    datastore: Datastore,
    *,
    pool_name: str,
    pool_namespace: str = "default",
    pool_group: str = GA_GROUP,
    kubeconfig: str | None = None,
) -> None:
    """Mirror the pool into ``datastore`` until cancelled (for a TaskGroup in the CLI)."""
    async with KubernetesSource(
        datastore,
        pool_name=pool_name,
        pool_namespace=pool_namespace,
        pool_group=pool_group,
        kubeconfig=kubeconfig,
    ):
        await asyncio.Event().wait()
