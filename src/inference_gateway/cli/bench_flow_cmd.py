"""``inference-gateway bench flow-control``: overload with and without flow control."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``flow-control`` to ``bench``."""

    @bench.command("flow-control")
    def flow_control(
        policies: Annotated[
            str, typer.Option(help="Comma-separated policies; '+fc' adds flow control.")
        ] = "service,default,default+fc",
        fractions: Annotated[str, typer.Option(help="mixed-criticality loads.")] = "0.5,1.3,1.5",
        tenant_fraction: Annotated[float, typer.Option(help="multi-tenant load.")] = 1.3,
        pods: Annotated[int, typer.Option(min=1)] = 4,
        seed: int = 0,
        stage_seconds: Annotated[float, typer.Option(help="Measured seconds per run.")] = 60.0,
        out: Annotated[Path | None, typer.Option(help="Write the tables here (Markdown).")] = None,
    ) -> None:
        """Per-criticality TTFT and per-tenant fairness under overload, in virtual time."""
        from inference_gateway.bench import flow_bench

        names = [p.strip() for p in policies.split(",") if p.strip()]
        loads = [float(f) for f in fractions.split(",") if f.strip()]
        cap, rows = flow_bench.run_experiment(
            "mixed-criticality", loads, names, pods=pods, seed=seed, stage_seconds=stage_seconds
        )
        text = "## mixed-criticality\n\n" + flow_bench.criticality_table(cap, rows)
        cap, rows = flow_bench.run_experiment(
            "multi-tenant", [tenant_fraction], names, pods=pods, seed=seed,
            stage_seconds=stage_seconds, by_tenant=True,
        )  # fmt: skip
        text += "\n## multi-tenant\n\n" + flow_bench.tenant_table(cap, rows)
        typer.echo(text)
        if out is not None:
            out.write_text(text)

    @bench.command("flow-overhead")
    def flow_overhead(
        rounds: Annotated[int, typer.Option(min=1, help="Interleaved rounds (best kept).")] = 5,
    ) -> None:
        """CPU per request through the real Director, flow control off vs on (empty queue)."""
        from inference_gateway.bench import flow_overhead as fo

        typer.echo(fo.table(fo.run(rounds=rounds)))
