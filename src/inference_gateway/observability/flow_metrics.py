"""Flow-control metrics, under upstream's names where upstream has them.

Upstream (v1.5 ``pkg/epp/metrics``): ``inference_extension_flow_control_queue_size`` and
``..._queue_bytes`` (gauges per fairness id and priority) and
``..._request_queue_duration_seconds`` (histogram per fairness id, priority and outcome),
all three also per ``inference_pool``, ``model_name`` and ``target_model_name``; and
``..._pool_saturation`` per pool (the gate's saturation, set on each dispatch cycle while
requests wait). The dispatch and rejection counters are ours (upstream only
counts outcomes inside the duration histogram): ``..._dispatched_total`` per priority and
``..._rejected_total`` per priority and reason (``band-requests``, ``band-bytes``,
``global-requests``, ``global-bytes``, ``ttl``, ``displaced``, ``shutdown``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from inference_gateway.requestcontrol.flowcontrol.admission import QueueLabels
from inference_gateway.requestcontrol.flowcontrol.types import FlowKey

QUEUE_DURATION_BUCKETS = (
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Upstream's range, 0.1 ms to 60 s."""

_REJECTED_OUTCOMES = {"EvictedTTL": "ttl", "EvictedDisplaced": "displaced", "Shutdown": "shutdown"}


class FlowControlMetrics:
    """Implements ``requestcontrol.flowcontrol.admission.FlowMetrics``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("fairness_id", "priority", "inference_pool", "model_name", "target_model_name")
        self.queue_size = Gauge(
            "inference_extension_flow_control_queue_size",
            "Requests waiting in flow control, per fairness id and priority.",
            labels,
            registry=registry,
        )
        self.queue_bytes = Gauge(
            "inference_extension_flow_control_queue_bytes",
            "Bytes of requests waiting in flow control, per fairness id and priority.",
            labels,
            registry=registry,
        )
        self.queue_duration = Histogram(
            "inference_extension_flow_control_request_queue_duration_seconds",
            "Time requests spent in flow control, per fairness id, priority and outcome.",
            (*labels, "outcome"),
            buckets=QUEUE_DURATION_BUCKETS,
            registry=registry,
        )
        self.dispatched = Counter(
            "inference_extension_flow_control_dispatched",
            "Requests flow control released to the scheduler after waiting, per priority.",
            ("priority",),
            registry=registry,
        )
        self.rejected_total = Counter(
            "inference_extension_flow_control_rejected",
            "Requests flow control answered itself (429/503), per priority and reason.",
            ("priority", "reason"),
            registry=registry,
        )
        self.pool_saturation = Gauge(
            "inference_extension_flow_control_pool_saturation",
            "The dispatch gate's pool saturation (1.0: full), while requests wait.",
            ("inference_pool",),
            registry=registry,
        )

    def enqueued(self, key: FlowKey, size: int, where: QueueLabels) -> None:
        labels = (key.fairness_id, str(key.priority), where.pool, where.model, where.target)
        self.queue_size.labels(*labels).inc()
        self.queue_bytes.labels(*labels).inc(size)

    def left(
        self, key: FlowKey, size: int, outcome: str, waited: float, where: QueueLabels
    ) -> None:
        priority = str(key.priority)
        labels = (key.fairness_id, priority, where.pool, where.model, where.target)
        self.queue_size.labels(*labels).dec()
        self.queue_bytes.labels(*labels).dec(size)
        self.queue_duration.labels(*labels, outcome).observe(waited)
        if outcome == "Dispatched":
            self.dispatched.labels(priority).inc()
        elif outcome in _REJECTED_OUTCOMES:
            self.rejected_total.labels(priority, _REJECTED_OUTCOMES[outcome]).inc()

    def rejected(self, key: FlowKey, reason: str) -> None:
        self.rejected_total.labels(str(key.priority), reason).inc()

    def saturation(self, pool: str, value: float) -> None:
        self.pool_saturation.labels(pool).set(value)
