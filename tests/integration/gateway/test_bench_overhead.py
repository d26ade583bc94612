"""``bench overhead`` runs end to end and reports every figure (values are not asserted)."""

from __future__ import annotations

from inference_gateway.bench.overhead import OverheadSettings, format_report, run_overhead
from inference_gateway.extproc import bench_gateway


async def test_overhead_report_has_every_path_and_figure() -> None:
    settings = OverheadSettings(
        duration=0.3,
        concurrency=(2,),
        big_prompt_requests=2,
        sse_streams=1,
        sse_events=20,
        load_tool="python",
    )
    report = await run_overhead(settings, gateway=bench_gateway)
    for path in ("envoy", "epp", "epp-lean", "epp-grpcio"):
        (step,) = report[path]["sweep"]
        assert step["requests"] > 0 and step["errors"] == 0
        assert report[path]["sse_events_per_s"] > 0
    assert {"added_p50_ms_c1", "max_rps", "big_prompt_added_ms", "sse_ratio"} <= set(report["epp"])
    text = format_report(report)
    assert "Envoy alone" in text and "epp-lean" in text
