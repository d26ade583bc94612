"""The official SDK's streams, as it sends them by default (no ``stream_options``, so no
usage block), still teach the ``latency-predictor`` their TPOT and output length, and show
in the EPP's predicted-latency metrics. Through real Envoy."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_gateway.scheduling.plugins.latency import LatencyPredictor
from inference_gateway.scheduling.scheduler import PluginScheduler
from tests.integration.openai.conftest import client_for
from tests.integration.scheduling.conftest import BASE, cluster, specs

HOSTS = ("127.0.0.78", "127.0.0.79")
TOKENS = 20


async def test_default_sdk_streams_teach_the_predictor(tmp_path: Path) -> None:
    async with cluster(tmp_path, specs(HOSTS), plugins="predicted", time_scale=0.5) as c:
        director = c.gateway.epp.director
        assert director is not None and isinstance(director.scheduler, PluginScheduler)
        (lp,) = (p for p in director.scheduler.post_pick if isinstance(p, LatencyPredictor))
        prior = lp.output_tokens
        events: list[int] = []
        async with client_for(c.gateway.url) as client:
            for i in range(3):
                stream = await client.chat.completions.create(
                    model=BASE,
                    messages=[{"role": "user", "content": f"question {i} " * 10}],
                    max_tokens=TOKENS,
                    stream=True,
                )
                chunks = [chunk async for chunk in stream]
                assert chunks and all(chunk.usage is None for chunk in chunks)
                events.append(len(chunks))
        metrics = c.gateway.epp.metrics
        labels = {"model_name": BASE, "target_model_name": BASE}
        tpot = f"{metrics.subsystem}_request_tpot_seconds_count"
        await c.wait_until(
            lambda: metrics.registry.get_sample_value(tpot, labels) == 3, "three TPOTs"
        )
        # One SSE event per chunk the SDK yields ("data: [DONE]" it swallows), each ~a token.
        assert lp.output_tokens == pytest.approx(sum(events) / 3)
        assert lp.output_tokens != prior
        assert all(2 < n <= TOKENS + 2 for n in events), events
