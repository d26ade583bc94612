"""Each of upstream's inferencepool chart values keys (v1.0-v1.5), set as an operator would,
renders what upstream's chart renders for it; every rendered object stays valid."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import typer.main
import yaml

from inference_gateway.api import parse_object
from inference_gateway.app import epp_registry
from inference_gateway.cli import build_app
from inference_gateway.cli._goflags import normalise
from inference_gateway.modelserver.datalayer import ScrapeSettings, scrape_settings
from inference_gateway.scheduling.config import load_config
from tests.unit.deploy.conftest import CHART, Doc, chart_docs, find
from tests.unit.deploy.test_manifests import K8S_VERSION

DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())
OWN_GROUPS = {"", "apps", "rbac.authorization.k8s.io", "v1"}


def render(**overrides: Any) -> list[Doc]:
    values = copy.deepcopy(DEFAULTS)
    for dotted, value in overrides.items():
        node = values
        *parents, last = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    docs = chart_docs(**values)
    for doc in docs:
        if doc["apiVersion"].rpartition("/")[0] in OWN_GROUPS:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    return docs


def container(docs: list[Doc]) -> Doc:
    return find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def epp_accepts(args: list[str]) -> None:
    """The rendered args parse as the epp command's options (names and values)."""
    mounted = str(CHART.parents[2] / "tests/upstream/default_plugins_v1.5.0.yaml")
    args = [mounted if a.startswith("/config/") else a for a in args]  # the ConfigMap mount
    cmd = typer.main.get_command(build_app()).commands["epp"]  # type: ignore[attr-defined]
    ctx = cmd.make_context("epp", list(args), resilient_parsing=False)
    ctx.close()


def test_defaults_start_the_epp_with_upstreams_flags() -> None:
    args = container(render())["args"]
    epp_accepts(args)
    assert "--ha-enable-leader-election" not in args


def test_flags_are_passed_as_name_and_value() -> None:
    args = container(render(inferenceExtension__flags={"v": 4, "enable-pprof": False}))["args"]
    assert args[-4:] == ["--enable-pprof", "false", "--v", "4"]
    epp_accepts(args)
    assert normalise(["--enable-pprof", "false"], {"enable-pprof"}, set()) == ["--no-enable-pprof"]


def test_flags_in_v102s_list_shape() -> None:
    flags = [{"name": "v", "value": 1}, {"name": "refresh-metrics-interval", "value": "100ms"}]
    args = container(render(inferenceExtension__flags=flags))["args"]
    assert args[-4:] == ["--v", "1", "--refresh-metrics-interval", "100ms"]
    epp_accepts(args)


def test_env_is_added_after_namespace_and_pod_name() -> None:
    env = container(render(inferenceExtension__env=[{"name": "X", "value": "1"}]))["env"]
    assert [e["name"] for e in env] == ["NAMESPACE", "POD_NAME", "X"]


def test_affinity_and_tolerations() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["cpu"]}]}]}}}  # fmt: skip
    tolerations = [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    docs = render(
        inferenceExtension__affinity=affinity, inferenceExtension__tolerations=tolerations
    )
    spec = find(docs, "Deployment")["spec"]["template"]["spec"]
    assert (spec["affinity"], spec["tolerations"]) == (affinity, tolerations)
    assert "affinity" not in find(render(), "Deployment")["spec"]["template"]["spec"]


def test_extra_container_and_service_ports() -> None:
    docs = render(
        inferenceExtension__extraContainerPorts=[{"name": "debug", "containerPort": 8081}],
        inferenceExtension__extraServicePorts=[{"name": "debug", "port": 8081}],
    )
    assert container(docs)["ports"][-1] == {"name": "debug", "containerPort": 8081}
    assert find(docs, "Service")["spec"]["ports"][-1] == {"name": "debug", "port": 8081}


def test_plugins_config_file_and_custom_config() -> None:
    custom = (CHART.parents[2] / "tests/upstream/default_plugins_v1.0.2.yaml").read_text()
    docs = render(
        inferenceExtension__pluginsConfigFile="custom-plugins.yaml",
        inferenceExtension__pluginsCustomConfig={"custom-plugins.yaml": custom},
    )
    args = container(docs)["args"]
    assert args[args.index("--config-file") + 1] == "/config/custom-plugins.yaml"
    data = find(docs, "ConfigMap")["data"]
    assert set(data) == {"default-plugins.yaml", "custom-plugins.yaml"}
    load_config(data["custom-plugins.yaml"], epp_registry())


@pytest.mark.parametrize("engine", ["vllm", "sglang", "triton-tensorrt-llm", "trtllm-serve"])
def test_model_server_type_picks_the_engine(engine: str) -> None:
    data = find(render(inferencePool__modelServerType=engine), "ConfigMap")["data"]
    text = data["default-plugins.yaml"]
    load_config(text, epp_registry())
    assert scrape_settings(text, ScrapeSettings()).mappings().resolve(None).name == engine


def test_latency_predictor_renders_upstreams_pipeline_without_sidecars() -> None:
    docs = render(inferenceExtension__latencyPredictor={"enabled": True})
    text = find(docs, "ConfigMap")["data"]["default-plugins.yaml"]
    upstream = yaml.safe_load(
        (CHART.parents[2] / "tests/upstream/predicted_latency_chart_v1.5.yaml").read_text()
    )
    assert yaml.safe_load(text) == upstream  # what upstream's chart renders at 1748e829
    config = load_config(text, epp_registry())
    assert config.profiles[0].scorers == (("latency-scorer", 1.0),)
    (deployment,) = (d for d in docs if d["kind"] == "Deployment")
    assert [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]] == ["epp"]


def test_metrics_data_source() -> None:
    source = {"scheme": "https", "path": "/prometheus/metrics", "insecureSkipVerify": False}
    text = find(render(inferenceExtension__metricsDataSource=source), "ConfigMap")["data"][
        "default-plugins.yaml"
    ]
    got = scrape_settings(text, ScrapeSettings())
    assert (got.scheme, got.path, got.insecure_skip_verify) == (
        "https",
        "/prometheus/metrics",
        False,
    )


def test_replicas_turn_on_leader_election_with_its_role_and_probes() -> None:
    docs = render(inferenceExtension__replicas=3)
    c = container(docs)
    assert "--ha-enable-leader-election" in c["args"]
    assert c["readinessProbe"]["grpc"]["service"] == "readiness"
    assert c["livenessProbe"]["grpc"]["service"] == "liveness"
    role = find(docs, "Role", "vllm-llama3-8b-instruct-epp-leader-election")
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["get", "create", "update"]}
    ]  # fmt: skip
    binding = find(docs, "RoleBinding", "vllm-llama3-8b-instruct-epp-leader-election")
    assert binding["subjects"][0]["name"] == "vllm-llama3-8b-instruct-epp"
    assert find(docs, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    epp_accepts(c["args"])


@pytest.mark.parametrize("auth", [True, False])
def test_monitoring_renders_a_service_monitor(auth: bool) -> None:
    docs = render(
        inferenceExtension__monitoring__prometheus={
            "enabled": True,
            "auth": {"enabled": auth, "secretName": "reader"},
            "extraLabels": {"release": "prom"},
        }
    )
    monitor = find(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["interval"]) == ("http-metrics", "10s")
    assert ("authorization" in endpoint) is auth
    secrets = [d for d in docs if d["kind"] == "Secret"]
    assert [s["metadata"]["name"] for s in secrets] == (["reader"] if auth else [])
    service = find(docs, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert "http-metrics" in {p["name"] for p in service["spec"]["ports"]}
    assert not [d for d in render() if d["kind"] in ("ServiceMonitor", "Secret")]


def test_monitoring_secret_name_of_v102() -> None:
    docs = render(
        inferenceExtension__monitoring__prometheus__enabled=True,
        inferenceExtension__monitoring__secret={"name": "old-reader"},
    )
    monitor = find(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["authorization"]["credentials"]["name"] == "old-reader"
    assert find(docs, "Secret")["metadata"]["name"] == "old-reader"


def test_provider_gke() -> None:
    docs = render(
        provider__name="gke", inferenceExtension__monitoring__prometheus={"enabled": True,
                                                                       "auth": {"enabled": False}}
    )  # fmt: skip
    kinds = {d["kind"] for d in docs}
    assert {"HealthCheckPolicy", "GCPBackendPolicy", "PodMonitoring"} <= kinds
    assert "ServiceMonitor" not in kinds
    policy = find(docs, "HealthCheckPolicy")
    assert policy["spec"]["targetRef"] == {
        "group": "inference.networking.k8s.io",
        "kind": "InferencePool",
        "name": "vllm-llama3-8b-instruct",
    }
    assert policy["spec"]["default"]["config"]["httpHealthCheck"]["port"] == 8000


def test_provider_istio() -> None:
    rule = find(render(provider__name="istio"), "DestinationRule")
    assert rule["spec"]["host"] == "vllm-llama3-8b-instruct-epp.serving.svc.cluster.local"
    assert rule["spec"]["trafficPolicy"] == {"tls": {"mode": "SIMPLE", "insecureSkipVerify": True}}
    pool = {"http": {"maxRequestsPerConnection": 256000}}
    rule = find(
        render(provider__name="istio", provider__istio={
            "destinationRule": {"host": "epp.example", "trafficPolicy": {"connectionPool": pool}}}),
        "DestinationRule",
    )  # fmt: skip
    assert rule["spec"]["host"] == "epp.example"
    assert rule["spec"]["trafficPolicy"]["connectionPool"] == pool


def test_provider_none_renders_no_provider_objects() -> None:
    kinds = {d["kind"] for d in render()}
    assert not kinds & {"HealthCheckPolicy", "GCPBackendPolicy", "DestinationRule"}


def test_v1alpha2_api_version_renders_the_pre_ga_pool_and_group() -> None:
    docs = render(inferencePool__apiVersion="inference.networking.x-k8s.io/v1alpha2")
    pool = find(docs, "InferencePool")
    assert pool["apiVersion"] == "inference.networking.x-k8s.io/v1alpha2"
    assert pool["spec"]["targetPortNumber"] == 8000
    parse_object(pool)
    args = container(docs)["args"]
    assert args[args.index("--pool-group") + 1] == "inference.networking.x-k8s.io"


def test_tracing() -> None:
    tracing = {"enabled": True, "otelExporterEndpoint": "http://otel:4317"}
    c = container(render(inferenceExtension__tracing=tracing))
    assert "--tracing=true" in c["args"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel:4317"
    assert "--tracing=false" in container(render())["args"]
    epp_accepts(c["args"])
