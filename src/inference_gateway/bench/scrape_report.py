"""``bench scrape`` output: what one run measured and the console table that shows it.

Separate from the measurement so that the figures derived from a run (cores, CPU per scrape,
cores needed at the target rate) and their presentation can be read and changed without the
child-process and event-loop plumbing around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True, slots=True)
class ScrapeBenchResult:
    endpoints: int
    interval: float
    wall_seconds: float
    scrapes: int
    errors: dict[str, int]
    cpu_seconds: float
    user_seconds: float
    parse_seconds: float
    server_cpu_seconds: float | None
    body_bytes: int
    gunzip_us: float
    loop: str
    transport: str
    ages: list[float] = field(default_factory=list)
    """Metrics age of every endpoint, sampled every 100 ms during the run."""
    late_scrapes: int = 0
    """Scrapes that started half an interval or more later than an interval after the
    previous one of their endpoint."""
    behind_windows: int = 0
    """Windows the scraper's own check found behind (each one a warning in the EPP)."""

    @property
    def cpu_cores(self) -> float:
        return self.cpu_seconds / self.wall_seconds

    @property
    def scrape_rate(self) -> float:
        """Achieved scrapes per second per endpoint (target ``1 / interval``)."""
        return self.scrapes / self.wall_seconds / self.endpoints

    @property
    def cpu_us_per_scrape(self) -> float:
        return 1e6 * self.cpu_seconds / max(self.scrapes, 1)

    @property
    def cores_at_target(self) -> float:
        """CPU the scraper would need to keep every endpoint at ``1 / interval`` scrapes/s."""
        return self.cpu_us_per_scrape * 1e-6 * self.endpoints / self.interval


def print_report(result: ScrapeBenchResult, console: Console | None = None) -> None:
    console = console or Console()
    r = result
    ages = sorted(a for a in r.ages if a != float("inf"))
    never = len(r.ages) - len(ages)

    def pct(q: float) -> str:
        return f"{1000 * ages[min(len(ages) - 1, int(q * len(ages)))]:.0f} ms" if ages else "-"

    table = Table(title=f"bench scrape: {r.endpoints} endpoints every {1000 * r.interval:.0f} ms")
    table.add_column("measure")
    table.add_column("value", justify="right")
    verdict = "[green]yes[/]" if r.cores_at_target < 0.5 else "[red]no[/]"
    rows = [
        ("scraper CPU (cores)", f"{r.cpu_cores:.3f}"),
        ("  of which user (Python)", f"{r.user_seconds / r.wall_seconds:.3f}"),
        ("cores needed at target rate", f"{r.cores_at_target:.3f}"),
        ("goal < 0.5 core met", verdict),
        ("CPU per scrape", f"{r.cpu_us_per_scrape:.0f} us"),
        ("  of which user", f"{1e6 * r.user_seconds / max(r.scrapes, 1):.0f} us"),
        ("  of which decode + parse", f"{1e6 * r.parse_seconds / max(r.scrapes, 1):.0f} us"),
        ("gunzip per scrape if gzip", f"{r.gunzip_us:.0f} us"),
        ("scrapes/s per endpoint", f"{r.scrape_rate:.1f} (target {1 / r.interval:.1f})"),
        (
            "started half an interval late or more",
            f"{r.late_scrapes / max(r.scrapes, 1):.1%}"
            f" ({r.behind_windows} window(s) warned as behind)",
        ),
        ("errors", ", ".join(f"{k}={v}" for k, v in sorted(r.errors.items())) or "none"),
        ("metrics age p50 / p99 / max", f"{pct(0.5)} / {pct(0.99)} / {pct(1.0)}"),
        ("never scraped (samples)", str(never)),
        (
            "servers' CPU (cores, child process)",
            "-" if r.server_cpu_seconds is None else f"{r.server_cpu_seconds / r.wall_seconds:.3f}",
        ),
        ("body size", f"{r.body_bytes / 1024:.1f} KiB"),
        ("event loop / HTTP client", f"{r.loop} / {r.transport}"),
        ("wall time", f"{r.wall_seconds:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
