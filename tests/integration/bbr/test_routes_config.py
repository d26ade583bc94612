"""The BBR route table against Envoy's own protos, and the RDS file's write discipline."""

from __future__ import annotations

import json
from pathlib import Path

from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.ext_proc.v3 import ext_proc_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2
from google.protobuf import json_format

from inference_gateway.envoy.bbr_bootstrap import BBR_CLUSTER, POOL_FILTER, POOL_HEADER
from inference_gateway.envoy.bbr_routes import RoutesFile, bbr_route_config
from inference_gateway.envoy.bootstrap import (
    EPP_CLUSTER,
    EPP_FILTER,
    EnvoySettings,
    build_bootstrap,
)

POOLS = {"default/a": ["llama", "llama-lora"], "default/b": ["mistral"]}


def parsed(config: dict[str, object]) -> route_pb2.RouteConfiguration:
    body = {k: v for k, v in config.items() if k != "@type"}
    return json_format.ParseDict(body, route_pb2.RouteConfiguration())


def test_route_config_parses_as_envoy_protos_with_one_pool_per_model() -> None:
    config = parsed(bbr_route_config(POOLS, fallback_pool="default/a"))
    routes = config.virtual_hosts[0].routes
    pools: dict[str, str] = {}
    for route in routes:
        if POOL_FILTER not in route.typed_per_filter_config:
            continue
        per_route = header_mutation_pb2.HeaderMutationPerRoute()
        route.typed_per_filter_config[POOL_FILTER].Unpack(per_route)
        header = per_route.mutations.request_mutations[0].append.header
        assert header.key == POOL_HEADER
        model = route.match.headers[0].string_match.exact
        assert pools.setdefault(model, header.value) == header.value
    assert pools == {"llama": "default/a", "llama-lora": "default/a", "mistral": "default/b"}
    unknown = routes[-3]
    assert unknown.direct_response.status == 404
    assert unknown.match.headers[0].present_match
    off = ext_proc_pb2.ExtProcPerRoute()
    unknown.typed_per_filter_config[EPP_FILTER].Unpack(off)
    assert off.disabled


def test_only_the_fallback_pool_fails_open_to_the_fallback_cluster() -> None:
    routes = parsed(bbr_route_config(POOLS, fallback_pool="default/a")).virtual_hosts[0].routes
    bypassed = {
        r.match.headers[0].string_match.exact: r for r in routes[:-3] if not r.route.cluster
    }
    assert set(bypassed) == {"mistral"}
    assert bypassed["mistral"].direct_response.status == 503


def test_routes_file_is_replaced_only_when_the_table_changes(tmp_path: Path) -> None:
    file = RoutesFile(tmp_path)
    assert file.write(bbr_route_config(POOLS, fallback_pool=None))
    first = file.path.stat().st_ino
    assert not file.write(bbr_route_config(POOLS, fallback_pool=None))
    assert file.path.stat().st_ino == first
    assert file.write(bbr_route_config({"default/a": ["qwen"]}, fallback_pool=None))
    doc = json.loads(file.path.read_text())
    assert doc["version_info"] == "2"
    assert [p.name for p in tmp_path.iterdir()] == [file.path.name]


def test_bbr_cluster_stays_plaintext_when_the_epp_uses_tls(tmp_path: Path) -> None:
    settings = EnvoySettings(epp_tls=True, bbr_port=9004)
    clusters = build_bootstrap(settings, eds_dir=tmp_path)["static_resources"]["clusters"]
    by_name = {c["name"]: c for c in clusters}
    assert "transport_socket" in by_name[EPP_CLUSTER]
    assert "transport_socket" not in by_name[BBR_CLUSTER]
