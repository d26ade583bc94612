"""The EPP's own Prometheus metrics, named as upstream names them for the API generation served.

Per-request families are ``inference_model_*`` for a v1alpha2 (``inference.networking.x-k8s.io``)
pool, as upstream up to v1.0 named them, and ``inference_objective_*`` for a v1 pool, as upstream
names them from v1.1 (``subsystem``); pool, scheduler and plugin families do not change.

Each ``EppMetrics`` owns a private ``CollectorRegistry`` (never the global one), so tests and
benchmarks can build as many as they like. It implements the request-control layer's
``RequestMetrics`` port, the scheduler framework's plugin-timing ``Observer``
(``observe_plugin``), and serves ``/metrics`` (``serve``). Semantics follow upstream:
``request_total`` counts routed requests, ``request_error_total`` counts each failed
request once with its error code, ``running_requests`` spans route to finish, and latency,
sizes and tokens are observed when a response completes.

The families a request updates are ``loop_metrics`` ones (lock-free, event-loop thread only,
same exposition); their children are cached per (model, target) and per plugin, so each call
is a dict lookup and a few additions. Errors and build info stay ``prometheus_client``'s own.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from inference_gateway.datastore import Datastore
from inference_gateway.observability import buckets
from inference_gateway.observability.flow_metrics import FlowControlMetrics
from inference_gateway.observability.latency_metrics import LatencyMetrics
from inference_gateway.observability.loop_metrics import (
    CounterChild,
    GaugeChild,
    HistogramChild,
    LoopCounter,
    LoopGauge,
    LoopHistogram,
)
from inference_gateway.observability.pool_collector import DEFAULT_FRESH_WITHIN, PoolCollector
from inference_gateway.observability.server import serve_metrics

_MODEL_LABELS = ("model_name", "target_model_name")
Subsystem = Literal["inference_model", "inference_objective"]
MODEL_SUBSYSTEM: Subsystem = "inference_model"
"""v1alpha2 pools (upstream up to v1.0)."""
OBJECTIVE_SUBSYSTEM: Subsystem = "inference_objective"
"""v1 pools (upstream from v1.1)."""


def metrics_subsystem(pool_group: str | None) -> Subsystem:
    """Upstream's names for the pool served: ``inference_objective`` for a v1 pool in
    Kubernetes (``inference.networking.k8s.io``), ``inference_model`` for a v1alpha2 pool and
    for the standalone file (whose dashboards and demo read the v1.0 names)."""
    return OBJECTIVE_SUBSYSTEM if pool_group == "inference.networking.k8s.io" else MODEL_SUBSYSTEM


@dataclass(frozen=True, slots=True)
class _Children:
    total: CounterChild
    request_sizes: HistogramChild
    duration: HistogramChild
    response_sizes: HistogramChild
    input_tokens: HistogramChild
    output_tokens: HistogramChild
    cached_tokens: HistogramChild
    ntpot: HistogramChild
    running: GaugeChild


class EppMetrics:
    def __init__(
        self,
        datastore: Datastore | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        fresh_within: float = DEFAULT_FRESH_WITHIN,
        commit: str = "unknown",
        build_ref: str = "unknown",
        subsystem: Subsystem = MODEL_SUBSYSTEM,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.subsystem = subsystem
        r = self.registry
        s = subsystem
        self.flow = FlowControlMetrics(r)
        """Flow control's queue metrics (issue 16); families stay empty while it is off."""
        self.latency = LatencyMetrics(r, s)
        """Actual against predicted TTFT and TPOT (with the ``latency-predictor``)."""
        self.request_total = LoopCounter(
            f"{s}_request",
            "Counter of inference model requests broken out for each model and target model.",
            _MODEL_LABELS,
            r,
        )
        self.request_error_total = Counter(
            f"{s}_request_error",
            "Counter of inference model requests errors broken out for each model and "
            "target model.",
            (*_MODEL_LABELS, "error_code"),
            registry=r,
        )
        self.request_duration = self._histogram(
            f"{s}_request_duration_seconds",
            "Inference model response latency distribution in seconds for each model and "
            "target model.",
            buckets.REQUEST_DURATION,
        )
        self.request_sizes = self._histogram(
            f"{s}_request_sizes",
            "Inference model requests size distribution in bytes for each model and target model.",
            buckets.REQUEST_SIZES,
        )
        self.response_sizes = self._histogram(
            f"{s}_response_sizes",
            "Inference model responses size distribution in bytes for each model and target model.",
            buckets.RESPONSE_SIZES,
        )
        self.input_tokens = self._histogram(
            f"{s}_input_tokens",
            "Inference model input token count distribution for requests in each model.",
            buckets.INPUT_TOKENS,
        )
        self.output_tokens = self._histogram(
            f"{s}_output_tokens",
            "Inference model output token count distribution for requests in each model.",
            buckets.OUTPUT_TOKENS,
        )
        self.cached_tokens = self._histogram(
            f"{s}_prompt_cached_tokens",
            "Inference model prompt cached token count distribution for requests in each model.",
            buckets.INPUT_TOKENS,
        )
        self.running_requests = LoopGauge(
            f"{s}_running_requests",
            "Inference model number of running requests in each model.",
            ("model_name",),
            r,
        )
        self.ntpot = self._histogram(
            f"{s}_normalized_time_per_output_token_seconds",
            "Inference model latency divided by number of output tokens in seconds for each "
            "model and target model.",
            buckets.NTPOT,
        )
        self.scheduler_e2e = LoopHistogram(
            "inference_extension_scheduler_e2e_duration_seconds",
            "End-to-end scheduling latency distribution in seconds.",
            (),
            r,
            buckets=buckets.SCHEDULER,
        )
        self._scheduler_e2e = self.scheduler_e2e.labels()
        self.plugin_duration = LoopHistogram(
            "inference_extension_plugin_duration_seconds",
            "Plugin processing latency distribution in seconds for each extension point, "
            "plugin type and plugin name.",
            ("extension_point", "plugin_type", "plugin_name"),
            r,
            buckets=buckets.SCHEDULER,
        )
        self.scheduler_attempts = LoopCounter(
            "inference_extension_scheduler_attempts",
            "Number of scheduling attempts, by outcome.",
            ("status",),
            r,
        )
        self.info = Gauge(
            "inference_extension_info",
            "General information of the current build of Inference Extension.",
            ("commit", "build_ref"),
            registry=r,
        )
        self.info.labels(commit, build_ref).set(1)
        self._children: dict[tuple[str, str], _Children] = {}
        self._running: dict[str, GaugeChild] = {}
        self._plugin_children: dict[tuple[str, str, str], HistogramChild] = {}
        self._attempt_ok = self.scheduler_attempts.labels("success")
        self._attempt_failed = self.scheduler_attempts.labels("failure")
        if datastore is not None:
            r.register(PoolCollector(datastore, clock=clock, fresh_within=fresh_within))

    def _histogram(self, name: str, doc: str, bounds: tuple[float, ...]) -> LoopHistogram:
        return LoopHistogram(name, doc, _MODEL_LABELS, self.registry, buckets=bounds)

    def _for(self, model: str, target: str) -> _Children:
        """Label children per (model, target), cached: ``labels()`` is the hot path's cost."""
        key = (model, target)
        children = self._children.get(key)
        if children is None:
            children = _Children(
                total=self.request_total.labels(model, target),
                request_sizes=self.request_sizes.labels(model, target),
                duration=self.request_duration.labels(model, target),
                response_sizes=self.response_sizes.labels(model, target),
                input_tokens=self.input_tokens.labels(model, target),
                output_tokens=self.output_tokens.labels(model, target),
                cached_tokens=self.cached_tokens.labels(model, target),
                ntpot=self.ntpot.labels(model, target),
                running=self.running_requests.labels(model),
            )
            self._children[key] = children
        return children

    # --- requestcontrol.RequestMetrics ----------------------------------------------------
    def request_routed(self, model: str, target: str, request_bytes: int) -> None:
        c = self._for(model, target)
        c.total.inc()
        c.request_sizes.observe(request_bytes)
        c.running.inc()

    def request_failed(self, model: str, target: str, code: str) -> None:
        self.request_error_total.labels(model, target, code).inc()

    def request_completed(
        self,
        model: str,
        target: str,
        *,
        seconds: float,
        response_bytes: int,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cached_tokens: int | None,
    ) -> None:
        c = self._for(model, target)
        c.duration.observe(seconds)
        c.response_sizes.observe(response_bytes)
        if prompt_tokens is not None:
            c.input_tokens.observe(prompt_tokens)
        if completion_tokens is not None:
            c.output_tokens.observe(completion_tokens)
            if completion_tokens > 0:
                c.ntpot.observe(seconds / completion_tokens)
        if cached_tokens is not None:
            c.cached_tokens.observe(cached_tokens)

    def request_ended(self, model: str) -> None:
        running = self._running.get(model)
        if running is None:
            running = self._running[model] = self.running_requests.labels(model)
        running.dec()

    def scheduled(self, seconds: float, *, success: bool) -> None:
        self._scheduler_e2e.observe(seconds)
        (self._attempt_ok if success else self._attempt_failed).inc()

    def first_token(
        self, model: str, target: str, *, ttft: float, predicted: float | None, slo: float | None
    ) -> None:
        self.latency.observe(self.latency.ttft, model, target, ttft, predicted, slo)

    def decoded(
        self, model: str, target: str, *, tpot: float, predicted: float | None, slo: float | None
    ) -> None:
        self.latency.observe(self.latency.tpot, model, target, tpot, predicted, slo)

    # --- scheduling framework Observer ----------------------------------------------------
    def observe_plugin(
        self, extension_point: str, plugin_type: str, plugin_name: str, seconds: float
    ) -> None:
        key = (extension_point, plugin_type, plugin_name)
        child = self._plugin_children.get(key)
        if child is None:
            child = self._plugin_children[key] = self.plugin_duration.labels(*key)
        child.observe(seconds)

    # --- exposition -----------------------------------------------------------------------
    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return bytes(generate_latest(self.registry))

    @asynccontextmanager
    async def serve(
        self, host: str = "0.0.0.0", port: int = 9090, *, bearer_token: str | None = None
    ) -> AsyncIterator[int]:
        """Serve ``/metrics`` while the context is open; yields the bound port."""
        async with serve_metrics(self.registry, host, port, bearer_token=bearer_token) as bound:
            yield bound
