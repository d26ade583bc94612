"""Pool membership changes reach the scheduler's plugins one per turn of the loop, in order."""

from __future__ import annotations

import asyncio
import random

from inference_gateway.aio import stop
from inference_gateway.app._membership import TellScheduler
from inference_gateway.datastore import Datastore, PodInfo, PoolInfo
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.plugins.prefix import PrefixCacheScorer
from inference_gateway.scheduling.registry import default_registry
from inference_gateway.scheduling.scheduler import build_scheduler
from tests.unit.scheduling.helpers import NOW, make_request

POOL = PoolInfo(name="pool", namespace="ns", selector={"app": "vllm"}, target_ports=(8000,))


def pod(name: str, ip: str) -> PodInfo:
    return PodInfo(name=name, namespace="ns", address=ip, labels={"app": "vllm"})


def store() -> Datastore:
    ds = Datastore()
    ds.upsert_pool(POOL)
    for name, ip in (("a", "127.0.0.11"), ("b", "127.0.0.12"), ("c", "127.0.0.13")):
        ds.upsert_pod(pod(name, ip))
    return ds


class Recorder:
    """Records each change with the loop turn it was applied in."""

    def __init__(self) -> None:
        self.turn = 0
        self.seen: list[tuple[str, str, int]] = []

    def joined(self, endpoint_name: str) -> None:
        self.seen.append(("joined", endpoint_name, self.turn))

    def forget(self, endpoint_name: str) -> None:
        self.seen.append(("forget", endpoint_name, self.turn))

    async def count_turns(self) -> None:
        while True:
            self.turn += 1
            await asyncio.sleep(0)


async def applied(tell: TellScheduler, n: int) -> None:
    async with asyncio.timeout(5):
        await tell.settled()
    assert tell.applied == n


async def test_changes_are_applied_in_order_each_in_its_own_turn() -> None:
    ds, recorder = store(), Recorder()
    tell = TellScheduler(recorder)
    ds.add_listener(tell)  # the pods already there join
    ticker = asyncio.create_task(recorder.count_turns())
    running = asyncio.create_task(tell.run())
    try:
        await applied(tell, 3)
        ds.upsert_pod(pod("a", "127.0.0.21"))  # a new address: the old endpoint goes
        ds.delete_pod("ns/b")
        assert tell.queued == 3 and len(recorder.seen) == 3  # nothing done in the change
        await applied(tell, 6)
    finally:
        await stop(running)
        await stop(ticker)
    assert [(kind, name) for kind, name, _ in recorder.seen] == [
        ("joined", "a"), ("joined", "b"), ("joined", "c"),
        ("forget", "a"), ("joined", "a"), ("forget", "b"),
    ]  # fmt: skip
    turns = [turn for _, _, turn in recorder.seen]
    assert turns == sorted(set(turns))  # one change per turn


async def test_a_gone_server_leaves_the_prefix_index_after_the_change_not_within_it() -> None:
    """Forgetting a warm server is the expensive part (~11 ms at a full index): the
    datastore's step only queues it."""
    ds = store()
    scheduler = build_scheduler(load_config("predicted", default_registry()), rng=random.Random(0))
    (index,) = (p for p in scheduler.post_pick if isinstance(p, PrefixCacheScorer))
    tell = TellScheduler(scheduler)
    ds.add_listener(tell)
    running = asyncio.create_task(tell.run())
    try:
        await applied(tell, 3)
        picked = {
            scheduler.schedule(
                make_request(prompt=f"{i} " + "p" * 640), ds.endpoints(POOL.key), NOW
            ).primary.name
            for i in range(12)
        }
        gone = sorted(picked)[0]
        blocks = index.indexed_blocks(gone)
        assert blocks > 0
        ds.delete_pod(f"ns/{gone}")
        assert index.indexed_blocks(gone) == blocks
        await applied(tell, 4)
        assert index.indexed_blocks(gone) == 0
    finally:
        await stop(running)
