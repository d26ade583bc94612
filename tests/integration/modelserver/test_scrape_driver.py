"""The scraper's one driver task: many endpoints on schedule, none waiting for another.

Real loopback HTTP servers and a real Datastore, as in ``test_scraper``; every wait is a
bounded poll (``eventually``), never a sleep or a timing ratio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from inference_gateway.datastore.store import Datastore
from inference_gateway.modelserver.scraper import MetricsScraper, Transport

from .conftest import FakeModelServer, eventually
from .test_scraper import POOL, add_pod, add_pool, two_pods, vllm_text

StartServer = Callable[[str, str], Awaitable[FakeModelServer]]


@pytest.fixture(params=["aiohttp", "lean"])
def transport(request: pytest.FixtureRequest) -> Transport:
    value: Transport = request.param
    return value


def scrape_tasks() -> set[str]:
    return {t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("scrape ")}


async def test_many_endpoints_are_each_scraped_again_and_again(
    servers: StartServer, transport: Transport
) -> None:
    fleet = [await servers(f"127.0.0.{11 + i}", vllm_text(i)) for i in range(24)]
    store = Datastore()
    add_pool(store, fleet[0].port)
    for i in range(len(fleet)):
        add_pod(store, f"p{i}", f"127.0.0.{11 + i}")
    async with MetricsScraper(store, interval=0.01, transport=transport) as scraper:
        await eventually(lambda: all(s.hits >= 5 for s in fleet), within=20)
        waiting = sorted(e.metrics.waiting for e in store.endpoints(POOL))
        assert waiting == list(range(len(fleet)))
        assert scraper.stats.errors_total.total() == 0
        # Between scrapes an endpoint has no task: one driver plus the scrapes in flight.
        assert "scrape driver" in scrape_tasks()
        assert len(scrape_tasks()) <= 1 + len(fleet)


async def test_removal_stops_scraping_and_the_others_go_on(
    servers: StartServer, transport: Transport
) -> None:
    store, a, b = await two_pods(servers)
    async with MetricsScraper(store, interval=0.01, transport=transport) as scraper:
        await eventually(lambda: a.hits >= 2 and b.hits >= 2)
        store.delete_pod("default/a")
        await scraper.join_removed()
        hits_at_removal, b_hits = a.hits, b.hits
        await eventually(lambda: b.hits >= b_hits + 10)
        assert a.hits == hits_at_removal
        assert scraper.scraping == {f"127.0.0.12:{b.port}"}


async def test_a_hung_endpoint_does_not_delay_the_others(
    servers: StartServer, transport: Transport
) -> None:
    hung = await servers("127.0.0.11", vllm_text(1))
    fine = await servers("127.0.0.12", vllm_text(2))
    hung.hang = True
    store = Datastore()
    add_pool(store, hung.port)
    add_pod(store, "a", "127.0.0.11")
    add_pod(store, "b", "127.0.0.12")
    hp_fine = f"127.0.0.12:{fine.port}"
    async with MetricsScraper(store, interval=0.01, timeout=30, transport=transport) as scraper:
        await eventually(lambda: hung.hits == 1 and store.metrics(hp_fine) is not None)
        fine.text = vllm_text(7)
        start = fine.hits
        await eventually(
            lambda: (
                fine.hits >= start + 10
                and (m := store.metrics(hp_fine)) is not None
                and m.waiting == 7
            )
        )
        # The hung scrape is still the one request in flight to its server.
        assert hung.hits == 1
        assert scraper.stats.errors_total.total() == 0
        assert f"scrape 127.0.0.11:{hung.port}" in scrape_tasks()


async def test_stop_leaves_nothing_running_even_mid_scrape(
    servers: StartServer, transport: Transport
) -> None:
    hung = await servers("127.0.0.11", vllm_text(1))
    hung.hang = True
    store = Datastore()
    add_pool(store, hung.port)
    add_pod(store, "a", "127.0.0.11")
    scraper = MetricsScraper(store, interval=0.01, timeout=30, transport=transport)
    async with scraper:
        await eventually(lambda: hung.hits == 1)
        assert scrape_tasks() == {"scrape driver", f"scrape 127.0.0.11:{hung.port}"}
    assert scrape_tasks() == set()
    assert scraper.scraping == frozenset()
