"""``inference-gateway bench policies``: routing policies compared in virtual time.

Runs the real scheduler against simulated engines (``bench.sweep``), prints a Markdown
table, and writes ``results.json``, ``results.md`` and PNG charts to ``--out``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from inference_gateway.bench import report
from inference_gateway.bench.policies import DEFAULT_POLICIES, resolve
from inference_gateway.bench.stats import Slo
from inference_gateway.bench.sweep import DEFAULT_FRACTIONS, SweepConfig, run_sweep
from inference_gateway.bench.workloads import WORKLOADS


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise typer.BadParameter(f"{option}: comma-separated numbers expected") from e
    if not values or any(v <= 0 for v in values):
        raise typer.BadParameter(f"{option}: positive numbers expected")
    return values


def _policies(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    for name in names:
        try:
            resolve(name)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    return names


def execute(
    config: SweepConfig, out: Path, *, progress: bool = True, update: bool = False
) -> report.SweepResult:
    """Run the sweep with a progress bar and write every artefact into ``out``; with
    ``update``, keep the other policies of the run already there (``report.merge``)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    out.mkdir(parents=True, exist_ok=True)
    total = len(config.policies) * len(config.rates or config.fractions)
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        disable=not progress,
        transient=True,
    ) as bar:
        job = bar.add_task("probing capacity", total=total)

        def probed(capacity: float) -> None:
            bar.update(job, description=f"capacity {capacity:.1f} req/s; running")

        def finished(policy: str, stage: int) -> None:
            bar.update(job, advance=1, description=f"{policy} stage {stage + 1} done")

        result = run_sweep(config, on_probe=probed, on_task=finished)
    result.meta["wall_seconds"] = round(time.perf_counter() - started, 1)
    if update and (out / "results.json").exists():
        result = report.merge(report.read_json(out / "results.json"), result)
    report.write_json(result, out / "results.json")
    (out / "results.md").write_text(report.document(result))
    report.write_plots(result, out)
    return result


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``policies`` to ``bench``."""

    @bench.command("policies")
    def policies(
        workload: Annotated[
            str, typer.Option(help=f"One of: {', '.join(WORKLOADS)}.")
        ] = "sharegpt",
        pods: Annotated[int, typer.Option(min=1, help="Simulated vLLM pods.")] = 4,
        seed: Annotated[int, typer.Option(help="Seeds the streams and the schedulers.")] = 0,
        out: Annotated[Path, typer.Option(help="Directory for JSON, Markdown, PNG.")] = Path(
            "bench-results"
        ),
        policy_list: Annotated[
            str,
            typer.Option(
                "--policies",
                help="Comma-separated built-in names, 'oracle:<name>', or paths to "
                "EndpointPickerConfig YAML files; '<policy>+slo' sends the goodput "
                "objectives as SLO headers, '<policy>+fc' adds flow control.",
            ),
        ] = ",".join(DEFAULT_POLICIES),
        policy: Annotated[
            list[str] | None,
            typer.Option("--policy", help="Add an EndpointPickerConfig file (repeatable)."),
        ] = None,
        stage_seconds: Annotated[
            float | None,
            typer.Option(help="Measured seconds per stage (default 30, 120 for shared-prefix)."),
        ] = None,
        warmup_seconds: Annotated[
            float | None, typer.Option(help="Unmeasured seconds per stage (default stage/3).")
        ] = None,
        fractions: Annotated[
            str, typer.Option(help="Stage rates as fractions of the probed capacity.")
        ] = ",".join(f"{f:g}" for f in DEFAULT_FRACTIONS),
        rates: Annotated[
            str | None, typer.Option(help="Absolute stage rates in req/s (skips the probe).")
        ] = None,
        heterogeneous: Annotated[
            bool, typer.Option(help="Make the first --slow-pods pods slower (--slow-factor).")
        ] = False,
        slow_factor: Annotated[
            float, typer.Option(min=1.0, help="Step-time multiplier of the slow pods.")
        ] = 2.0,
        slow_pods: Annotated[
            int,
            typer.Option(min=1, help="Pods slowed by --heterogeneous (pods/2: two speed classes)."),
        ] = 1,
        probe_policy: Annotated[
            str, typer.Option(help="Policy of the closed-loop capacity probe.")
        ] = "round-robin",
        slo_ttft: Annotated[float, typer.Option(help="Goodput SLO on TTFT, seconds.")] = 1.0,
        slo_tpot: Annotated[float, typer.Option(help="Goodput SLO on TPOT, seconds.")] = 0.05,
        scrape_interval: Annotated[float, typer.Option(help="Metrics scrape period, s.")] = 0.05,
        processes: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
        update: Annotated[
            bool,
            typer.Option(
                help="Keep the other policies of --out's results.json (same stages: same "
                "workload, pool, seed, probe and stage lengths), replacing those run now."
            ),
        ] = False,
    ) -> None:
        """Compare routing policies on one workload in virtual time."""
        if workload not in WORKLOADS:
            raise typer.BadParameter(f"unknown workload {workload!r}; known: {list(WORKLOADS)}")
        names = _policies(policy_list) + _policies(",".join(policy or []))
        config = SweepConfig(
            workload,
            pods=pods,
            seed=seed,
            policies=names,
            fractions=_floats(fractions, "--fractions"),
            rates=_floats(rates, "--rates") if rates else None,
            stage_seconds=stage_seconds,
            warmup_seconds=warmup_seconds,
            heterogeneous=heterogeneous,
            slow_factor=slow_factor,
            slow_pods=slow_pods,
            probe_policy=_policies(probe_policy)[0],
            slo=Slo(ttft=slo_ttft, tpot=slo_tpot),
            scrape_interval=scrape_interval,
            processes=processes,
        )
        try:
            result = execute(config, out, progress=progress, update=update)
        except report.StagesDiffer as exc:
            raise typer.BadParameter(str(exc), param_hint="--update") from None
        typer.echo(report.document(result))
        typer.echo(f"\nwrote {out}/results.json, results.md, latency_p90.png, throughput.png")

    @bench.command("summary")
    def summary_cmd(
        results: Annotated[list[Path], typer.Argument(help="results.json files or their dirs.")],
        policy: Annotated[str, typer.Option(help="The policy to judge.")] = "predicted",
        out: Annotated[
            Path | None, typer.Option(help="Also write the Markdown here (and a .png plot).")
        ] = None,
    ) -> None:
        """Judge one policy across many ``bench policies`` runs: p90 e2e against the best
        policy and the best upstream config at every stage, and predictor accuracy."""
        from inference_gateway.bench import summary

        runs = summary.load(results)
        text = summary.document(runs, policy)
        if out is not None:
            out.write_text(text)
            others = [p for p in ("default", "scorer-mix", "tuned", "lookahead") if p != policy]
            summary.write_plot(runs, [policy, *others], out.with_suffix(".png"))
        typer.echo(text)
