"""The official ``openai`` SDK against the real gateway (EPP + Envoy) and simulated vLLM pods.

One module-scoped world, pools by what a client should meet:

* ``base`` (first by key): two simulator pods serving ``BASE`` and the adapters
  ``review-1``/``review-2`` behind the ``review`` InferenceModel (a 50/50 split);
* ``embed``: one simulator started as an embedding model;
* ``limited``: one simulator answering every request 429 (a pod's own error, passed through);
* ``stale``: one simulator whose metrics endpoint fails, so the EPP never has fresh metrics
  and sheds the Sheddable model ``batch`` with its own 429;
* ``dead``: one pod address with nothing listening, so Envoy itself answers 503
  (connection refused, a local reply);
* ``empty``: a pool without pods (the EPP's own 503).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import pytest_asyncio

from inference_gateway.app import EppSettings, Gateway, GatewaySettings
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.simulator.server import PodSpec, SimPod, run_pods
from tests.integration.gateway.pods import documents, free_port, model_doc, pod_doc, pool_doc

BASE = "meta-llama/Llama-3.1-8B-Instruct"
EMBED = "intfloat/e5-small-v2"
SPLIT = "review"
LIMITED = "limited-model"
SHED = "batch"
DEAD = "dead-model"
EMPTY = "empty-model"
SIM_HOSTS = ("127.0.0.41", "127.0.0.42")
EMBED_HOST = "127.0.0.43"
LIMITED_HOST = "127.0.0.44"
STALE_HOST = "127.0.0.45"
DEAD_HOST = "127.0.0.46"
SHEDDABLE = """\
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {{name: {name}, namespace: default}}
spec:
  modelName: {name}
  criticality: Sheddable
  poolRef: {{name: {pool}}}
"""


@dataclass
class OpenAIWorld:
    gateway: Gateway
    pods: list[SimPod]
    client: openai.AsyncOpenAI

    @property
    def url(self) -> str:
        return self.gateway.url


def client_for(base_url: str) -> openai.AsyncOpenAI:
    # max_retries=0: a test sees the first answer, not what a retry made of it.
    return openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0)


def _config(port: int) -> str:
    hosts = {"base": SIM_HOSTS, "embed": (EMBED_HOST,), "limited": (LIMITED_HOST,)}
    hosts |= {"stale": (STALE_HOST,), "dead": (DEAD_HOST,)}
    docs = [pool_doc(name, port) for name in (*hosts, "empty")]
    docs += [
        model_doc("base", BASE, "base"),
        model_doc("review", SPLIT, "base", {"review-1": 50, "review-2": 50}),
        model_doc("embed", EMBED, "embed"),
        model_doc("limited", LIMITED, "limited"),
        SHEDDABLE.format(name=SHED, pool="stale"),
        model_doc("dead", DEAD, "dead"),
        model_doc("empty", EMPTY, "empty"),
    ]
    for pool, addresses in hosts.items():
        docs += [pod_doc(f"{pool}-{i}", pool, host) for i, host in enumerate(addresses)]
    return documents(*docs)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OpenAIWorld]:
    tmp: Path = tmp_path_factory.mktemp("openai")
    port = free_port(SIM_HOSTS[0])
    adapters = ("review-1", "review-2")
    specs = [
        *(PodSpec(f"sim-{i}", h, port, model=BASE, adapters=adapters, max_loras=2)
          for i, h in enumerate(SIM_HOSTS)),
        PodSpec("embed-0", EMBED_HOST, port, model=EMBED, task="embed"),
        PodSpec("limited-0", LIMITED_HOST, port, model=LIMITED),
        PodSpec("stale-0", STALE_HOST, port, model=SHED),
    ]  # fmt: skip
    config = tmp / "gateway.yaml"
    config.write_text(_config(port))
    settings = GatewaySettings(
        epp=EppSettings(pool_file=config, grpc=ExtProcSettings(port=0), seed=1),
        envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.2),
        workdir=tmp,
    )
    async with run_pods(specs, time_scale=0.01) as pods:
        by_name = {p.name: p for p in pods}
        by_name["limited-0"].fail_status = 429
        by_name["stale-0"].metrics_fault = "500"
        async with Gateway(settings) as gw, client_for(gw.url) as client:
            yield OpenAIWorld(gw, pods, client)
