"""The scraper against real HTTP servers on loopback, writing into a real Datastore."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from inference_gateway.datastore.objects import ENGINE_TYPE_LABEL, PodInfo, PoolInfo
from inference_gateway.datastore.store import Datastore
from inference_gateway.modelserver.collector import ScraperCollector
from inference_gateway.modelserver.scraper import MetricsScraper, Transport

from .conftest import FakeModelServer, eventually

StartServer = Callable[[str, str], Awaitable[FakeModelServer]]

POOL = "default/pool"


def vllm_text(waiting: int, running: int = 1, kv: float = 0.5) -> str:
    return (
        "# TYPE vllm:num_requests_waiting gauge\n"
        f'vllm:num_requests_waiting{{model_name="m"}} {waiting}\n'
        f'vllm:num_requests_running{{model_name="m"}} {running}\n'
        f'vllm:kv_cache_usage_perc{{model_name="m"}} {kv}\n'
    )


def add_pool(store: Datastore, port: int) -> None:
    store.upsert_pool(
        PoolInfo(name="pool", namespace="default", selector={"app": "m"}, target_ports=(port,))
    )


def add_pod(store: Datastore, name: str, ip: str, **labels: str) -> str:
    store.upsert_pod(
        PodInfo(name=name, namespace="default", address=ip, labels={"app": "m", **labels})
    )
    return name


async def two_pods(servers: StartServer) -> tuple[Datastore, FakeModelServer, FakeModelServer]:
    """Pods "a" (127.0.0.11, 1 waiting) and "b" (127.0.0.12, 2 waiting), their servers up."""
    a = await servers("127.0.0.11", vllm_text(1))
    b = await servers("127.0.0.12", vllm_text(2))
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", a.host)
    add_pod(store, "b", b.host)
    return store, a, b


@pytest.fixture(params=["aiohttp", "lean"])
def transport(request: pytest.FixtureRequest) -> Transport:
    """Every scraper test runs over both HTTP clients."""
    value: Transport = request.param
    return value


def scraper_for(store: Datastore, transport: Transport, *, timeout: float = 1.0) -> MetricsScraper:
    return MetricsScraper(store, interval=0.01, timeout=timeout, transport=transport)


async def test_metrics_land_and_follow_the_server(
    servers: StartServer, transport: Transport
) -> None:
    a = await servers("127.0.0.11", vllm_text(3))
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", "127.0.0.11")
    hp = f"127.0.0.11:{a.port}"
    async with scraper_for(store, transport) as scraper:
        await eventually(lambda: (m := store.metrics(hp)) is not None and m.waiting == 3)
        first = store.metrics(hp)
        assert first is not None and (first.running, first.kv_usage) == (1, 0.5)
        a.text = vllm_text(9, kv=0.75)
        await eventually(lambda: (m := store.metrics(hp)) is not None and m.waiting == 9)
        latest = store.metrics(hp)
        assert latest is not None and latest.updated_at > first.updated_at
        assert scraper.stats.errors_total.total() == 0
        (endpoint,) = store.endpoints(POOL)
        assert endpoint.metrics.kv_usage == 0.75


async def test_engine_type_label_selects_the_mapping(
    servers: StartServer, transport: Transport
) -> None:
    sglang_text = "sglang:num_queue_reqs 7\nsglang:num_running_reqs 2\nsglang:token_usage 0.1\n"
    a = await servers("127.0.0.11", sglang_text)
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", "127.0.0.11", **{ENGINE_TYPE_LABEL: "sglang"})
    hp = f"127.0.0.11:{a.port}"
    async with scraper_for(store, transport):
        await eventually(lambda: store.metrics(hp) is not None)
        m = store.metrics(hp)
        assert m is not None and (m.waiting, m.running, m.kv_usage) == (7, 2, 0.1)


async def test_endpoints_known_before_start_are_scraped(
    servers: StartServer, transport: Transport
) -> None:
    store, a, b = await two_pods(servers)
    async with scraper_for(store, transport) as scraper:
        assert scraper.scraping == {f"127.0.0.11:{a.port}", f"127.0.0.12:{b.port}"}
        await eventually(lambda: a.hits > 0 and b.hits > 0)
        await eventually(lambda: [e.metrics.waiting for e in store.endpoints(POOL)] == [1, 2])


@pytest.mark.parametrize("failure", ["http_500", "garbage", "connection"])
async def test_failing_server_goes_stale_stays_and_recovers(
    servers: StartServer, failure: str, caplog: pytest.LogCaptureFixture, transport: Transport
) -> None:
    a = await servers("127.0.0.11", vllm_text(4))
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", "127.0.0.11")
    hp = f"127.0.0.11:{a.port}"
    reason = {"http_500": "http_status", "garbage": "parse", "connection": "connection"}[failure]
    caplog.set_level(logging.INFO, logger="inference_gateway.modelserver.scraper")
    async with scraper_for(store, transport) as scraper:
        await eventually(lambda: store.metrics(hp) is not None)
        if failure == "http_500":
            a.status = 500
        elif failure == "garbage":
            a.text = "<html><body>upstream connect error</body></html>"
        else:
            await a.stop()
        await eventually(lambda: scraper.stats.errors_total[reason] >= 1)
        stale = store.metrics(hp)
        assert stale is not None
        await eventually(lambda: scraper.stats.errors_total[reason] >= 5)
        assert store.metrics(hp) == stale
        assert [e.hostport for e in store.endpoints(POOL)] == [hp]
        assert scraper.stats.failing_endpoints == 1
        assert scraper.scraping == {hp}

        a.status, a.text = 200, vllm_text(6)
        if failure == "connection":
            await a.start(a.port)
        await eventually(lambda: (m := store.metrics(hp)) is not None and m.waiting == 6)
        new = store.metrics(hp)
        assert new is not None and new.updated_at > stale.updated_at
        assert scraper.stats.failing_endpoints == 0

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    recoveries = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(warnings) == 1 and reason in warnings[0].getMessage()
    assert len(recoveries) == 1


async def test_timeout_counts_as_failure(servers: StartServer, transport: Transport) -> None:
    a = await servers("127.0.0.11", vllm_text(4))
    a.hang = True
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", "127.0.0.11")
    hp = f"127.0.0.11:{a.port}"
    async with scraper_for(store, transport, timeout=0.05) as scraper:
        await eventually(lambda: scraper.stats.errors_total["timeout"] >= 2)
        assert store.metrics(hp) is None
        assert [e.metrics.updated_at for e in store.endpoints(POOL)] == [float("-inf")]
        a.hang = False
        await eventually(lambda: store.metrics(hp) is not None)
        await a.stop()


def scrape_tasks() -> set[str]:
    return {t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("scrape ")}


async def test_removed_endpoint_loop_is_cancelled(
    servers: StartServer, transport: Transport
) -> None:
    a = await servers("127.0.0.11", vllm_text(1))
    await servers("127.0.0.12", vllm_text(2))
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", "127.0.0.11")
    add_pod(store, "b", "127.0.0.12")
    hp_a, hp_b = f"127.0.0.11:{a.port}", f"127.0.0.12:{a.port}"
    async with scraper_for(store, transport) as scraper:
        await eventually(lambda: store.metrics(hp_a) is not None)
        store.delete_pod("default/a")
        assert scraper.scraping == {hp_b}
        await scraper.join_removed()
        assert f"scrape {hp_a}" not in scrape_tasks()
        assert scrape_tasks() <= {"scrape driver", f"scrape {hp_b}"}
        assert store.metrics(hp_a) is None

        add_pod(store, "a", "127.0.0.11")
        assert scraper.scraping == {hp_a, hp_b}
        await eventually(lambda: store.metrics(hp_a) is not None)

        store.delete_pool(POOL)
        await scraper.join_removed()
        assert scraper.scraping == frozenset()
        assert scrape_tasks() == {"scrape driver"}


async def test_close_stops_every_loop_and_ignores_later_events(
    servers: StartServer, transport: Transport
) -> None:
    a = await servers("127.0.0.11", vllm_text(1))
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", "127.0.0.11")
    scraper = scraper_for(store, transport)
    async with scraper:
        assert "scrape driver" in scrape_tasks()
    assert scrape_tasks() == set()
    add_pod(store, "b", "127.0.0.12")
    assert scraper.scraping == frozenset()
    assert scrape_tasks() == set()


async def test_collector_exposes_stats(servers: StartServer, transport: Transport) -> None:
    a = await servers("127.0.0.11", vllm_text(1))
    a.status = 503
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", "127.0.0.11")
    registry = CollectorRegistry()
    async with scraper_for(store, transport) as scraper:
        registry.register(ScraperCollector(scraper.stats))
        await eventually(lambda: scraper.stats.errors_total["http_status"] >= 2)
        text = generate_latest(registry).decode()
    assert "inference_gateway_model_server_scrapes_total" in text
    assert 'inference_gateway_model_server_scrape_errors_total{reason="http_status"}' in text
    assert "inference_gateway_model_server_scrape_failing_endpoints 1.0" in text


async def test_gzip_body_and_custom_path(transport: Transport) -> None:
    server = FakeModelServer("127.0.0.11", vllm_text(5), path="/stats/prometheus")
    server.gzip = True
    await server.start()
    try:
        store = Datastore()
        add_pool(store, server.port)
        add_pod(store, "a", "127.0.0.11")
        hp = f"127.0.0.11:{server.port}"
        async with MetricsScraper(
            store, interval=0.01, path="stats/prometheus", transport=transport
        ):
            await eventually(lambda: (m := store.metrics(hp)) is not None and m.waiting == 5)
        assert "gzip" in server.seen_headers.get("Accept-Encoding", "")
    finally:
        await server.stop()


async def test_scraper_starts_once() -> None:
    scraper = MetricsScraper(Datastore())
    async with scraper:
        with pytest.raises(RuntimeError, match="started once"):
            await scraper.start()


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_body_is_refused(
    servers: StartServer, chunked: bool, transport: Transport
) -> None:
    a = await servers("127.0.0.11", vllm_text(5))
    a.chunked = chunked
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", "127.0.0.11")
    hp = f"127.0.0.11:{a.port}"
    async with MetricsScraper(
        store, interval=0.01, max_body_bytes=4096, transport=transport
    ) as scraper:
        await eventually(lambda: (m := store.metrics(hp)) is not None and m.waiting == 5)
        a.text = vllm_text(6) + "# padding\n" * 1000
        await eventually(lambda: scraper.stats.errors_total["too_large"] >= 2)
        m = store.metrics(hp)
        assert m is not None and m.waiting == 5


def test_auto_takes_the_lean_client_for_http_and_aiohttp_for_https() -> None:
    assert MetricsScraper(Datastore()).transport == "lean"
    assert MetricsScraper(Datastore(), scheme="https").transport == "aiohttp"
    assert MetricsScraper(Datastore(), transport="aiohttp").transport == "aiohttp"
    with pytest.raises(ValueError, match="plain http"):
        MetricsScraper(Datastore(), scheme="https", transport="lean")


async def test_metrics_port_and_engine_label_key_override(
    servers: StartServer, transport: Transport
) -> None:
    """Upstream's --model-server-metrics-port (scrape another port than the target port) and
    core-metrics-extractor's engineLabelKey (read the engine from another pod label)."""
    metrics = await servers("127.0.0.11", "sglang:num_queue_reqs 4\n")
    store = Datastore()
    add_pool(store, 8000)  # the serving port; nothing listens there
    add_pod(store, "a", "127.0.0.11", engine="sglang")
    hp = "127.0.0.11:8000"
    async with MetricsScraper(
        store, interval=0.01, transport=transport, port=metrics.port, engine_label="engine"
    ) as scraper:
        await eventually(lambda: (m := store.metrics(hp)) is not None and m.waiting == 4)
        assert scraper.stats.errors_total.total() == 0
