"""The EPP in Kubernetes mode behind real Envoy: pods come and go through the API server."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inference_gateway.app import Epp, EppSettings, Gateway, KubernetesSourceSettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.extproc.tls import TlsSettings
from inference_gateway.sources.kubernetes import KubernetesSource
from tests.integration.k8s.conftest import (
    IPS,
    MODEL,
    Cluster,
    chat,
    first_served,
    kube_gateway,
    kube_settings,
    v1alpha2_pool,
)
from tests.integration.sources.conftest import (
    SETTINGS,
    X,
    eventually,
    make_model,
    make_pod,
    make_pool,
)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def ready_addresses(gw: Gateway) -> set[str]:
    return {e.address for e in gw.datastore.endpoints("default/pool")}


async def test_traffic_follows_the_pods_the_api_lists(cluster: Cluster) -> None:
    api = cluster.api
    api.put(make_pool(ports=(cluster.port,)))
    api.put(make_pod("sim-a", IPS["sim-a"]))
    api.put(make_pod("sim-b", IPS["sim-b"]))
    async with kube_gateway(cluster) as gw, aiohttp.ClientSession() as session:
        source = gw.epp.source
        assert isinstance(source, KubernetesSource)
        assert gw.epp.server is not None and gw.epp.server.certs is not None  # TLS by default
        served = {(await first_served(session, gw.url))[1]}
        for _ in range(8):
            status, pod = await chat(session, gw.url)
            assert status == 200
            served.add(pod)
        assert served <= {"sim-a", "sim-b"}

        # sim-a turns unready: once the datastore drops it, no request goes there.
        api.put(make_pod("sim-a", IPS["sim-a"], ready=False))
        await eventually(lambda: ready_addresses(gw) == {IPS["sim-b"]})
        for _ in range(6):
            assert await chat(session, gw.url) == (200, "sim-b")

        # sim-c is added and sim-b goes away: all traffic moves to the new pod.
        api.put(make_pod("sim-c", IPS["sim-c"]))
        api.delete("v1", "Pod", "sim-b")
        await eventually(lambda: ready_addresses(gw) == {IPS["sim-c"]})
        for _ in range(6):
            assert await chat(session, gw.url) == (200, "sim-c")
        assert cluster.pods[2].name == "sim-c"


async def test_pool_less_mode_serves_the_selected_pods_without_an_inference_pool(
    cluster: Cluster,
) -> None:
    """Upstream's ``--endpoint-selector`` mode: no InferencePool and no model CRD is read;
    the pods with the labels, on the ports given, are the pool, and any model name routes."""
    api = cluster.api
    api.put(make_pod("sim-a", IPS["sim-a"]))
    api.put(make_pod("sim-b", IPS["sim-b"], app="other"))
    api.put(make_model("claims-another-pool", MODEL, pool="elsewhere"))
    kubernetes = KubernetesSourceSettings.model_validate(
        {
            "pool_name": "epp",
            "kubeconfig": str(cluster.kubeconfig),
            "timings": SETTINGS,
            "endpoint_selector": {"app": "vllm"},
            "endpoint_target_ports": (cluster.port,),
        }
    )
    async with (
        kube_gateway(cluster, kubernetes=kubernetes) as gw,
        aiohttp.ClientSession() as session,
    ):
        assert (await first_served(session, gw.url))[1] == "sim-a"
        for _ in range(5):
            assert await chat(session, gw.url) == (200, "sim-a")
        api.put(make_pod("sim-c", IPS["sim-c"]))
        api.delete("v1", "Pod", "sim-a")
        await eventually(
            lambda: {e.address for e in gw.datastore.endpoints("default/epp")} == {IPS["sim-c"]}
        )
        for _ in range(5):
            assert await chat(session, gw.url) == (200, "sim-c")
    read = {path.rsplit("/", 1)[-1] for _, path, _ in api.requests}
    assert "pods" in read and not read & {"inferencepools", "inferencemodels"}, read


async def test_grpcio_serves_tls_behind_envoy_too(cluster: Cluster) -> None:
    cluster.api.put(make_pool(ports=(cluster.port,)))
    cluster.api.put(make_pod("sim-c", IPS["sim-c"]))
    async with (
        kube_gateway(cluster, transport="grpcio") as gw,
        aiohttp.ClientSession() as session,
    ):
        assert gw.epp.server is not None and gw.epp.server.certs is not None
        assert await first_served(session, gw.url) == (200, "sim-c")
        assert await chat(session, gw.url) == (200, "sim-c")


async def test_v1alpha2_pool_models_are_accepted_and_served(cluster: Cluster) -> None:
    api = cluster.api
    api.put(v1alpha2_pool(cluster.port))
    api.put(make_model("chat", MODEL))
    api.put(make_pod("sim-b", IPS["sim-b"]))
    async with (
        kube_gateway(cluster, group="inference.networking.x-k8s.io", tls=False) as gw,
        aiohttp.ClientSession() as session,
    ):
        assert await first_served(session, gw.url) == (200, "sim-b")
        await eventually(lambda: any(who == "chat" for who, _ in api.patches))
        stored = api.objects[(X, "inferencemodels", "default", "chat")]
        conditions = {c["type"]: c for c in stored["status"]["conditions"]}
        assert conditions["Accepted"]["status"] == "True"
        assert conditions["Accepted"]["reason"] == "Accepted"


async def test_health_turns_serving_only_after_the_pool_syncs(cluster: Cluster) -> None:
    api = cluster.api
    api.put(make_pod("sim-a", IPS["sim-a"]))
    settings = EppSettings(
        kubernetes=kube_settings(cluster.kubeconfig),
        grpc=ExtProcSettings(port=0, health_port=0, tls=TlsSettings()),
    )
    async with Epp(settings) as epp:
        server = epp.server
        assert server is not None and server.certs is not None and server.health_port
        creds = grpc.ssl_channel_credentials(root_certificates=server.certs.cert)
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{server.health_port}") as probe_channel,
            grpc.aio.secure_channel(f"127.0.0.1:{server.port}", creds) as envoy_channel,
        ):
            probe = health_pb2_grpc.HealthStub(probe_channel).Check
            envoy = health_pb2_grpc.HealthStub(envoy_channel).Check
            request = health_pb2.HealthCheckRequest(service="inference-extension")
            # The pods are listed, but there is no pool yet: not ready.
            await eventually(lambda: api.watching("pods") == 1)
            assert (await probe(request)).status == NOT_SERVING
            assert (await envoy(request)).status == NOT_SERVING
            # Alive all the same: kubelet must not restart a pod waiting for its pool.
            liveness = health_pb2.HealthCheckRequest(service="liveness")
            assert (await probe(liveness)).status == SERVING

            api.put(make_pool(ports=(cluster.port,)))
            assert isinstance(epp.source, KubernetesSource)
            await eventually(epp.source.synced.is_set, within=10)
            async with asyncio.timeout(10):
                while (await probe(request)).status != SERVING:
                    pass
            assert (await envoy(request)).status == SERVING
