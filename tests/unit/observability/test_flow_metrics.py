"""Flow-control metrics: upstream's names, per flow and priority, and reasons for refusals."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from inference_gateway.observability.flow_metrics import FlowControlMetrics
from inference_gateway.requestcontrol.flowcontrol.admission import QueueLabels
from inference_gateway.requestcontrol.flowcontrol.types import FlowKey


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_queue_size_bytes_duration_and_counters() -> None:
    r = CollectorRegistry()
    m = FlowControlMetrics(r)
    a, b = FlowKey("team-a", 0), FlowKey("team-b", 1)
    chat = QueueLabels("pool", "chat", "chat-v2")
    pool = {"inference_pool": "pool", "model_name": "chat", "target_model_name": "chat-v2"}
    m.enqueued(a, 100, chat)
    m.enqueued(a, 50, chat)
    m.enqueued(b, 10, chat)
    prefix = "inference_extension_flow_control_"
    assert value(r, prefix + "queue_size", fairness_id="team-a", priority="0", **pool) == 2
    assert value(r, prefix + "queue_bytes", fairness_id="team-a", priority="0", **pool) == 150
    m.left(a, 100, "Dispatched", 0.2, chat)
    m.left(a, 50, "EvictedTTL", 30.0, chat)
    m.left(b, 10, "Cancelled", 0.01, chat)
    m.rejected(b, "band-requests")
    m.saturation("pool", 0.75)
    assert value(r, prefix + "queue_size", fairness_id="team-a", priority="0", **pool) == 0
    assert value(r, prefix + "queue_bytes", fairness_id="team-b", priority="1", **pool) == 0
    duration = prefix + "request_queue_duration_seconds_count"
    at = {"fairness_id": "team-a", "priority": "0", "outcome": "Dispatched", **pool}
    assert value(r, duration, **at) == 1
    at = {"fairness_id": "team-b", "priority": "1", "outcome": "Cancelled", **pool}
    assert value(r, duration, **at) == 1
    assert value(r, prefix + "pool_saturation", inference_pool="pool") == 0.75
    assert value(r, prefix + "dispatched_total", priority="0") == 1
    assert value(r, prefix + "rejected_total", priority="0", reason="ttl") == 1
    assert value(r, prefix + "rejected_total", priority="1", reason="band-requests") == 1
