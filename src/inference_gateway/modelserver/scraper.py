"""Scrapes every model server on a schedule into the datastore as fresh ``Metrics`` snapshots.

The scraper is an ``EndpointListener``: the datastore tells it when an ``ip:port`` appears
(start scraping it) or goes (stop; ``close`` awaits everything). Each endpoint is GET
``<scheme>://<hostport><path>`` every ``interval`` over a kept-alive connection; the body is
parsed with the mapping the pod's ``inference.networking.k8s.io/engine-type`` label selects, and
a new frozen ``Metrics`` stamped with ``clock()`` is swapped in. A failed scrape (refused,
timeout, non-200, unreadable body) leaves the last snapshot in place so its ``updated_at`` ages
and readers asking for fresh endpoints drop it; the endpoint itself stays. Failures are logged
once when they start and once on recovery, and counted in ``stats``.

One driver task per scraper, not one loop task per endpoint (STYLE rule 9 gives way here).
The driver (``_due.DueQueue``) keeps the endpoints by due time, starts each due scrape as a
short-lived task (``scrape <hostport>``, alive only while that request is in flight, under the
per-scrape timeout) and sleeps until the next one is due or an endpoint is added sooner. When
a scrape ends its endpoint is queued again one interval after its previous due time, so a slow
or hung endpoint delays only itself. Why: a sleeping per-endpoint loop is about 20 objects the
cyclic GC tracks (task, coroutines, sleep future, timer handle, contexts, client objects):
100k at 5,000 pods against 40k now (datastore included), and every full collection walks them
all while the event loop waits (``bench pool-load``: full passes of 60-100 ms on a loaded box).
Between scrapes an endpoint is one slotted ``_Target``, its fetcher and one queue entry.
Removing an endpoint cancels its scrape in flight (``join_removed`` awaits that); its queue
entry is dropped when it comes due. First scrapes start at a random phase within the first
interval, so a few hundred endpoints added at once do not all parse in the same tick of the
loop; ``_lag`` warns when the scrapes of an endpoint fall behind the interval.

Two HTTP clients are available. ``transport="aiohttp"`` shares one ``ClientSession``
(keep-alive, ``limit_per_host`` connections per server, http or https). ``transport="lean"`` is
``_http.LeanClient``: one kept-alive plain-http connection per server and only the response
framing a metrics page needs, and enforces the per-scrape timeout itself (one timer on its own
future instead of an ``asyncio.timeout`` block). ``bench scrape`` measured ~200 us of CPU per
scrape with aiohttp and ~75-95 us with the lean client (256 servers every 50 ms: ~1.0 core vs
~0.4-0.5 core), so the default, ``auto``, takes the lean client for http, aiohttp for https.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Protocol

from inference_gateway.aio import spawn
from inference_gateway.datastore.objects import ENGINE_TYPE_LABEL
from inference_gateway.datastore.store import EndpointListener
from inference_gateway.datastore.types import Endpoint, Metrics
from inference_gateway.modelserver._due import DueQueue
from inference_gateway.modelserver._fetch import (
    AiohttpFetchers,
    Fetcher,
    LeanFetcher,
    ScrapeFailure,
)
from inference_gateway.modelserver._lag import LagWatch
from inference_gateway.modelserver.parser import MetricsParseError, parse
from inference_gateway.modelserver.spec import EngineMapping, EngineMappings
from inference_gateway.modelserver.stats import ScrapeStats

log = logging.getLogger(__name__)

# Upstream's refresh interval and datalayer per-scrape timeout.
DEFAULT_INTERVAL = 0.05
DEFAULT_TIMEOUT = 1.0
# A vLLM body is ~50-150 KB; anything 100x larger is not a metrics page.
MAX_BODY_BYTES = 16 * 1024 * 1024
# Scrapes due within this of each other start together (``bench scrape``, 128 servers every
# 50 ms: 82 us of CPU per scrape with 1 ms, 53-56 us with 5 ms; 69-72 us with a loop per
# endpoint). A tenth of the interval at most, and never under uvloop's 1 ms clock.
MAX_BATCH = 0.005


class MetricsSink(Protocol):
    """The part of the datastore the scraper needs."""

    def add_listener(self, listener: EndpointListener) -> None: ...

    def set_metrics(self, hostport: str, metrics: Metrics) -> None: ...


Transport = Literal["auto", "aiohttp", "lean"]
"""``aiohttp``: one shared ClientSession. ``lean``: ``LeanClient``, plain http, half the CPU.
``auto``: lean for http, aiohttp for https."""


class _Target:
    """One endpoint being scraped: what to fetch, when next, and whether it is failing.

    Slotted and holding no task between scrapes, so a pool of thousands costs the cyclic
    GC a few objects per endpoint (see the module docstring).
    """

    __slots__ = (
        "failing_since",
        "failures",
        "fetcher",
        "hostport",
        "mapping",
        "next_at",
        "started_at",
        "task",
    )

    def __init__(self, hostport: str, mapping: EngineMapping, fetcher: Fetcher) -> None:
        self.hostport = hostport
        self.mapping = mapping
        self.fetcher = fetcher
        self.next_at = 0.0
        self.task: asyncio.Task[None] | None = None
        """The scrape in flight, if any."""
        self.failures = 0
        self.failing_since = 0.0
        self.started_at: float | None = None
        """Loop time the previous scrape started (None: none yet)."""


class MetricsScraper:
    """Owns the scrape driver; use as ``async with MetricsScraper(datastore) as scraper:``."""

    def __init__(
        self,
        datastore: MetricsSink,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = DEFAULT_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        scheme: str = "http",
        path: str = "/metrics",
        engines: EngineMappings | None = None,
        limit_per_host: int = 1,
        gzip: bool = True,
        max_body_bytes: int = MAX_BODY_BYTES,
        transport: Transport = "auto",
        rng: random.Random | None = None,
        port: int | None = None,
        engine_label: str = ENGINE_TYPE_LABEL,
        verify_tls: bool = False,
        lag_window: float = 10.0,
    ) -> None:
        if transport == "lean" and scheme != "http":
            raise ValueError("the lean transport speaks plain http only")
        if transport == "auto":
            transport = "lean" if scheme == "http" else "aiohttp"
        self._datastore = datastore
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        self._scheme = scheme
        self._path = path if path.startswith("/") else "/" + path
        self._engines = engines or EngineMappings()
        self._limit_per_host = limit_per_host
        self._max_body = max_body_bytes
        self._transport = transport
        self.transport: Literal["aiohttp", "lean"] = transport
        """The HTTP client in use (``auto`` resolved)."""
        self._gzip = gzip
        self._rng = rng or random.Random()
        self._port = port
        """Scrape this port instead of each endpoint's (upstream's --model-server-metrics-port)."""
        self._engine_label = engine_label
        self._verify_tls = verify_tls
        """Verify an https model server's certificate (upstream skips it by default)."""
        self._shared: AiohttpFetchers | None = None
        self._started = False
        self._targets: dict[str, _Target] = {}
        self._due: DueQueue[_Target] = DueQueue(batch=max(0.001, min(MAX_BATCH, interval / 10)))
        """Every target not being scraped right now, by due time."""
        self._driver: asyncio.Task[None] | None = None
        self._all_tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.stats = ScrapeStats()
        self._lag = LagWatch(interval, self.stats.lag, window=lag_window)

    # --- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> MetricsScraper:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the shared session, start the driver and subscribe to the datastore."""
        if self._started or self._closed:
            raise RuntimeError("MetricsScraper can be started once")
        self._started = True
        if self._transport == "aiohttp":
            self._shared = AiohttpFetchers(
                limit_per_host=self._limit_per_host,
                gzip=self._gzip,
                max_body=self._max_body,
                timeout=self._timeout,
                verify_tls=self._verify_tls,
            )
        self._driver = spawn(
            self._due.run(self._start), name="scrape driver", owner=self._all_tasks
        )
        self._datastore.add_listener(self)

    async def close(self) -> None:
        """Cancel the driver and every scrape in flight, await them, close the clients."""
        self._closed = True
        targets = list(self._targets.values())
        self._targets.clear()
        self._due.clear()
        tasks = list(self._all_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for target in targets:
            target.fetcher.close()
        if self._shared is not None:
            await self._shared.close()

    async def join_removed(self) -> None:
        """Wait until the scrapes in flight of removed endpoints have finished cancelling."""
        live = {t.task for t in self._targets.values()} | {self._driver}
        stopping = [t for t in self._all_tasks if t not in live]
        await asyncio.gather(*stopping, return_exceptions=True)

    @property
    def scraping(self) -> frozenset[str]:
        """Host:ports being scraped."""
        return frozenset(self._targets)

    # --- EndpointListener -----------------------------------------------------------------
    def endpoint_added(self, endpoint: Endpoint) -> None:
        if self._closed or not self._started:
            return
        hostport = endpoint.hostport
        self._stop(hostport)
        mapping = self._engines.resolve(endpoint.labels.get(self._engine_label))
        target = _Target(hostport, mapping, self._fetcher(endpoint))
        self._targets[hostport] = target
        # A random phase within the first interval, so a pool of thousands added at once
        # does not scrape (and parse) in the same tick of the loop.
        loop = asyncio.get_running_loop()
        self._schedule(target, loop.time() + self._rng.uniform(0.0, self._interval))

    def endpoint_removed(self, endpoint: Endpoint) -> None:
        self._stop(endpoint.hostport)

    def _stop(self, hostport: str) -> None:
        target = self._targets.pop(hostport, None)
        if target is None:
            return
        # Its entry stays in the heap until due and is then dropped (``_drive`` checks).
        if target.task is not None:
            target.task.cancel()
        target.fetcher.close()
        if target.failures:
            self.stats.failing_endpoints -= 1

    # --- the driver -----------------------------------------------------------------------
    def _schedule(self, target: _Target, at: float) -> None:
        target.next_at = at
        self._due.push(target, at)

    def _start(self, target: _Target) -> None:
        """Called by the driver when ``target`` is due; entries of removed ones are dropped."""
        if self._targets.get(target.hostport) is target:
            now = asyncio.get_running_loop().time()
            if target.started_at is not None and not target.failures:
                self._lag.started(now - target.started_at, now, len(self._targets))
            target.started_at = now
            target.task = spawn(
                self._scrape(target),
                name=f"scrape {target.hostport}",
                owner=self._all_tasks,
                forever=False,
            )

    async def _scrape(self, target: _Target) -> None:
        try:
            await self._scrape_once(target)
        finally:
            target.task = None
            if self._targets.get(target.hostport) is target:
                now = asyncio.get_running_loop().time()
                self._schedule(target, max(target.next_at + self._interval, now))
            else:
                target.fetcher.close()

    def _fetcher(self, endpoint: Endpoint) -> Fetcher:
        if self._shared is not None:
            hostport = endpoint.hostport
            if self._port is not None:
                hostport = f"{endpoint.hostport.rpartition(':')[0]}:{self._port}"
            return self._shared.fetcher(f"{self._scheme}://{hostport}{self._path}")
        return LeanFetcher(
            endpoint.address,
            endpoint.port if self._port is None else self._port,
            self._path,
            gzip=self._gzip,
            max_body=self._max_body,
            timeout=self._timeout,
        )

    async def _scrape_once(self, target: _Target) -> None:
        self.stats.scrapes_total += 1
        try:
            body = await target.fetcher.fetch()
            now = self._clock()
            started = time.thread_time()
            try:
                metrics = parse(body.decode("utf-8", errors="replace"), target.mapping, now=now)
            finally:
                self.stats.parse_seconds_total += time.thread_time() - started
        except ScrapeFailure as e:
            self._failed(target, e.reason, str(e), None)
        except TimeoutError:
            self._failed(target, "timeout", f"no answer within {self._timeout}s", None)
        except OSError as e:  # e.g. creating the connection, before a client could map it
            self._failed(target, "connection", str(e) or type(e).__name__, None)
        except MetricsParseError as e:
            self._failed(target, "parse", str(e), None)
        except Exception as e:  # a bug or a surprise from a client: keep scraping
            self._failed(target, "unexpected", repr(e), e)
        else:
            self._datastore.set_metrics(target.hostport, metrics)
            if target.failures:
                log.info(
                    "metrics scrape of %s recovered after %d failed scrapes in %.1fs",
                    target.hostport,
                    target.failures,
                    self._clock() - target.failing_since,
                )
                target.failures = 0
                self.stats.failing_endpoints -= 1

    def _failed(self, target: _Target, reason: str, detail: str, exc: Exception | None) -> None:
        self.stats.errors_total[reason] += 1
        if target.failures == 0:
            target.failing_since = self._clock()
            self.stats.failing_endpoints += 1
            log.warning(
                "metrics scrape of %s failed (%s: %s); its last metrics will go stale",
                target.hostport,
                reason,
                detail[:200],
                exc_info=exc,
            )
        target.failures += 1
