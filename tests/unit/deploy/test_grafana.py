"""The Grafana dashboard loads, is laid out sanely, and queries only series the EPP exports.

The exported names come from a live ``EppMetrics`` after real requests through a real
Director (with the default scheduler profile, so plugin timings are observed) plus the
sample names implied by every family in its registry, so a renamed metric breaks this test.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from inference_gateway.datastore import Metrics
from inference_gateway.observability import EppMetrics
from inference_gateway.observability.loop_lag import LoopLagMonitor
from inference_gateway.observability.metrics import OBJECTIVE_SUBSYSTEM
from inference_gateway.requestcontrol import Director, GatewayError
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.scheduler import build_saturation_detector, build_scheduler
from tests.unit.requestcontrol.builders import FakeClock, chat, make_store, model, raw

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "inference-gateway.json"

_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "unknown": ("",),
}
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "and", "or", "unless", "le", "inf", "nan",
}  # fmt: skip
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def exported() -> set[str]:
    clock = FakeClock()
    store = make_store(models=[model("llama", targets=[("adapter", None)]), model("qwen")])
    metrics = EppMetrics(store, clock=clock)
    LoopLagMonitor(metrics.registry)  # the EPP registers it beside EppMetrics
    for e in store.all_endpoints():
        store.set_metrics(e.hostport, Metrics(waiting=1, kv_usage=0.3, updated_at=clock.now))
    rng = random.Random(1)
    config = load_config("default")
    director = Director(
        store,
        build_scheduler(config, rng=rng, observer=metrics.observe_plugin),
        metrics=metrics,
        admission=build_saturation_detector(config),
        rng=rng,
        clock=clock,
    )
    usage = json.dumps(
        {"usage": {"prompt_tokens": 9, "completion_tokens": 3,
                   "prompt_tokens_details": {"cached_tokens": 4}}}
    ).encode()  # fmt: skip
    for name in ("llama", "qwen"):
        routed = director.route_now(chat(name))
        routed.response_started(200, {"content-type": "application/json"}, None)
        routed.response_chunk(usage, True)
        clock.now += 0.5
        routed.finish()
    with pytest.raises(GatewayError):
        director.route_now(raw(b"{not json"))
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics.render().decode()):
        names.update(s.name for s in family.samples)
    # The request families under the other generation's names (a v1 pool's EPP).
    for registry in (metrics.registry, EppMetrics(subsystem=OBJECTIVE_SUBSYSTEM).registry):
        for family in registry.collect():
            names.update(family.name + s for s in _SUFFIXES[family.type])
    return names


GENERATIONS = ("inference_objective", "inference_model")


def _expand(expr: str) -> list[str]:
    """One query per value of the ``generation`` variable (the request metrics' prefix)."""
    if "${generation}" not in expr:
        return [expr]
    return [expr.replace("${generation}", g) for g in GENERATIONS]


def _targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], expr)
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for expr in _expand(target["expr"])
    ]


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that can only be metric names."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]|\boffset\s+-?\w+", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    text = re.sub(r"(?<![\w:])\d+(?:\.\d+)?(?:e[+-]?\d+)?", " ", text)
    found = set()
    for m in _IDENT.finditer(text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or m.group().lower() in _PROMQL_WORDS:
            continue
        found.add(m.group())
    return found


def test_promql_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (le, model_name) (rate(a_bucket{model_name=~"$model"}'
        "[$__rate_interval]))) / clamp_min(sum(b_total offset 5m), 1e-9) and on (x) c"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


def test_dashboard_is_a_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("pool", "model"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${datasource}"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]


def test_panel_ids_unique_and_layout_without_overlap(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
    for p in panels:
        ref_ids = [t["refId"] for t in p.get("targets", [])]
        assert len(ref_ids) == len(set(ref_ids)), p["title"]


def test_every_query_uses_only_exported_metrics(
    dashboard: dict[str, Any], exported: set[str]
) -> None:
    targets = _targets(dashboard)
    assert len(targets) >= 25
    for title, expr in targets:
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= exported, f"{title}: {sorted(names - exported)} not exported"
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            for definition in _expand(variable["definition"]):
                (name,) = re.findall(r"label_values\((\w+),", definition)
                assert name in exported


def test_the_generation_variable_offers_both_names(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    generation = variables["generation"]
    assert generation["type"] == "custom"
    assert tuple(generation["query"].split(",")) == GENERATIONS
    assert generation["current"]["value"] == "inference_objective"
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [v["definition"] for v in variables.values() if v["type"] == "query"]
    for query in queries:  # request metrics follow the variable, never one generation
        assert not re.search(r"inference_(model|objective)_", query), query


def test_dashboard_covers_the_epp_metrics(dashboard: dict[str, Any], exported: set[str]) -> None:
    used = set().union(*(metric_names(expr) for _, expr in _targets(dashboard)))
    families = {
        "inference_model_request_total",
        "inference_model_request_error_total",
        "inference_model_request_duration_seconds_bucket",
        "inference_model_normalized_time_per_output_token_seconds_bucket",
        "inference_model_input_tokens_sum",
        "inference_model_output_tokens_sum",
        "inference_model_running_requests",
        "inference_objective_request_total",
        "inference_objective_request_duration_seconds_bucket",
        "inference_pool_average_kv_cache_utilization",
        "inference_pool_average_queue_size",
        "inference_pool_average_running_requests",
        "inference_pool_ready_pods",
        "inference_pool_per_pod_queue_size",
        "inference_extension_scheduler_e2e_duration_seconds_bucket",
        "inference_extension_plugin_duration_seconds_bucket",
        "inference_extension_event_loop_lag_seconds_bucket",
        "inference_model_request_ttft_seconds_bucket",
        "inference_model_request_predicted_tpot_seconds_bucket",
    }
    assert families <= exported
    assert families <= used, sorted(families - used)


def test_latency_quantiles_by_model(dashboard: dict[str, Any]) -> None:
    exprs = [e for _, e in _targets(dashboard) if "request_duration_seconds_bucket" in e]
    for q in ("0.5", "0.9", "0.99"):
        assert any(
            f"histogram_quantile({q}," in e and "model_name" in e.split("(rate")[0] for e in exprs
        ), q
