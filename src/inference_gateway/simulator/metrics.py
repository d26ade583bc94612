"""``/metrics`` for a simulated pod: a custom collector that reads the engine at scrape time.

Names and labels are vLLM v1's (``vllm/v1/metrics/loggers.py``): every engine series has
``model_name`` and ``engine`` ("0"); ``vllm:cache_config_info`` has no ``model_name``;
``vllm:lora_requests_info`` is a gauge whose value is the Unix time of its update (here the
scrape) with comma-joined adapter lists. ``kind="sglang"`` exposes SGLang's names instead.
Each pod has its own ``CollectorRegistry``, so many pods share one process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.histogram import Histogram

MetricsKind = Literal["vllm", "sglang"]


class EngineCollector(Collector):
    """Builds every family from the engine's current state on each ``collect``."""

    def __init__(self, engine: Engine, kind: MetricsKind = "vllm") -> None:
        self.engine = engine
        self.kind = kind

    def collect(self) -> Iterator[Metric]:
        if self.kind == "sglang":
            yield from self._sglang()
        else:
            yield from self._vllm()

    def _vllm(self) -> Iterator[Metric]:
        e, cfg = self.engine, self.engine.config
        names, values = ["model_name", "engine"], [cfg.model, "0"]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=names)
            g.add_metric(values, value)
            return g

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            c = CounterMetricFamily(name, doc, labels=names)
            c.add_metric(values, value)
            return c

        yield gauge(
            "vllm:num_requests_running", "Requests in model execution batches.", e.num_running
        )
        yield gauge("vllm:num_requests_waiting", "Requests waiting to be processed.", e.num_waiting)
        yield gauge(
            "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", e.kv_usage
        )
        lora = GaugeMetricFamily(
            "vllm:lora_requests_info",
            "Running stats on lora requests.",
            labels=["max_lora", "running_lora_adapters", "waiting_lora_adapters"],
        )
        lora.add_metric(
            [str(cfg.max_loras), ",".join(e.running_adapters), ",".join(e.waiting_adapters)],
            time.time(),
        )
        yield lora
        info = GaugeMetricFamily(
            "vllm:cache_config_info",
            "Information of the LLMEngine CacheConfig",
            labels=["block_size", "enable_prefix_caching", "engine", "num_gpu_blocks"],
        )
        info.add_metric(
            [str(cfg.block_size), str(cfg.enable_prefix_caching), "0", str(cfg.kv_blocks)], 1.0
        )
        yield info
        yield counter(
            "vllm:prefix_cache_queries", "Prefix cache queries, in tokens.", e.prefix_cache_queries
        )
        yield counter(
            "vllm:prefix_cache_hits", "Prefix cache hits, in tokens.", e.prefix_cache_hits
        )
        yield counter(
            "vllm:num_preemptions", "Cumulative number of preemptions.", e.num_preemptions
        )
        yield counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", e.prompt_tokens_total
        )
        yield counter(
            "vllm:generation_tokens", "Number of generation tokens.", e.generation_tokens_total
        )
        success = CounterMetricFamily(
            "vllm:request_success",
            "Count of successfully processed requests.",
            labels=[*names, "finished_reason"],
        )
        for reason in ("stop", "length", "abort"):
            success.add_metric([*values, reason], e.success[reason])
        yield success
        for name, doc, hist in (
            ("vllm:time_to_first_token_seconds", "Histogram of time to first token.", e.ttft),
            ("vllm:inter_token_latency_seconds", "Histogram of inter-token latency.", e.itl),
            ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency.", e.e2e),
        ):
            yield _histogram(name, doc, hist, names, values)

    def _sglang(self) -> Iterator[Metric]:
        e, cfg = self.engine, self.engine.config
        names, values = ["model_name"], [cfg.model]
        for name, doc, value in (
            ("sglang:num_running_reqs", "The number of running requests.", e.num_running),
            (
                "sglang:num_queue_reqs",
                "The number of requests in the waiting queue.",
                e.num_waiting,
            ),
            ("sglang:token_usage", "The token usage.", e.kv_usage),
        ):
            g = GaugeMetricFamily(name, doc, labels=names)
            g.add_metric(values, value)
            yield g
        info = GaugeMetricFamily(
            "sglang:cache_config_info", "Cache configuration.", labels=["num_pages", "page_size"]
        )
        info.add_metric([str(cfg.kv_blocks), str(cfg.block_size)], 1.0)
        yield info
        yield _histogram(
            "sglang:time_to_first_token_seconds", "Time to first token.", e.ttft, names, values
        )


def _histogram(
    name: str, doc: str, hist: Histogram, names: list[str], values: list[str]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=names)
    family.add_metric(values, hist.cumulative(), sum_value=hist.sum)
    return family


def make_registry(engine: Engine, kind: MetricsKind = "vllm") -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine, kind))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
