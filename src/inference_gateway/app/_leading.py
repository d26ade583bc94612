"""Readiness under leader election: SERVING only while synced *and* holding the Lease.

As upstream's ``cmd/epp/runner/health.go`` with ``--ha-enable-leader-election``: the
``liveness`` service stays SERVING on every replica (a follower must not be restarted),
while readiness, ``""`` and the ext_proc service follow ``synced and leader``, so the
Service sends Envoy's streams to the leader only. Followers keep their datastore synced and
their scrapes running, so a takeover serves at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from inference_gateway.aio import spawn
from inference_gateway.sources.kubernetes.client import KubeClient
from inference_gateway.sources.kubernetes.lease import (
    LeaderElectionSettings,
    LeaderElector,
    lease_name,
)

if TYPE_CHECKING:
    from inference_gateway.app.epp import KubernetesSourceSettings
    from inference_gateway.extproc.server import ExtProcServer
    from inference_gateway.sources.kubernetes import KubernetesSource

log = logging.getLogger(__name__)


@asynccontextmanager
async def lead_then_serve(
    kube: KubernetesSourceSettings,
    settings: LeaderElectionSettings,
    source: KubernetesSource,
    server: ExtProcServer,
) -> AsyncIterator[LeaderElector]:
    """Campaign for the pool's Lease while the block runs; release it on the way out."""
    client = await KubeClient.connect(kube.kubeconfig, kube.timings)
    elector = LeaderElector(
        client,
        namespace=kube.pool_namespace,
        name=lease_name(kube.pool_namespace, kube.pool_name),
        settings=settings,
    )
    tasks: set[asyncio.Task[None]] = set()
    spawn(elector.run(), name="epp-leader-election", owner=tasks)
    spawn(_follow(elector, source, server), name="epp-serve-when-leading", owner=tasks)
    try:
        yield elector
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await elector.release()
        await client.close()


async def _follow(elector: LeaderElector, source: KubernetesSource, server: ExtProcServer) -> None:
    synced = asyncio.ensure_future(source.synced.wait())
    try:
        while True:
            ready = synced.done() and elector.is_leader
            await server.set_serving(ready)
            changed = asyncio.ensure_future(elector.changed.wait())
            waiting = {changed} if synced.done() else {changed, synced}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if changed.done():
                elector.changed.clear()
            else:
                changed.cancel()
    finally:
        synced.cancel()
