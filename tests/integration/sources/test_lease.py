"""Leader election against the fake API server: one leader, takeover, release, 409s.

Durations are short (lease 0.6 s, renew deadline 0.4 s, retry 0.1 s); every wait is on an
event or a condition polled with a timeout, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from inference_gateway.aio import spawn
from inference_gateway.sources.kubernetes.client import KubeClient
from inference_gateway.sources.kubernetes.lease import (
    LeaderElectionSettings,
    LeaderElector,
    lease_name,
)
from inference_gateway.sources.kubernetes.settings import KubeSettings
from tests.integration.sources.fakeapi import FakeApiServer

NAME = lease_name("default", "pool")
KEY = ("coordination.k8s.io/v1", "leases", "default", NAME)
FAST = KubeSettings(request_backoff=(0.05,))


def settings(identity: str) -> LeaderElectionSettings:
    return LeaderElectionSettings(
        lease_duration=0.6, renew_deadline=0.4, retry_period=0.1, identity=identity
    )


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the fake API server has no change event
            await asyncio.sleep(0.01)


class Candidate:
    def __init__(self, elector: LeaderElector, client: KubeClient) -> None:
        self.elector = elector
        self.client = client
        self.tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        spawn(self.elector.run(), name="elector", owner=self.tasks)

    async def crash(self) -> None:
        """Stop renewing without releasing: a killed or partitioned leader."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def candidates(api: FakeApiServer, tmp: Path, *ids: str) -> AsyncIterator[list[Candidate]]:
    kubeconfig = str(api.kubeconfig(tmp / "kubeconfig"))
    made: list[Candidate] = []
    try:
        for identity in ids:
            client = await KubeClient.connect(kubeconfig, FAST)
            elector = LeaderElector(
                client, namespace="default", name=NAME, settings=settings(identity)
            )
            made.append(Candidate(elector, client))
        yield made
    finally:
        for c in made:
            await c.crash()
            await c.client.close()


def spec(api: FakeApiServer) -> dict[str, Any]:
    return dict(api.objects[KEY]["spec"]) if KEY in api.objects else {}


async def test_one_leader_and_takeover_when_it_stops_renewing(tmp_path: Path) -> None:
    async with FakeApiServer() as api, candidates(api, tmp_path, "a", "b") as (a, b):
        a.start()
        await asyncio.wait_for(a.elector.changed.wait(), 5)
        assert a.elector.is_leader and spec(api)["holderIdentity"] == "a"
        b.start()
        first = spec(api)["renewTime"]
        await until(lambda: spec(api)["renewTime"] != first)  # a renews ...
        second = spec(api)["renewTime"]
        await until(lambda: spec(api)["renewTime"] != second)  # ... and renews again
        assert not b.elector.is_leader  # b saw a live lease all along
        assert spec(api)["holderIdentity"] == "a"

        await a.crash()  # a stops renewing; b must wait out the lease, then take it
        await asyncio.wait_for(b.elector.changed.wait(), 5)
        assert b.elector.is_leader
        assert spec(api)["holderIdentity"] == "b"
        assert spec(api)["leaseTransitions"] == 1


async def test_two_candidates_on_a_free_lease_elect_exactly_one(tmp_path: Path) -> None:
    async with FakeApiServer() as api, candidates(api, tmp_path, "a", "b") as (a, b):
        a.start()
        b.start()
        await until(lambda: a.elector.is_leader or b.elector.is_leader)
        holder = spec(api)["holderIdentity"]
        renewed = spec(api)["renewTime"]
        await until(lambda: spec(api)["renewTime"] != renewed)
        assert [c.elector.settings.identity for c in (a, b) if c.elector.is_leader] == [holder]
        # The loser's create (409 AlreadyExists) or update (409 stale resourceVersion) lost.
        assert any(m in ("POST", "PUT") for m, path, _ in api.requests if path.endswith(NAME))


async def test_release_hands_over_at_the_next_retry(tmp_path: Path) -> None:
    async with FakeApiServer() as api, candidates(api, tmp_path, "a", "b") as (a, b):
        a.start()
        await asyncio.wait_for(a.elector.changed.wait(), 5)
        b.start()
        await a.crash()
        await a.elector.release()
        assert spec(api)["holderIdentity"] == ""
        await asyncio.wait_for(b.elector.changed.wait(), 5)
        assert b.elector.is_leader


async def test_a_stale_update_gets_409_and_is_not_leader(tmp_path: Path) -> None:
    async with FakeApiServer() as api, candidates(api, tmp_path, "a") as (a,):
        api.put(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": NAME, "namespace": "default"},
                "spec": {"holderIdentity": "", "leaseDurationSeconds": 1},
            }
        )
        api.fail("PUT", "leases", 409, times=1)
        a.start()
        await asyncio.wait_for(a.elector.changed.wait(), 5)
        assert a.elector.is_leader  # the second round wins
        puts = [m for m, path, _ in api.requests if m == "PUT" and path.endswith(NAME)]
        assert len(puts) >= 2


@pytest.mark.parametrize(
    "bad", [{"retry_period": 1.0, "renew_deadline": 1.0}, {"renew_deadline": 20.0}]
)
def test_timings_must_be_ordered(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry_period < renew_deadline < lease_duration"):
        LeaderElectionSettings(**bad)
