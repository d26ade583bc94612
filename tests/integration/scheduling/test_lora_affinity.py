"""Requests for a LoRA adapter go to the pod that has it loaded, through real Envoy.

Every pod can serve both adapters (a misrouted request still succeeds, so only routing is
under test), but only one pod has each adapter active: a long request pinned straight to
that pod keeps it in ``running_lora_adapters``. Pods have room to spare (16 sequences,
at most 8 requests in flight), so the legacy tree's LoRA affinity decides.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from tests.integration.scheduling.conftest import (
    Cluster,
    cancel_all,
    cluster,
    held,
    model_doc,
    specs,
)

HOSTS = ("127.0.0.64", "127.0.0.65", "127.0.0.66")
ADAPTERS = {"sql-lora": "pod-0", "chat-lora": "pod-2"}
PER_ADAPTER = 40


async def spread(c: Cluster, models: list[str], concurrency: int) -> dict[str, Counter[str]]:
    gate = asyncio.Semaphore(concurrency)
    served: dict[str, Counter[str]] = {m: Counter() for m in set(models)}

    async def one(model: str) -> None:
        async with gate:
            reply = await c.chat(model)
        assert reply.status == 200, reply.body
        assert reply.json()["model"] == model
        served[model][str(reply.served_by)] += 1

    await asyncio.gather(*(one(m) for m in models))
    return served


async def test_adapter_requests_go_to_the_pod_that_has_it_loaded(tmp_path: Path) -> None:
    pods = specs(HOSTS, adapters=tuple(ADAPTERS), max_loras=2, max_num_seqs=16)
    models = [model_doc(a, "Standard") for a in ADAPTERS]
    async with cluster(tmp_path, pods, models=models) as c:
        anchors = []
        try:
            for adapter, name in ADAPTERS.items():
                anchors.append(await held(c, c.pod(name).url, adapter))

            def loaded() -> bool:
                fresh = c.fresh()
                return all(
                    n in fresh and a in fresh[n].metrics.running_adapters
                    for a, n in ADAPTERS.items()
                )

            await c.wait_until(loaded, "the datastore to see each adapter on its pod")
            served = await spread(c, [a for a in ADAPTERS for _ in range(PER_ADAPTER)], 8)
        finally:
            await cancel_all(anchors)
    for adapter, name in ADAPTERS.items():
        assert served[adapter][name] >= 0.9 * PER_ADAPTER, (adapter, served[adapter])
