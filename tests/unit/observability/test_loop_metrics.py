"""The lock-free request-path families expose exactly what ``prometheus_client`` would."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from inference_gateway.observability.loop_metrics import LoopCounter, LoopGauge, LoopHistogram

BOUNDS = (0.001, 0.01, 0.1, 1.0, 10.0)
OBSERVED = (0.0, 0.001, 0.0010001, 0.05, 1.0, 9.99, 10.0, 11.0, 1e12, -3.0)


def text(registry: CollectorRegistry) -> str:
    """The exposition with creation timestamps blanked (they differ by construction)."""
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 X", generate_latest(registry).decode())


def test_same_exposition_as_prometheus_client() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    c1 = LoopCounter("req", "Requests.", ("model", "target"), ours)
    c2 = Counter("req", "Requests.", ("model", "target"), registry=theirs)
    g1 = LoopGauge("running", "Running.", ("model",), ours)
    g2 = Gauge("running", "Running.", ("model",), registry=theirs)
    h1 = LoopHistogram("lat", "Latency.", ("model",), ours, buckets=BOUNDS)
    h2 = Histogram("lat", "Latency.", ("model",), buckets=BOUNDS, registry=theirs)
    u1 = LoopHistogram("e2e", "End to end.", (), ours, buckets=BOUNDS)
    u2 = Histogram("e2e", "End to end.", buckets=BOUNDS, registry=theirs)
    LoopCounter("never", "Never used.", ("x",), ours)
    Counter("never", "Never used.", ("x",), registry=theirs)
    assert text(ours) == text(theirs)  # unlabelled series exist from the start

    for model, target in (("m", "t"), ("m", "u"), ("n", "t"), ("m", "t")):
        c1.labels(model, target).inc()
        c2.labels(model, target).inc()
        g1.labels(model).inc()
        g2.labels(model).inc()
    g1.labels("m").dec()
    g2.labels("m").dec()
    c1.labels("n", "t").inc(2.5)
    c2.labels("n", "t").inc(2.5)
    for value in OBSERVED:
        h1.labels("m").observe(value)
        h2.labels("m").observe(value)
        u1.labels().observe(value)
        u2.observe(value)
    h1.labels("z")
    h2.labels("z")
    assert text(ours) == text(theirs)
    assert 'lat_bucket{le="0.001",model="m"} 3.0' in text(ours)


def test_label_count_is_checked_and_buckets_must_ascend() -> None:
    registry = CollectorRegistry()
    counter = LoopCounter("c", "C.", ("a", "b"), registry)
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels("only-one")
    with pytest.raises(ValueError, match="ascending"):
        LoopHistogram("h", "H.", (), registry, buckets=(1.0, 0.5))


def test_a_name_registered_twice_is_refused() -> None:
    registry = CollectorRegistry()
    LoopCounter("dup", "D.", (), registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("dup", "D.", registry=registry)
