"""``inference-gateway epp --pool-name`` as a process, and the choices the command refuses."""

from __future__ import annotations

import asyncio
import signal
import ssl

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from typer.testing import CliRunner

from inference_gateway.cli import build_app
from inference_gateway.cli._epp_settings import pool_less
from inference_gateway.sources.kubernetes.source import GA_GROUP
from tests.integration.gateway.test_cli import read_until, start, stop
from tests.integration.k8s.conftest import IPS, Cluster
from tests.integration.sources.conftest import make_pod, make_pool
from tests.unit.extproc.test_tls import presented_cert

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_pool_name_serves_tls_and_is_ready_once_the_pool_exists(cluster: Cluster) -> None:
    cluster.api.put(make_pod("sim-a", IPS["sim-a"]))
    proc = await start(
        "epp", "--pool-name", "pool", "--kubeconfig", str(cluster.kubeconfig),
        "--host", "127.0.0.1", "--grpc-port", "0", "--grpc-health-port", "0",
        "--metrics-port", "0", "--metrics-host", "127.0.0.1",
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        found = await read_until(
            proc.stderr, r"ext_proc 127\.0\.0\.1:(\d+), health (\d+).*\(kubernetes, TLS\)"
        )
        port, health_port = int(found[1]), int(found[2])
        cert = await presented_cert(port)
        pem = ssl.DER_cert_to_PEM_cert(cert).encode()
        request = health_pb2.HealthCheckRequest(service="")
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as probe_channel,
            grpc.aio.secure_channel(
                f"127.0.0.1:{port}", grpc.ssl_channel_credentials(root_certificates=pem)
            ) as tls_channel,
        ):
            probe = health_pb2_grpc.HealthStub(probe_channel).Check
            assert (await probe(request)).status == NOT_SERVING
            cluster.api.put(make_pool(ports=(cluster.port,)))
            async with asyncio.timeout(15):  # another process: polling its answer is all there is
                while (await probe(request)).status != SERVING:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            reply = await health_pb2_grpc.HealthStub(tls_channel).Check(request)
            assert reply.status == SERVING
    finally:
        code = await stop(proc, signal.SIGTERM)
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pool-file", "examples/standalone.yaml"], "refusing plaintext"),
        (["--pool-file", "examples/standalone.yaml", "--host", "10.1.2.3"], "refusing plaintext"),
        ([], "exactly one of"),
        (["--pool-file", "examples/standalone.yaml", "--pool-name", "p"], "exactly one of"),
        (["--pool-name", "p", "--config-file", "examples/standalone.yaml"], "--pool-file"),
        (["--pool-name", "p", "--config-text", "x", "--plugins-config", "default"], "at most one"),
        (["--pool-name", "p", "--model-server-metrics-scheme", "ftp"], "'http' or 'https'"),
        (["--pool-name", "p", "--refresh-metrics-interval", "5 apples"], "invalid duration"),
        (["--pool-name", "p", "--secure-serving=maybe"], "invalid boolean"),
        (["--pool-name", "p", "--endpoint-selector", "app=x"], "exactly one of"),
        (["--pool-name", "p", "--endpoint-target-ports", "8000"], "goes with --endpoint-selector"),
        (["--endpoint-selector", "app", "--endpoint-target-ports", "8000"], "key=value"),
        (["--endpoint-selector", "app!=x", "--endpoint-target-ports", "8000"], "key=value"),
        (["--endpoint-selector", "app=x"], "1 to 8"),
        (["--endpoint-selector", "app=x", "--endpoint-target-ports", "0"], "1-65535"),
        (["--endpoint-selector", "app=x", "--endpoint-target-ports", "80,a"], "port numbers"),
        (["--endpoint-selector", "a=x", "--endpoint-target-ports", "1,2,3,4,5,6,7,8,9"], "1 to 8"),
        (["--pool-file", "examples/standalone.yaml", "--ha-enable-leader-election"], "Lease"),
        (["--pool-name", "p", "--enable-cert-reload"], "--cert-path"),
        (["--pool-name", "p", "--no-secure-serving", "--cert-path", "/tmp"], "--secure-serving"),
        (["--pool-name", "p", "--pool-group", "example.com"], "inference.networking"),
    ],
)
def test_refused_combinations_are_one_clear_error(args: list[str], message: str) -> None:
    result = CliRunner().invoke(build_app(), ["epp", *args], env={"POD_NAME": EPP_POD})
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())


EPP_POD = "epp-5d8f7c9b6-x2k4p"


def test_pool_less_mode_names_its_pool_after_the_epps_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As upstream: the Deployment is the pod's name less its ReplicaSet hash and suffix;
    ports are deduplicated; the namespace comes from --pool-namespace (or NAMESPACE)."""
    monkeypatch.setenv("POD_NAME", EPP_POD)
    settings = pool_less("app=vllm, tier = gpu", "8000,8001,8000", "ns", GA_GROUP, None)
    pool = settings.endpoint_pool()
    assert pool is not None
    assert (pool.name, pool.namespace) == ("epp", "ns")  # from POD_NAME, below
    assert dict(pool.selector) == {"app": "vllm", "tier": "gpu"}
    assert pool.target_ports == (8000, 8001)
    assert pool.api_version == "v1"


@pytest.mark.parametrize("pod", ["", "epp", "epp-x2k4p"])
def test_pool_less_mode_needs_a_deployments_pod_name(pod: str) -> None:
    result = CliRunner().invoke(
        build_app(),
        ["epp", "--endpoint-selector", "app=x", "--endpoint-target-ports", "8000"],
        env={"POD_NAME": pod},
    )
    assert result.exit_code == 2, result.output
    assert "POD_NAME" in " ".join(result.output.replace("│", " ").split())
