"""Actual against predicted latency, under upstream's names for its latency-based routing.

Upstream's EPP (``pkg/epp/metrics``, the SLO-aware/predicted-latency scheduling) exports, per
model and target model: ``request_ttft_seconds`` and ``request_tpot_seconds`` (what each
request got), ``request_predicted_ttft_seconds`` and ``request_predicted_tpot_seconds`` (what
was predicted on the pod it was sent to), ``request_slo_violation_total`` by ``type``
(``ttft``, ``tpot``) for requests that carried ``x-slo-ttft-ms`` / ``x-slo-tpot-ms``, and the
``inference_request_metric`` gauge holding the latest of each by ``type``. Comparing the
actual and predicted histograms is how an operator sees whether the predictor tracks the
pods. The families carry the served API generation's prefix (``inference_objective`` for a
v1 pool, ``inference_model`` otherwise), as the other request families do. They are
observed when a response observer (the ``latency-predictor``) is configured. Upstream's
``*_prediction_duration_seconds`` time a call to its predictor sidecar; ours predicts inside
the scoring pass, which ``inference_extension_plugin_duration_seconds`` already times.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from inference_gateway.observability import buckets
from inference_gateway.observability.loop_metrics import (
    CounterChild,
    GaugeChild,
    HistogramChild,
    LoopCounter,
    LoopGauge,
    LoopHistogram,
)

_LABELS = ("model_name", "target_model_name")
_TYPED = (*_LABELS, "type")


@dataclass(frozen=True, slots=True)
class _Kind:
    """One of TTFT and TPOT: its two histograms, its violation counter and its gauges."""

    name: str
    actual: LoopHistogram
    predicted: LoopHistogram
    violations: LoopCounter
    gauge: LoopGauge


class LatencyMetrics:
    """Fed by ``EppMetrics.first_token`` and ``.decoded`` (the ``RequestMetrics`` port)."""

    def __init__(self, registry: CollectorRegistry, subsystem: str) -> None:
        s = subsystem
        gauge = LoopGauge(
            f"{s}_inference_request_metric",
            "Consolidated gauge for various inference request metrics including TTFT, TPOT, "
            "SLOs, and prediction durations.",
            _TYPED,
            registry,
        )
        violations = LoopCounter(
            f"{s}_request_slo_violation",
            "Counter of SLO violations for each model, target model, and violation type.",
            _TYPED,
            registry,
        )
        self.ttft = self._kind(
            "ttft", "TTFT", s, registry, buckets.REQUEST_DURATION, violations, gauge
        )
        self.tpot = self._kind("tpot", "TPOT", s, registry, buckets.TPOT, violations, gauge)
        self._children: dict[
            tuple[str, str, str], tuple[HistogramChild, HistogramChild, GaugeChild, GaugeChild]
        ] = {}
        self._slo_children: dict[tuple[str, str, str], tuple[CounterChild, GaugeChild]] = {}

    @staticmethod
    def _kind(
        name: str,
        upper: str,
        s: str,
        registry: CollectorRegistry,
        bounds: tuple[float, ...],
        violations: LoopCounter,
        gauge: LoopGauge,
    ) -> _Kind:
        actual = LoopHistogram(
            f"{s}_request_{name}_seconds",
            f"Inference model {upper} distribution in seconds for each model and target model.",
            _LABELS,
            registry,
            buckets=bounds,
        )
        predicted = LoopHistogram(
            f"{s}_request_predicted_{name}_seconds",
            f"Inference model Predicted {upper} distribution in seconds for each model and "
            "target model.",
            _LABELS,
            registry,
            buckets=bounds,
        )
        return _Kind(name, actual, predicted, violations, gauge)

    def observe(
        self,
        kind: _Kind,
        model: str,
        target: str,
        seconds: float,
        predicted: float | None,
        slo: float | None,
    ) -> None:
        key = (kind.name, model, target)
        c = self._children.get(key)
        if c is None:
            name = kind.name
            c = self._children[key] = (
                kind.actual.labels(model, target),
                kind.predicted.labels(model, target),
                kind.gauge.labels(model, target, name),
                kind.gauge.labels(model, target, f"predicted_{name}"),
            )
        actual, predicted_hist, last, last_predicted = c
        actual.observe(seconds)
        last.value = seconds
        if predicted is not None:
            predicted_hist.observe(predicted)
            last_predicted.value = predicted
        if slo is not None:
            self._judged(kind, model, target, seconds > slo)

    def _judged(self, kind: _Kind, model: str, target: str, violated: bool) -> None:
        """Only requests with an objective are judged, so only they create these series
        (upstream's counter appears with its first violation, ours with the first request
        judged, so that a rate over it reads 0 rather than nothing)."""
        key = (kind.name, model, target)
        c = self._slo_children.get(key)
        if c is None:
            name = kind.name
            c = self._slo_children[key] = (
                kind.violations.labels(model, target, name),
                kind.gauge.labels(model, target, f"{name}_slo_violation"),
            )
        count, last = c
        last.value = 1.0 if violated else 0.0
        if violated:
            count.inc()


__all__ = ["LatencyMetrics"]
