"""A pod that joins a pool whose speeds are learned starts at its peers' median speed.

Through real Envoy and the pool file's hot reload: three pods teach the ``predicted``
profile their speeds, then a fourth (ten times slower) is added to the file. The
datastore's membership change must reach the latency predictor, which prices the newcomer
like the median of the learned pods (not like its prior of 1.0, which the shared scale has
drifted from) until its own first response, learned in full, shows it is slow.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from pathlib import Path

from inference_gateway.scheduling.plugins.latency import LatencyPredictor
from inference_gateway.scheduling.scheduler import PluginScheduler
from inference_gateway.sources.file import FileSource
from tests.integration.scheduling.conftest import Cluster, cluster, specs

HOSTS = ("127.0.0.72", "127.0.0.73", "127.0.0.74", "127.0.0.75")
NEW = "pod-3"
CLIENTS = 4


def predictor(c: Cluster) -> LatencyPredictor:
    director = c.gateway.epp.director
    assert director is not None and isinstance(director.scheduler, PluginScheduler)
    (lp,) = (p for p in director.scheduler.post_pick if isinstance(p, LatencyPredictor))
    return lp


def without_pod(text: str, name: str) -> str:
    return "---\n".join(d for d in text.split("---\n") if f"name: {name}," not in d)


async def reload(c: Cluster, path: Path, text: str, pods: set[str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    source = c.gateway.epp.source
    assert isinstance(source, FileSource)
    async with asyncio.timeout(10):
        await source.wait_until(lambda: set(c.endpoints()) == pods)


async def serve(c: Cluster, requests: int, first: int) -> set[str]:
    """``requests`` chats from ``CLIENTS`` concurrent clients, each with its own prompt (so
    no prefix affinity); returns the pods that served them."""
    served: set[str] = set()
    todo = iter(range(first, first + requests))

    async def client() -> None:
        for i in todo:
            messages = [{"role": "user", "content": f"request {i} " * 20}]
            reply = await c.chat(max_tokens=40, messages=messages, stream=True)
            assert reply.status == 200, reply.body
            served.add(str(reply.served_by))

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return served


async def test_a_pod_added_to_a_learned_pool_starts_at_its_peers_median(tmp_path: Path) -> None:
    async with cluster(
        tmp_path, specs(HOSTS, max_num_seqs=4), plugins="predicted", time_scale=0.5
    ) as c:
        c.pod(NEW).engine.slowdown = 10.0
        config = tmp_path / "gateway.yaml"
        full = config.read_text()
        peers = {n for n in c.names if n != NEW}
        await reload(c, config, without_pod(full, NEW), peers)
        assert await serve(c, 24, first=0) <= peers
        lp = predictor(c)
        learned = {n: (lp.ttft.speeds.get(n), lp.tpot.speeds.get(n)) for n in peers}
        assert all(lp.tpot.speeds.observations(n) > 0 for n in peers)
        assert lp.tpot.speeds.pods() == sorted(peers)

        await reload(c, config, full, set(c.names))
        await c.wait_until(lambda: NEW in lp.tpot.speeds.factors, "the newcomer to join")
        assert lp.tpot.speeds.observations(NEW) == 0
        for i, table in enumerate((lp.ttft.speeds, lp.tpot.speeds)):
            assert table.get(NEW) == statistics.median_low(s[i] for s in learned.values())

        for batch in range(10):  # bounded: the newcomer is picked within a few batches
            if NEW in await serve(c, 8, first=100 + 8 * batch):
                break
        else:
            raise AssertionError("the newcomer was never picked")
        await c.wait_until(lambda: lp.tpot.speeds.observations(NEW) > 0, "its first TPOT")
        median = statistics.median(lp.tpot.speeds.get(n) for n in peers)
        assert lp.tpot.speeds.get(NEW) > 3.0 * median
