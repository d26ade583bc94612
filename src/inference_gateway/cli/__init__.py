"""The ``inference-gateway`` command: the composition root.

Each command group lives in its own module with a ``register(app, bench)`` function; this
module only assembles them, so adding a command never touches another command's file. The
modules are imported when the app is built, not when this package is: the EPP image runs
``epp`` (``epp_cmd.main``) and installs none of the lab (simulator, benchmarks, demo,
plotting, the Envoy wheel), so importing ``inference_gateway.cli.epp_cmd`` must not pull
them in. A lab command whose dependencies are not installed is left out of the app.
"""

from __future__ import annotations

import importlib
import logging

import typer

log = logging.getLogger(__name__)

# (module, needs the [lab] extra)
COMMAND_MODULES = (
    ("sim_cmd", True),
    ("run_cmd", True),
    ("epp_cmd", False),
    ("k8s_cmd", False),
    ("tools_cmd", False),
    ("demo_cmd", True),
    ("bench_cmd", True),
    ("bench_policies_cmd", True),
    ("bench_flow_cmd", True),
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
    for name, lab in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"inference_gateway.cli.{name}")
        except ModuleNotFoundError as e:
            if not lab or (e.name or "").startswith("inference_gateway"):
                raise
            log.debug("%s left out: %s is not installed (pip install '.[lab]')", name, e.name)
            continue
        module.register(app, bench)
    return app


def main() -> None:
    build_app()()
