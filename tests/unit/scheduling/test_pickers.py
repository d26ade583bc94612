from __future__ import annotations

import pytest

from inference_gateway.scheduling.plugins.pickers import (
    MaxScorePicker,
    PickerParams,
    RandomPicker,
    RoundRobinPicker,
    WeightedRandomPicker,
)
from tests.unit.scheduling.helpers import handle, make_endpoint, make_request, names

EPS = [make_endpoint(f"p{i}") for i in range(5)]


@pytest.mark.parametrize(
    ("scores", "count", "allowed"),
    [
        ([0.1, 0.9, 0.3, 0.2, 0.0], 1, [{"p1"}]),
        ([0.5, 0.9, 0.9, 0.2, 0.9], 1, [{"p1", "p2", "p4"}]),
        ([0.5, 0.9, 0.8, 0.2, 0.0], 3, [{"p1"}, {"p2"}, {"p0"}]),
        ([0.5, 0.5, 0.9, 0.5, 0.0], 2, [{"p2"}, {"p0", "p1", "p3"}]),
    ],
)
def test_max_score_picker(scores: list[float], count: int, allowed: list[set[str]]) -> None:
    seen: set[tuple[str, ...]] = set()
    for seed in range(50):
        picker = MaxScorePicker("m", PickerParams(maxNumOfEndpoints=count), handle(seed))
        picked = names(picker.pick(make_request(), EPS, scores, {}))
        assert len(picked) == count
        assert all(n in group for n, group in zip(picked, allowed, strict=True))
        seen.add(tuple(picked))
    assert len(seen) == max(1, max(len(g) for g in allowed))  # every tied winner gets picked


def test_max_score_picker_is_deterministic_for_a_seed() -> None:
    scores = [1.0] * 5
    runs = [
        [
            names(
                MaxScorePicker("m", PickerParams(), handle(7)).pick(make_request(), EPS, scores, {})
            )
        ]
        for _ in range(3)
    ]
    assert runs[0] == runs[1] == runs[2]


@pytest.mark.parametrize("count", [1, 3, 9])
def test_random_picker(count: int) -> None:
    picker = RandomPicker("r", PickerParams(maxNumOfEndpoints=count), handle(1))
    firsts = set()
    for _ in range(100):
        picked = names(picker.pick(make_request(), EPS, [0.0] * 5, {}))
        assert len(picked) == min(count, 5) == len(set(picked))
        firsts.add(picked[0])
    assert firsts == set(names(EPS))


def test_weighted_random_picker_follows_weights_and_skips_zero() -> None:
    picker = WeightedRandomPicker("w", PickerParams(), handle(3))
    scores = [0.0, 3.0, 1.0, 0.0, 0.0]
    counts = {"p1": 0, "p2": 0}
    for _ in range(2000):
        counts[picker.pick(make_request(), EPS, scores, {})[0].name] += 1
    assert 0.65 < counts["p1"] / 2000 < 0.85  # expected 0.75


def test_weighted_random_picker_all_zero_is_uniform() -> None:
    picker = WeightedRandomPicker("w", PickerParams(maxNumOfEndpoints=2), handle(3))
    firsts = {picker.pick(make_request(), EPS, [0.0] * 5, {})[0].name for _ in range(200)}
    assert firsts == set(names(EPS))


def test_round_robin_picker_cycles_in_name_order_across_membership_changes() -> None:
    picker = RoundRobinPicker("rr", PickerParams(), handle())
    shuffled = [EPS[3], EPS[0], EPS[4], EPS[1], EPS[2]]
    picks = [picker.pick(make_request(), shuffled, [0.0] * 5, {})[0].name for _ in range(6)]
    assert picks == ["p0", "p1", "p2", "p3", "p4", "p0"]
    without_p1 = [e for e in EPS if e.name != "p1"]
    picks = [picker.pick(make_request(), without_p1, [0.0] * 4, {})[0].name for _ in range(3)]
    assert picks == ["p2", "p3", "p4"]


def test_round_robin_picker_many() -> None:
    picker = RoundRobinPicker("rr", PickerParams(maxNumOfEndpoints=2), handle())
    assert names(picker.pick(make_request(), EPS, [0.0] * 5, {})) == ["p0", "p1"]
    assert names(picker.pick(make_request(), EPS, [0.0] * 5, {})) == ["p1", "p2"]
