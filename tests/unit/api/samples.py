"""Builders of valid API documents (plain dicts, as decoded from YAML) for the api tests."""

from __future__ import annotations

import copy
import re
from typing import Any

Doc = dict[str, Any]


def pool_v1alpha2() -> Doc:
    return {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
        "kind": "InferencePool",
        "metadata": {"name": "pool", "namespace": "ns"},
        "spec": {
            "selector": {"app": "vllm", "example.com/tier": "gpu"},
            "targetPortNumber": 8000,
            "extensionRef": {"name": "epp"},
        },
    }


def model() -> Doc:
    return {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
        "kind": "InferenceModel",
        "metadata": {"name": "food-review", "namespace": "ns"},
        "spec": {
            "modelName": "food-review",
            "criticality": "Critical",
            "poolRef": {"name": "pool"},
            "targetModels": [
                {"name": "food-review-1", "weight": 90},
                {"name": "food-review-2", "weight": 10},
                {"name": "food-review-3", "weight": 1},
            ],
        },
    }


def pool_v1() -> Doc:
    return {
        "apiVersion": "inference.networking.k8s.io/v1",
        "kind": "InferencePool",
        "metadata": {"name": "pool", "namespace": "ns"},
        "spec": {
            "selector": {"matchLabels": {"app": "vllm"}},
            "targetPorts": [{"number": 8000}, {"number": 8002}],
            "endpointPickerRef": {"name": "epp", "port": {"number": 9002}},
        },
    }


def objective() -> Doc:
    return {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
        "kind": "InferenceObjective",
        "metadata": {"name": "batch", "namespace": "ns"},
        "spec": {"priority": -1, "poolRef": {"name": "pool"}},
    }


def rewrite() -> Doc:
    return {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
        "kind": "InferenceModelRewrite",
        "metadata": {"name": "canary", "namespace": "ns"},
        "spec": {
            "poolRef": {"name": "pool"},
            "rules": [
                {
                    "matches": [{"model": {"value": "llama"}}],
                    "targets": [
                        {"modelRewrite": "llama-v1", "weight": 90},
                        {"modelRewrite": "llama-v2", "weight": 10},
                    ],
                },
                {"targets": [{"modelRewrite": "fallback"}]},
            ],
        },
    }


def pod() -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "vllm-0",
            "namespace": "ns",
            "labels": {"app": "vllm"},
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai"}]},
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.11",
            "podIPs": [{"ip": "127.0.0.11"}],
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True", "lastProbeTime": None},
            ],
        },
    }


BUILDERS = {
    "pool-v1alpha2": pool_v1alpha2,
    "model": model,
    "pool-v1": pool_v1,
    "objective": objective,
    "rewrite": rewrite,
}

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def with_value(doc: Doc, path: str, value: Any) -> Doc:
    """A copy of ``doc`` with ``path`` (``spec.targetModels[2].weight``) set, or removed if
    ``value`` is :data:`DELETE`."""
    out = copy.deepcopy(doc)
    steps: list[str | int] = [name if name else int(index) for name, index in _STEP.findall(path)]
    node: Any = out
    for step in steps[:-1]:
        node = node[step]
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return out


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()
