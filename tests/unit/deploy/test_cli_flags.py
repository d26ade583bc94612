"""The flags the manifests pass exist on the commands they run."""

from __future__ import annotations

import pytest
import typer.main

from inference_gateway.cli import build_app
from tests.unit.deploy.conftest import all_sets

FLAGS: dict[str, set[str]] = {"epp": set(), "sim": set()}
for docs in all_sets().values():
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            args = container.get("args", [])
            command = args[0] if container.get("command") == ["inference-gateway"] else "epp"
            if "envoy" in container["image"]:
                continue
            FLAGS[command] |= {a for a in args if a.startswith("--")}


def _flags(command: str) -> set[str]:
    """Every long option of the command (help text truncates long names in narrow columns)."""
    cmd = typer.main.get_command(build_app()).commands[command]  # type: ignore[attr-defined]
    names: set[str] = set()
    for param in cmd.params:
        names.update(getattr(param, "opts", ()))
        names.update(getattr(param, "secondary_opts", ()))
    return names


@pytest.mark.parametrize("command", sorted(FLAGS))
def test_manifest_flags_exist(command: str) -> None:
    assert FLAGS[command], "no Deployment runs this command"
    known = _flags(command)
    missing = sorted(f for f in FLAGS[command] if f.partition("=")[0] not in known)
    assert not missing, f"inference-gateway {command} lacks {missing}"
