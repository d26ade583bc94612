"""Upstream's Helm chart args (v1.0.2, v1.5.0; ``tests/upstream/epp_args.yaml``) start our EPP.

Each variant runs the real ``epp`` process with the chart's args as they are, plus only what
the test must change: the ConfigMap path (the matching upstream default-plugins file), the
kubeconfig of the fake API server, and loopback ports chosen by the kernel. It must become
ready (SERVING once the pool exists, and with leader election once it holds the Lease) and
exit 0 on SIGTERM; a usage error or a refused config would exit 2 before that.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.gateway.test_cli import read_until, start, stop
from tests.integration.sources.conftest import make_pool
from tests.integration.sources.fakeapi import FakeApiServer

UPSTREAM = Path(__file__).parents[2] / "upstream"
ARGS = yaml.safe_load((UPSTREAM / "epp_args.yaml").read_text())
CONFIGS = {"v1.0.2": "default_plugins_v1.0.2.yaml", "v1.5.0": "default_plugins_v1.5.0.yaml"}
VARIANTS = [(tag, name) for tag, variants in ARGS.items() for name in variants]
SERVING = health_pb2.HealthCheckResponse.SERVING


def chart_args(tag: str, variant: str, kubeconfig: Path) -> list[str]:
    config = str(UPSTREAM / CONFIGS[tag])
    args = [config if a == "/config/default-plugins.yaml" else a for a in ARGS[tag][variant]]
    return [
        "epp", *args, "--kubeconfig", str(kubeconfig), "--host", "127.0.0.1",
        "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0",
        "--metrics-host", "127.0.0.1",
    ]  # fmt: skip


@pytest.mark.parametrize(("tag", "variant"), VARIANTS)
async def test_upstream_chart_args_start_the_epp(tmp_path: Path, tag: str, variant: str) -> None:
    async with FakeApiServer() as api:
        pool = make_pool(ports=(8000,))
        if "--pool-group" in ARGS[tag][variant] and "x-k8s" in " ".join(ARGS[tag][variant]):
            pool = {
                "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
                "kind": "InferencePool",
                "metadata": {"name": "pool", "namespace": "default"},
                "spec": {
                    "selector": {"app": "vllm"},
                    "targetPortNumber": 8000,
                    "extensionRef": {"name": "epp"},
                },
            }
        api.put(pool)
        proc = await start(*chart_args(tag, variant, api.kubeconfig(tmp_path / "kubeconfig")))
        try:
            assert proc.stderr is not None
            found = await read_until(proc.stderr, r"ext_proc 127\.0\.0\.1:(\d+), health (\d+)")
            request = health_pb2.HealthCheckRequest(service="readiness")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{found[2]}") as channel:
                check = health_pb2_grpc.HealthStub(channel).Check
                async with asyncio.timeout(15):  # another process: polling is all there is
                    while (await check(request)).status != SERVING:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
        finally:
            code = await stop(proc, signal.SIGTERM)
        assert code == 0
        if "--ha-enable-leader-election" in ARGS[tag][variant]:
            leases = [k for k in api.objects if k[1] == "leases"]
            assert [k[3] for k in leases] == [
                "epp-default-pool.gateway-api-inference-extension.sigs.k8s.io"
            ]
            # Released on shutdown, as upstream's ReleaseOnCancel.
            assert api.objects[leases[0]]["spec"]["holderIdentity"] == ""
