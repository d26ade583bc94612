"""Pool gauges computed at scrape time from the datastore, as upstream's custom collector.

Only endpoints with fresh metrics count (younger than ``fresh_within``; upstream's
``--metrics-staleness-threshold`` defaults to 2 s): a stale scrape says nothing about the
pool now. ``ready_pods`` is the number of such endpoints; averages are 0 when there are none.
Runs on the event loop thread (the datastore is not thread-safe), which a scrape never
blocks for long: a few arithmetic passes over the endpoint snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from inference_gateway.datastore import Datastore

# Upstream default of --metrics-staleness-threshold.
DEFAULT_FRESH_WITHIN = 2.0


class PoolCollector(Collector):
    def __init__(
        self,
        datastore: Datastore,
        *,
        clock: Callable[[], float],
        fresh_within: float = DEFAULT_FRESH_WITHIN,
    ) -> None:
        self._datastore = datastore
        self._clock = clock
        self._fresh_within = fresh_within

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = self._families()
        kv, queue, running, ready, per_pod = families
        now = self._clock()
        for pool in self._datastore.pools():
            fresh = [
                e
                for e in self._datastore.endpoints(pool.key)
                if e.metrics.age(now) <= self._fresh_within
            ]
            n = len(fresh)
            kv.add_metric([pool.name], sum(e.metrics.kv_usage for e in fresh) / n if n else 0.0)
            queue.add_metric([pool.name], sum(e.metrics.waiting for e in fresh) / n if n else 0.0)
            running.add_metric([pool.name], sum(e.metrics.running for e in fresh) / n if n else 0.0)
            ready.add_metric([pool.name], float(n))
            for e in fresh:
                per_pod.add_metric([pool.name, e.name], float(e.metrics.waiting))
        yield from families

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "inference_pool_average_kv_cache_utilization",
                "The average kv cache utilization for an inference server pool.",
                labels=["name"],
            ),
            GaugeMetricFamily(
                "inference_pool_average_queue_size",
                "The average number of requests pending in the model server queue.",
                labels=["name"],
            ),
            GaugeMetricFamily(
                "inference_pool_average_running_requests",
                "The average number of requests running in the model servers.",
                labels=["name"],
            ),
            GaugeMetricFamily(
                "inference_pool_ready_pods",
                "The number of ready pods (with fresh metrics) in the inference server pool.",
                labels=["name"],
            ),
            GaugeMetricFamily(
                "inference_pool_per_pod_queue_size",
                "The total number of requests pending in the model server queue for each pod.",
                labels=["name", "model_server_pod"],
            ),
        )
