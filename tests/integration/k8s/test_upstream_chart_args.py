"""Upstream's Helm chart args (v1.0.2, v1.5.0; ``tests/upstream/epp_args.yaml``), the args
of the EPP its conformance suite deploys, and llm-d's router chart in pool-less mode
(``tests/upstream/llm_d_router_epp_args.yaml``) start our EPP.

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

import aiohttp
import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.gateway.pods import documents, pod_doc, pool_doc
from tests.integration.gateway.test_cli import read_until, start, stop
from tests.integration.modelserver.conftest import FakeModelServer
from tests.integration.sources.conftest import make_pod, make_pool
from tests.integration.sources.fakeapi import FakeApiServer

UPSTREAM = Path(__file__).parents[2] / "upstream"
ARGS = yaml.safe_load((UPSTREAM / "epp_args.yaml").read_text())
CONFIGS = {
    "v1.0.2": "default_plugins_v1.0.2.yaml",
    "v1.5.0": "default_plugins_v1.5.0.yaml",
    "conformance": "conformance_plugins.yaml",
}
MOUNTED = ("/config/default-plugins.yaml", "/config/conformance-plugins.yaml")
VARIANTS = [(tag, name) for tag, variants in ARGS.items() for name in variants]
SERVING = health_pb2.HealthCheckResponse.SERVING


def chart_args(tag: str, variant: str, kubeconfig: Path) -> list[str]:
    config = str(UPSTREAM / CONFIGS[tag])
    args = [config if a in MOUNTED else a for a in ARGS[tag][variant]]
    return [
        "epp", *args, "--kubeconfig", str(kubeconfig), "--host", "127.0.0.1",
        "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0",
        "--metrics-host", "127.0.0.1",
    ]  # fmt: skip


@pytest.mark.parametrize(("tag", "variant"), VARIANTS)
async def test_upstream_chart_args_start_the_epp(tmp_path: Path, tag: str, variant: str) -> None:
    args = ARGS[tag][variant]
    name, namespace = (args[args.index(flag) + 1] for flag in ("--pool-name", "--pool-namespace"))
    async with FakeApiServer() as api:
        pool = make_pool(name, ports=(8000,))
        pool["metadata"]["namespace"] = namespace
        if "--pool-group" in ARGS[tag][variant] and "x-k8s" in " ".join(ARGS[tag][variant]):
            pool = {
                "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
                "kind": "InferencePool",
                "metadata": {"name": name, "namespace": namespace},
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


async def metrics_show(session: aiohttp.ClientSession, url: str, line: str) -> None:
    """Poll another process's ``/metrics`` (all there is) until it shows ``line``; the
    caller bounds the wait."""
    while True:
        async with session.get(url) as response:
            if line in await response.text():
                return
        await asyncio.sleep(0.05)


async def test_metric_flags_and_config_text_reach_the_scraper(tmp_path: Path) -> None:
    """v1.5.0's sglang chart args (quoted metric flags) plus a custom metrics path, and the
    EndpointPickerConfig as --config-text: the pool gauges show the sglang queue read from
    the custom path."""
    server = FakeModelServer("127.0.0.31", "sglang:num_queue_reqs 6\n", path="/prometheus/metrics")
    await server.start()
    pool_file = tmp_path / "pool.yaml"
    pool_file.write_text(
        documents(pool_doc("pool-a", server.port), pod_doc("a0", "pool-a", "127.0.0.31"))
    )
    config = (
        '{"apiVersion": "inference.networking.x-k8s.io/v1alpha1", "kind": "EndpointPickerConfig"}'
    )
    proc = await start(
        "epp", "--pool-file", str(pool_file), "--host", "127.0.0.1", "--grpc-port", "0",
        "--grpc-health-port", "0", "--metrics-port", "0", "--metrics-host", "127.0.0.1",
        '--total-queued-requests-metric="sglang:num_queue_reqs"',
        "--model-server-metrics-path=/prometheus/metrics", "--refresh-metrics-interval=20ms",
        "--config-text", config,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        found = await read_until(proc.stderr, r"health \d+, metrics (\d+)")
        url = f"http://127.0.0.1:{found[1]}/metrics"
        async with aiohttp.ClientSession() as session, asyncio.timeout(15):
            await metrics_show(session, url, 'inference_pool_average_queue_size{name="pool-a"} 6.0')
        assert server.hits > 0
    finally:
        code = await stop(proc, signal.SIGTERM)
        await server.stop()
    assert code == 0


async def test_llm_d_router_pool_less_args_serve_the_selected_pods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llm-d's router chart with ``createInferencePool: false`` and its default plugins: no
    InferencePool exists, the EPP turns SERVING, scrapes the pod the selector picks on the
    port given (the chart's 8000 moved to the fake model server's) and reports the pool
    under its Deployment's name."""
    rendered = yaml.safe_load((UPSTREAM / "llm_d_router_epp_args.yaml").read_text())
    server = FakeModelServer("127.0.0.32", "vllm:num_requests_waiting 4\n")
    await server.start()
    config = str(UPSTREAM / "llm_d_router_default_plugins.yaml")
    args = [
        str(server.port) if a == "8000" else config if a in MOUNTED else a
        for a in rendered["standalone-pool-less"]
    ]
    monkeypatch.setenv("POD_NAME", "qwen-router-7c9d8b5f4-x2k4p")
    monkeypatch.setenv("NAMESPACE", "default")
    async with FakeApiServer() as api:
        api.put(make_pod("qwen-0", "127.0.0.32", app="vllm-qwen3-32b"))
        api.put(make_pod("other", "127.0.0.33", app="other"))
        proc = await start(
            "epp", *args, "--kubeconfig", str(api.kubeconfig(tmp_path / "kubeconfig")),
            "--host", "127.0.0.1", "--grpc-port", "0", "--grpc-health-port", "0",
            "--metrics-port", "0", "--metrics-host", "127.0.0.1",
            "--refresh-metrics-interval=20ms",
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            found = await read_until(proc.stderr, r"health (\d+), metrics (\d+)")
            request = health_pb2.HealthCheckRequest(service="readiness")
            gauge = 'inference_pool_average_queue_size{name="qwen-router"} 4.0'
            async with (
                grpc.aio.insecure_channel(f"127.0.0.1:{found[1]}") as channel,
                aiohttp.ClientSession() as session,
                asyncio.timeout(15),
            ):
                check = health_pb2_grpc.HealthStub(channel).Check
                while (await check(request)).status != SERVING:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)  # another process: polling is all there is
                await metrics_show(session, f"http://127.0.0.1:{found[2]}/metrics", gauge)
            assert server.hits > 0
        finally:
            code = await stop(proc, signal.SIGTERM)
            await server.stop()
        assert code == 0
        read = {path.rsplit("/", 1)[-1] for _, path, _ in api.requests}
        assert "pods" in read and "inferencepools" not in read, read
