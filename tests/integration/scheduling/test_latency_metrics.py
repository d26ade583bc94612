"""Through real Envoy: the EPP exports, under upstream's names, each streamed request's TTFT
and TPOT beside what the ``latency-predictor`` predicted on the pod it picked, and counts
the requests that missed the objectives they carried."""

from __future__ import annotations

from pathlib import Path

from tests.integration.scheduling.conftest import BASE, cluster, specs

HOSTS = ("127.0.0.76", "127.0.0.77")
LABELS = {"model_name": BASE}


async def test_actual_and_predicted_latency_through_envoy(tmp_path: Path) -> None:
    async with cluster(tmp_path, specs(HOSTS), plugins="predicted", time_scale=0.5) as c:
        for i in range(6):
            messages = [{"role": "user", "content": f"request {i} " * 20}]
            slo = {"x-slo-ttft-ms": "0.001", "x-slo-tpot-ms": "60000"} if i < 2 else None
            reply = await c.chat(max_tokens=20, messages=messages, stream=True, headers=slo)
            assert reply.status == 200, reply.body
        metrics = c.gateway.epp.metrics
        registry = metrics.registry
        labels = {**LABELS, "target_model_name": LABELS["model_name"]}
        s = metrics.subsystem

        def get(name: str, **extra: str) -> float | None:
            return registry.get_sample_value(name, {**labels, **extra})

        await c.wait_until(
            lambda: get(f"{s}_request_tpot_seconds_count") == 6, "six finished streams"
        )
        assert get(f"{s}_request_ttft_seconds_count") == 6
        assert get(f"{s}_request_predicted_ttft_seconds_count") == 6
        assert get(f"{s}_request_predicted_tpot_seconds_count") == 6
        ttft, predicted = (get(f"{s}_request_{k}_seconds_sum") for k in ("ttft", "predicted_ttft"))
        assert ttft is not None and predicted is not None and ttft > 0 and predicted > 0
        assert get(f"{s}_request_slo_violation_total", type="ttft") == 2  # 1 us: always missed
        assert get(f"{s}_request_slo_violation_total", type="tpot") == 0
