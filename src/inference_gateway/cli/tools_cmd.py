"""Tooling commands: ``crds`` prints or writes the CustomResourceDefinitions.

The CRDs are generated from the pydantic models in :mod:`inference_gateway.api`, so the
committed ``deploy/crds/`` and the gateway's own validation cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inference_gateway.api import crd_documents
from inference_gateway.api.crdgen import crd_files, render_yaml


def crds(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write one <group>_<plural>.yaml per CRD into this directory."),
    ] = None,
) -> None:
    """Print the InferencePool/InferenceModel/... CRDs as multi-document YAML."""
    if out is None:
        typer.echo(render_yaml(crd_documents()), nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, text in crd_files().items():
        (out / name).write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out / name}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this module's commands to ``app`` (and benchmarks to ``bench``)."""
    app.command("crds")(crds)
