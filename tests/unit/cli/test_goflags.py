"""Go flag spellings (upstream's charts) read as Go reads them."""

from __future__ import annotations

import pytest

from inference_gateway.cli._goflags import go_bool, go_duration, normalise

BOOLS = {"secure-serving", "tracing"}
LONGS = BOOLS | {"pool-name", "v", "lora-info-metric", "total-queued-requests-metric"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("50ms", 0.05), ("5s", 5.0), ("1m30s", 90.0), ("2h", 7200.0), ("1.5s", 1.5),
     ("300us", 0.0003), ("0", 0.0), ("-1s", -1.0), ("10ns", 1e-8)],
)  # fmt: skip
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 s", "s", "1d", "ms5"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        go_duration(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("1", True), ("T", True), ("false", False), ("0", False), ("F", False)],
)
def test_go_bools(text: str, value: bool) -> None:
    assert go_bool(text) is value


def test_go_bool_refuses_what_go_refuses() -> None:
    with pytest.raises(ValueError, match="invalid boolean"):
        go_bool("yes")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--secure-serving=false"], ["--no-secure-serving"]),
        (["--tracing=true"], ["--tracing"]),
        (["--tracing"], ["--tracing"]),
        (["-pool-name", "p"], ["--pool-name", "p"]),  # Go's flag package, up to v1.0
        (["-pool-name=p"], ["--pool-name=p"]),
        (["-v", "1"], ["-v", "1"]),
        (["-v=3"], ["--v=3"]),
        (['--total-queued-requests-metric="sglang:num_queue_reqs"'],
         ["--total-queued-requests-metric=sglang:num_queue_reqs"]),  # v1.5.0 chart's quotes
        (["--lora-info-metric", ""], ["--lora-info-metric", ""]),
        (["--tracing", "false", "--v", "1"], ["--no-tracing", "--v", "1"]),  # chart flags map
        (["--tracing", "--v", "1"], ["--tracing", "--v", "1"]),
        (["--pool-name", "--", "-x=1"], ["--pool-name", "--", "-x=1"]),
    ],
)  # fmt: skip
def test_normalise_rewrites_go_spellings(args: list[str], expected: list[str]) -> None:
    assert normalise(args, BOOLS, LONGS) == expected
