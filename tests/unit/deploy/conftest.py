"""Loading every deploy/ document: plain manifests, examples and the rendered chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.unit.deploy.gotemplate import render_chart

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
CHART = DEPLOY / "charts" / "inferencepool"
Doc = dict[str, Any]


def load(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifest_files() -> list[Path]:
    return sorted((DEPLOY / "manifests").glob("*.yaml")) + sorted(
        (DEPLOY / "examples").glob("*.yaml")
    )


def chart_docs(**values: Any) -> list[Doc]:
    return render_chart(CHART, release="llama", namespace="serving", values=values or None)


def all_sets() -> dict[str, list[Doc]]:
    """Named groups of documents, each meant to be applied together."""
    sets = {str(p.relative_to(DEPLOY)): load(p) for p in manifest_files()}
    sets["charts/inferencepool (rendered)"] = chart_docs()
    return sets


def find(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]
