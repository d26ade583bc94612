"""The EPP-plus-Envoy example: Envoy accepts its config, and it speaks our EPP's protocol."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from inference_gateway.envoy.bootstrap import DESTINATION_HEADER, processing_mode
from inference_gateway.envoy.process import envoy_binary
from tests.unit.deploy.conftest import DEPLOY, find, load

DOCS = load(DEPLOY / "examples" / "epp-with-envoy-sidecar.yaml")
ENVOY = yaml.safe_load(find(DOCS, "ConfigMap")["data"]["envoy.yaml"])


def _filters() -> dict[str, dict[str, object]]:
    hcm = ENVOY["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    return {f["name"]: f["typed_config"] for f in hcm["typed_config"]["http_filters"]}


def test_processing_mode_is_the_one_the_gateway_generates() -> None:
    ext_proc = _filters()["envoy.filters.http.ext_proc"]
    assert ext_proc["processing_mode"] == processing_mode(response_path=True)


def test_routing_follows_the_destination_header() -> None:
    (cluster,) = [c for c in ENVOY["static_resources"]["clusters"] if c["type"] == "ORIGINAL_DST"]
    assert cluster["original_dst_lb_config"]["http_header_name"] == DESTINATION_HEADER
    epp = next(c for c in ENVOY["static_resources"]["clusters"] if c["name"] == "epp")
    address = epp["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"]["port_value"] == 9002


async def test_envoy_validates_the_config(tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(ENVOY))
    proc = await asyncio.create_subprocess_exec(
        str(envoy_binary()),
        "--mode",
        "validate",
        "-c",
        str(config),
        "--log-level",
        "error",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, output.decode()
    assert b"OK" in output


def test_pod_runs_both_containers() -> None:
    deployment = find(DOCS, "Deployment")
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert set(containers) == {"epp", "envoy"}
    assert containers["envoy"]["args"][:2] == ["-c", "/etc/envoy/envoy.yaml"]
    assert find(DOCS, "Service")["spec"]["ports"][0]["port"] == 8081
