from __future__ import annotations

import pytest
from pydantic import ValidationError

from inference_gateway.scheduling.saturation import SaturationDetector, SaturationParams
from inference_gateway.scheduling.types import Criticality, NoCapacityError
from inference_gateway.scheduling.utilization import UtilizationDetector
from tests.unit.scheduling.helpers import NOW, make_endpoint, make_request


@pytest.mark.parametrize(
    ("endpoints", "saturated"),
    [
        ([], True),
        ([make_endpoint("p0", waiting=5, kv=0.8)], False),
        ([make_endpoint("p0", waiting=6, kv=0.1)], True),
        ([make_endpoint("p0", waiting=0, kv=0.81)], True),
        ([make_endpoint("p0", waiting=9), make_endpoint("p1", waiting=1, kv=0.5)], False),
        ([make_endpoint("p0", updated_at=NOW - 0.2)], False),  # exactly at the threshold
        ([make_endpoint("p0", updated_at=NOW - 0.21)], True),  # stale: counts as saturated
        ([make_endpoint("p0", updated_at=float("-inf"))], True),  # never scraped
    ],
)
def test_is_saturated(endpoints: list[object], saturated: bool) -> None:
    assert SaturationDetector().is_saturated(endpoints, NOW) is saturated  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("criticality", "saturated", "shed"),
    [
        (Criticality.SHEDDABLE, True, True),
        (Criticality.SHEDDABLE, False, False),
        (Criticality.STANDARD, True, False),
        (Criticality.CRITICAL, True, False),
    ],
)
def test_admit(criticality: Criticality, saturated: bool, shed: bool) -> None:
    eps = [make_endpoint("p0", waiting=50 if saturated else 0)]
    detector = SaturationDetector()
    if shed:
        with pytest.raises(NoCapacityError, match="limited backend resources"):
            detector.admit(make_request(criticality), eps, NOW)
    else:
        detector.admit(make_request(criticality), eps, NOW)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("200ms", 0.2), ("1s", 1.0), ("1.5s", 1.5), ("250us", 0.00025), (0.3, 0.3), ("2m", 120.0)],
)
def test_staleness_accepts_durations(value: object, seconds: float) -> None:
    params = SaturationParams(metricsStalenessThreshold=value)
    assert params.metricsStalenessThreshold == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["fast", "10", "-1s", -1.0])
def test_staleness_rejects_garbage(value: object) -> None:
    with pytest.raises(ValidationError):
        SaturationParams(metricsStalenessThreshold=value)


def test_custom_thresholds() -> None:
    detector = SaturationDetector(
        params=SaturationParams(queueDepthThreshold=0, kvCacheUtilThreshold=0.5)
    )
    assert detector.is_saturated([make_endpoint("p0", waiting=1)], NOW)
    assert not detector.is_saturated([make_endpoint("p0", waiting=0, kv=0.5)], NOW)


def test_a_refusal_says_which_endpoints_were_stale_queued_or_full() -> None:
    eps = [
        make_endpoint("p0", updated_at=NOW - 0.35),
        make_endpoint("p1", updated_at=NOW - 0.25),
        make_endpoint("p2", waiting=6),
        make_endpoint("p3", kv=0.9),
        make_endpoint("p4", waiting=7, kv=0.95),
    ]
    with pytest.raises(NoCapacityError) as refused:
        SaturationDetector().admit(make_request(Criticality.SHEDDABLE), eps, NOW)
    assert str(refused.value) == "dropping request due to limited backend resources"
    assert refused.value.reason is not None
    assert refused.value.reason() == (
        "5 endpoints: 2 with metrics older than 200 ms (the freshest of them 250 ms old), "
        "2 with more than 5 waiting, 1 with KV use over 0.8"
    )


def test_the_utilization_detector_gives_its_mean_with_the_same_counts() -> None:
    eps = [make_endpoint("p0", updated_at=NOW - 0.3), make_endpoint("p1", waiting=10)]
    with pytest.raises(NoCapacityError) as refused:
        UtilizationDetector().admit(make_request(Criticality.SHEDDABLE), eps, NOW)
    assert refused.value.reason is not None
    assert refused.value.reason() == (
        "pool saturation 1.50 of 2 endpoints: 1 with metrics older than 200 ms "
        "(the freshest of them 300 ms old), 1 with more than 5 waiting, 0 with KV use over 0.8"
    )
