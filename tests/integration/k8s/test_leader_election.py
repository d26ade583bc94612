"""Two EPPs with ``--ha-enable-leader-election`` on one pool: only the Lease holder is ready.

As upstream's health server under leader election: ``readiness``, ``""`` and the ext_proc
service follow synced-and-leader; ``liveness`` stays SERVING on the follower, so kubelet
never restarts it. When the leader stops (releasing the Lease), the follower becomes ready.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inference_gateway.app import Epp, EppSettings, KubernetesSourceSettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.sources.kubernetes import KubernetesSource
from inference_gateway.sources.kubernetes.lease import LeaderElectionSettings
from tests.integration.sources.conftest import SETTINGS, make_pool
from tests.integration.sources.fakeapi import FakeApiServer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def settings(kubeconfig: Path, identity: str) -> EppSettings:
    return EppSettings(
        kubernetes=KubernetesSourceSettings.model_validate(
            {"pool_name": "pool", "kubeconfig": str(kubeconfig), "timings": SETTINGS}
        ),
        grpc=ExtProcSettings(host="127.0.0.1", port=0, health_port=0),
        scrape=False,
        leader_election=LeaderElectionSettings(
            lease_duration=0.6, renew_deadline=0.4, retry_period=0.1, identity=identity
        ),
    )


async def status(epp: Epp, service: str) -> int:
    assert epp.server is not None
    async with grpc.aio.insecure_channel(f"127.0.0.1:{epp.server.health_port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service)
        )
    return int(reply.status)


async def until_status(epp: Epp, service: str, want: int) -> None:
    async with asyncio.timeout(10):
        while await status(epp, service) != want:  # noqa: ASYNC110 - a probe is a poll
            await asyncio.sleep(0.02)


async def test_only_the_leader_is_ready_and_the_follower_takes_over(tmp_path: Path) -> None:
    async with FakeApiServer() as api:
        api.put(make_pool(ports=(8000,)))
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        async with AsyncExitStack() as stack:
            first = await stack.enter_async_context(Epp(settings(kubeconfig, "first")))
            await until_status(first, "readiness", SERVING)
            second = await stack.enter_async_context(Epp(settings(kubeconfig, "second")))
            assert isinstance(second.source, KubernetesSource)
            await asyncio.wait_for(second.source.synced.wait(), 10)
            # Synced, but a follower: not ready for traffic, alive for kubelet.
            for service in ("readiness", "", "envoy.service.ext_proc.v3.ExternalProcessor"):
                assert await status(second, service) == NOT_SERVING
            assert await status(second, "liveness") == SERVING
            assert await status(first, "") == SERVING

            await first.__aexit__(None, None, None)  # the leader shuts down, releasing
            await until_status(second, "readiness", SERVING)
