"""llm-d's predicted-latency SLO config (``tests/upstream``) through real Envoy: with every
pod busy, a Sheddable request whose objectives no pod is predicted to meet is refused with
the gateway's own 429, in the OpenAI error format, and reaches no pod; the same request
with objectives a pod can meet is served."""

from __future__ import annotations

from pathlib import Path

from tests.integration.scheduling.conftest import (
    BASE,
    cancel_all,
    cluster,
    held,
    model_doc,
    specs,
)

CONFIG = Path(__file__).parents[2] / "upstream" / "llm_d_predicted_latency_slo.yaml"
HOSTS = ("127.0.0.91", "127.0.0.92")
SHEDDABLE = "batch-chat"
IMPOSSIBLE = {"x-llm-d-slo-ttft-ms": "1", "x-llm-d-slo-tpot-ms": "0.001"}
EASY = {"x-llm-d-slo-ttft-ms": "600000", "x-llm-d-slo-tpot-ms": "60000"}


async def test_sheddable_request_no_pod_can_serve_in_time_is_refused(tmp_path: Path) -> None:
    # Small KV caches, so one long request takes each pod past "cold" (2 % KV use).
    engine = {"max_num_seqs": 2, "kv_blocks": 400}
    models = [model_doc(SHEDDABLE, "Sheddable", [BASE])]
    async with cluster(
        tmp_path, specs(HOSTS, **engine), models=models, plugins=str(CONFIG), time_scale=0.5
    ) as c:
        hogs = [await held(c, c.gateway.url, BASE) for _ in HOSTS]
        try:

            def busy() -> bool:
                fresh = c.fresh()
                return len(fresh) == len(HOSTS) and all(
                    e.metrics.running >= 1 and e.metrics.kv_usage >= 0.05 for e in fresh.values()
                )

            await c.wait_until(busy, "every pod running a long request past 5 % KV use")
            served_before = sum(p.engine.num_running + p.engine.num_waiting for p in c.pods)
            refused = await c.chat(SHEDDABLE, headers=IMPOSSIBLE)
            assert refused.status == 429, refused.body
            error = refused.json()["error"]
            assert error["code"] == 429 and "latency objectives" in error["message"]
            assert refused.served_by is None
            now = sum(p.engine.num_running + p.engine.num_waiting for p in c.pods)
            assert now == served_before, "a refused request reached a pod"
            served = await c.chat(SHEDDABLE, headers=EASY, max_tokens=2)
            assert served.status == 200, served.body
            assert served.served_by in c.names
        finally:
            await cancel_all(hogs)
