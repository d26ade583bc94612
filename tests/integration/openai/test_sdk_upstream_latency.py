"""llm-d's predicted-latency SLO config (``tests/upstream``), unchanged, through real Envoy:
the official SDK's streamed requests carry llm-d's SLO headers, the in-process predictor
stands in for upstream's sidecars, learns the slow pod from the streams and steers around
it, and the debug header shows each candidate's predictions."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from openai import AsyncOpenAI

from inference_gateway.scheduling.plugins.predicted_latency import PredictedLatencyProducer
from inference_gateway.scheduling.scheduler import PluginScheduler
from tests.integration.openai.conftest import client_for
from tests.integration.scheduling.conftest import BASE, cluster, specs
from tests.integration.scheduling.test_debug_header import fields

CONFIG = Path(__file__).parents[2] / "upstream" / "llm_d_predicted_latency_slo.yaml"
HOSTS = ("127.0.0.87", "127.0.0.88", "127.0.0.89")
SLOW = "pod-1"
REQUESTS = 60
CLIENTS = 6
DEBUG = {"x-gateway-debug": "true"}


async def predicted_tpot(client: AsyncOpenAI, i: int) -> dict[str, float]:
    """Each candidate's predicted TPOT (ms) in the debug header of one streamed request."""
    raw = await client.chat.completions.with_raw_response.create(
        model=BASE,
        messages=[{"role": "user", "content": f"probe {i} " * 8}],
        max_tokens=16,
        stream=True,
        extra_headers=DEBUG,
    )
    assert [chunk async for chunk in raw.parse()]
    scores = fields(raw.headers["x-gateway-debug"])["scores"]
    return {
        part.split(":", 1)[0]: float(part.split("tpot=", 1)[1].split("ms", 1)[0])
        for part in scores.split("|")
    }


async def test_llm_d_slo_config_routes_around_a_slow_pod_with_sdk_streams(
    tmp_path: Path,
) -> None:
    engine = {"max_num_seqs": 2}
    async with cluster(tmp_path, specs(HOSTS, **engine), plugins=str(CONFIG), time_scale=0.5) as c:
        c.pod(SLOW).engine.slowdown = 10.0
        director = c.gateway.epp.director
        assert director is not None and isinstance(director.scheduler, PluginScheduler)
        (producer,) = (
            p for p in director.scheduler.post_pick if isinstance(p, PredictedLatencyProducer)
        )
        async with client_for(c.gateway.url) as client:

            async def send(
                headers: dict[str, str], first: int = 0
            ) -> tuple[Counter[str], list[dict[str, str]]]:
                served: Counter[str] = Counter()
                explained: list[dict[str, str]] = []
                todo = iter(range(first, first + REQUESTS))

                async def one_client() -> None:
                    for i in todo:
                        raw = await client.chat.completions.with_raw_response.create(
                            model=BASE,
                            messages=[{"role": "user", "content": f"question {i} " * 8}],
                            max_tokens=16,
                            stream=True,
                            extra_headers={**DEBUG, **headers},
                        )
                        chunks = [chunk async for chunk in raw.parse()]
                        assert chunks, i
                        served[raw.headers["x-served-by"]] += 1
                        explained.append(fields(raw.headers["x-gateway-debug"]))

                await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
                assert sum(served.values()) == REQUESTS
                return served, explained

            # Without SLO headers every pod misses the objective 0: lowest predicted TTFT
            # scores highest, so the slow pod, once learned from the streams, gets least.
            served, explained = await send({})
            peers = [served[n] for n in c.names if n != SLOW]
            assert served[SLOW] < 0.6 * sum(peers) / len(peers), served
            # Learned from the streams: the slow pod decodes slowest by far.
            speeds = producer.tpot.speeds.factors
            assert speeds[SLOW] > 3 * max(v for n, v in speeds.items() if n != SLOW), speeds
            last = explained[-1]
            for name in ("strict-affinity-filter", "slo-headroom-tier-filter"):
                assert f"{name}:" in last["filters"], last
            top = last["scores"].split("|")
            assert all("latency-scorer=" in t and "ttft=" in t and "tpot=" in t for t in top)
            # The batch's last picks may precede the slow pod's first finished stream, and
            # the scorer reads a publication at most ``publishInterval`` behind: probes after
            # it (each a whole stream, far longer than that interval) must price it slow.
            for probe in range(2 * REQUESTS, 2 * REQUESTS + 3):
                tpot = await predicted_tpot(client, probe)
                fast = max(t for n, t in tpot.items() if n != SLOW)
                if tpot.get(SLOW, 0.0) > 2 * fast:
                    break
            # With a TPOT objective only the fast pods are predicted to meet (llm-d's
            # header names), the tier filter keeps the slow pod out but for exploration.
            assert SLOW in tpot and tpot[SLOW] > 2 * fast, tpot
            slo = {"x-llm-d-slo-ttft-ms": "60000", "x-llm-d-slo-tpot-ms": str(2 * fast)}
            served, _ = await send(slo, first=REQUESTS)  # new prompts: no exact prefix hit
            probes = probe - 2 * REQUESTS + 1
            assert served[SLOW] <= 3, served
        # Every request's prediction on its pod is in the EPP's predicted-latency families.
        metrics = c.gateway.epp.metrics
        labels = {"model_name": BASE, "target_model_name": BASE}
        done = f"{metrics.subsystem}_request_tpot_seconds_count"
        sent = 2 * REQUESTS + probes
        await c.wait_until(
            lambda: metrics.registry.get_sample_value(done, labels) == sent, "streams"
        )
        predicted = f"{metrics.subsystem}_request_predicted_ttft_seconds_count"
        assert metrics.registry.get_sample_value(predicted, labels) == sent
