"""``bench scrape`` end to end, small: servers in a child process, the real scraper here."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from inference_gateway.bench.scrape_speed import print_report, run_scrape_bench


def test_small_scrape_bench_runs_and_reports() -> None:
    result = run_scrape_bench(endpoints=4, interval=0.05, seconds=1.0, transport="lean")
    assert result.errors == {}
    assert result.scrapes > 4
    assert result.cpu_seconds > 0 and result.cores_at_target > 0
    assert result.ages and min(result.ages) < 1.0
    out = StringIO()
    print_report(result, Console(file=out, width=100))
    assert "cores needed at target rate" in out.getvalue()
    assert f"({result.behind_windows} window(s) warned as behind)" in out.getvalue()
    assert 0 <= result.late_scrapes <= result.scrapes
