"""Judging one policy across runs: ratios to the best policy and to upstream, accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inference_gateway.bench import summary


def _stage(
    fraction: float, p90: float, predictor: dict[str, float] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"fraction": fraction, "e2e": {"p90": p90}}
    if predictor:
        out["predictor"] = predictor
    return out


def _run(workload: str, values: dict[str, list[float]], **meta: Any) -> dict[str, Any]:
    acc = {"ttft_mae": 0.004, "ttft_median": 0.04, "tpot_mae": 0.0005, "tpot_median": 0.01}
    return {
        "meta": {
            "workload": workload,
            "seed": 0,
            "heterogeneous": False,
            "slow_factor": 1.0,
            **meta,
        },
        "results": {
            p: [
                _stage(f, v, acc if p == "predicted" else None)
                for f, v in zip((0.5, 0.9), vs, strict=True)
            ]
            for p, vs in values.items()
        },
    }


RUNS = [
    _run(
        "sharegpt",
        {
            "default": [4.0, 6.0],
            "scorer-mix": [4.2, 5.0],
            "predicted": [4.1, 5.2],
            "lookahead": [3.9, 5.5],
        },
    ),
    _run(
        "multi-lora",
        {"default": [2.0, 3.0], "scorer-mix": [9.0, 9.0], "predicted": [2.5, 2.9]},
        heterogeneous=True,
        slow_factor=3.0,
        slow_pods=1,
    ),
]


@pytest.mark.parametrize(
    ("run", "stage", "best", "vs_best", "vs_upstream"),
    [
        (0, 0, "lookahead", 4.1 / 3.9, 4.1 / 4.0),
        (0, 1, "scorer-mix", 5.2 / 5.0, 5.2 / 5.0),
        (1, 0, "default", 1.25, 1.25),
        (1, 1, "predicted", 1.0, 2.9 / 3.0),
    ],
)
def test_rows_compare_to_the_best_policy_and_the_best_upstream_config(
    run: int, stage: int, best: str, vs_best: float, vs_upstream: float
) -> None:
    row = summary.rows(RUNS, "predicted")[run * 2 + stage]
    assert row["best"] == best
    assert row["vs_best"] == pytest.approx(vs_best)
    assert row["vs_upstream"] == pytest.approx(vs_upstream)


def test_document_counts_misses_and_reports_accuracy(tmp_path: Path) -> None:
    for i, run in enumerate(RUNS):
        (tmp_path / f"r{i}").mkdir()
        (tmp_path / f"r{i}" / "results.json").write_text(json.dumps(run))
    (tmp_path / "in-progress").mkdir()
    runs = summary.load(sorted(tmp_path.iterdir()))
    assert len(runs) == 2
    text = summary.document(runs, "predicted")
    assert "over 4 stages: within 1.10x of the best policy at 3" in text
    assert "1 x 3x slower" in text and "homogeneous" in text
    # the legend; 1.25 vs best and vs upstream; 1.04 vs upstream (sharegpt at 90 %)
    assert text.count("**x**") == 1 + 3
    assert "| multi-lora | 2 | 4.0 | 40.0 | 0.5 | 10.0 |" in text
    summary.write_plot(runs, ["predicted", "default"], tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_runs_of_the_same_stages_merge_so_a_later_policy_is_judged_against_the_rest(
    tmp_path: Path,
) -> None:
    later = _run("sharegpt", {"upstream-latency": [4.0, 7.0]})
    later["meta"] |= {"policies": ["upstream-latency"], "wall_seconds": 3.0}
    other_seed = _run("sharegpt", {"upstream-latency": [1.0, 1.0]}, seed=1)
    for name, run in (("a", RUNS[0]), ("b", later), ("c", other_seed)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(run))
    runs = summary.load(sorted(tmp_path.iterdir()))
    assert len(runs) == 2  # seed 1 ran other stages: not merged
    first = summary.rows(runs[:1], "upstream-latency")
    assert [r["best"] for r in first] == ["lookahead", "scorer-mix"]
    assert first[1]["vs_best"] == pytest.approx(7.0 / 5.0)
    text = summary.document(runs, "upstream-latency")
    header = text.splitlines()[4]
    assert header.startswith("| workload | pool | seed | upstream-latency | predicted")
