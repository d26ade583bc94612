"""The generated bootstrap: Envoy itself validates it, and its security-relevant shape holds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from inference_gateway.envoy.bootstrap import (
    DESTINATION_HEADER,
    EPP_CLUSTER,
    FALLBACK_CLUSTER,
    ORIGINAL_DST_CLUSTER,
    EnvoySettings,
    build_bootstrap,
)
from inference_gateway.envoy.endpoints_file import EndpointsFile
from inference_gateway.envoy.process import envoy_binary


def filters(bootstrap: dict[str, Any], listener: int = 0) -> list[dict[str, Any]]:
    chain = bootstrap["static_resources"]["listeners"][listener]["filter_chains"][0]
    hcm: dict[str, Any] = chain["filters"][0]["typed_config"]
    return list(hcm["http_filters"])


def routes(bootstrap: dict[str, Any], listener: int = 0) -> list[dict[str, Any]]:
    chain = bootstrap["static_resources"]["listeners"][listener]["filter_chains"][0]
    vhost = chain["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]
    return list(vhost["routes"])


@pytest.mark.parametrize(
    "settings",
    [
        EnvoySettings(),
        EnvoySettings(failure_mode="FailOpen", response_path=False),
        EnvoySettings(port=0, admin_port=0, direct_listener=True, concurrency=2),
    ],
)
async def test_envoy_accepts_the_bootstrap(settings: EnvoySettings, tmp_path: Path) -> None:
    EndpointsFile(tmp_path).write([("127.0.0.11", 8000)])
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(build_bootstrap(settings, eds_dir=tmp_path)))
    proc = await asyncio.create_subprocess_exec(
        str(envoy_binary()), "--mode", "validate", "-c", str(config), "-l", "error",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()


def test_client_sent_destination_header_is_removed_before_anything_else() -> None:
    chain = filters(build_bootstrap(EnvoySettings(), eds_dir=Path("/tmp")))
    assert [f["name"] for f in chain] == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.ext_proc",
        "envoy.filters.http.router",
    ]
    removed = chain[0]["typed_config"]["mutations"]["request_mutations"]
    assert removed == [{"remove": DESTINATION_HEADER}]


def test_only_the_destination_header_leads_to_original_dst() -> None:
    found = routes(build_bootstrap(EnvoySettings(), eds_dir=Path("/tmp")))
    assert found[0]["match"]["headers"] == [{"name": DESTINATION_HEADER, "present_match": True}]
    assert found[0]["route"]["cluster"] == ORIGINAL_DST_CLUSTER
    assert found[1]["route"]["cluster"] == FALLBACK_CLUSTER
    assert all(r["route"]["timeout"] == "0s" for r in found)


@pytest.mark.parametrize(("mode", "allow"), [("FailOpen", True), ("FailClose", False)])
def test_failure_mode_sets_failure_mode_allow(mode: str, allow: bool) -> None:
    settings = EnvoySettings(failure_mode=mode)
    ext_proc = filters(build_bootstrap(settings, eds_dir=Path("/tmp")))[1]["typed_config"]
    assert ext_proc["failure_mode_allow"] is allow
    assert ext_proc["processing_mode"]["request_body_mode"] == "FULL_DUPLEX_STREAMED"
    assert ext_proc["processing_mode"]["request_trailer_mode"] == "SEND"


def test_response_path_off_skips_response_messages() -> None:
    settings = EnvoySettings(response_path=False)
    ext_proc = filters(build_bootstrap(settings, eds_dir=Path("/tmp")))[1]["typed_config"]
    mode = ext_proc["processing_mode"]
    assert (mode["response_header_mode"], mode["response_body_mode"]) == ("SKIP", "NONE")


def test_direct_listener_has_no_ext_proc() -> None:
    bootstrap = build_bootstrap(EnvoySettings(direct_listener=True), eds_dir=Path("/tmp"))
    assert [f["name"] for f in filters(bootstrap, 1)] == ["envoy.filters.http.router"]
    assert routes(bootstrap, 1)[0]["route"]["cluster"] == ORIGINAL_DST_CLUSTER


def test_epp_cluster_is_ejected_on_first_refusal_and_health_changes_apply_at_once() -> None:
    settings = EnvoySettings(epp_health_interval_seconds=0.2)
    clusters = build_bootstrap(settings, eds_dir=Path("/tmp"))["static_resources"]["clusters"]
    (epp,) = [c for c in clusters if c["name"] == EPP_CLUSTER]
    assert epp["common_lb_config"] == {
        "healthy_panic_threshold": {"value": 0},
        "update_merge_window": "0s",
    }
    outlier = epp["outlier_detection"]
    assert outlier["split_external_local_origin_errors"] is True
    assert outlier["consecutive_local_origin_failure"] == 1
    assert outlier["enforcing_consecutive_local_origin_failure"] == 100
    assert outlier["enforcing_consecutive_5xx"] == outlier["enforcing_success_rate"] == 0
    assert outlier["base_ejection_time"] == epp["health_checks"][0]["interval"] == "0.2s"
