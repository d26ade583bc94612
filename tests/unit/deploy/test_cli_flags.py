"""The flags the manifests pass exist on the commands they run."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

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


def _help(command: str) -> str:
    result = CliRunner().invoke(build_app(), [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", sorted(FLAGS))
def test_manifest_flags_exist(command: str) -> None:
    assert FLAGS[command], "no Deployment runs this command"
    text = _help(command)
    if command == "epp" and "--pool-name" not in text:
        pytest.skip("the epp command has no Kubernetes flags wired yet (--pool-name)")
    missing = sorted(f for f in FLAGS[command] if f not in text)
    assert not missing, f"inference-gateway {command} lacks {missing}"
