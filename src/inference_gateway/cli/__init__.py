"""The ``inference-gateway`` command: the composition root.

Each command group lives in its own module with a ``register(app, bench)`` function; this
module only assembles them, so adding a command never touches another command's file.
"""

from __future__ import annotations

import typer

from inference_gateway.cli import (
    bench_cmd,
    bench_flow_cmd,
    bench_policies_cmd,
    demo_cmd,
    epp_cmd,
    k8s_cmd,
    run_cmd,
    sim_cmd,
    tools_cmd,
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="inference-gateway",
        help="Model-aware, metrics-aware routing of LLM traffic through real Envoy.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    bench = typer.Typer(
        help="Benchmarks: speed, overhead and routing policies.", no_args_is_help=True
    )
    app.add_typer(bench, name="bench")
    for module in (
        sim_cmd,
        run_cmd,
        epp_cmd,
        k8s_cmd,
        tools_cmd,
        demo_cmd,
        bench_cmd,
        bench_policies_cmd,
        bench_flow_cmd,
    ):
        module.register(app, bench)
    return app


def main() -> None:
    build_app()()
