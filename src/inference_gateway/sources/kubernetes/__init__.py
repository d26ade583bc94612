"""Kubernetes watches (pool, models, objectives, rewrites, pods) mirrored into the datastore."""

from inference_gateway.sources.kubernetes.settings import KubeSettings
from inference_gateway.sources.kubernetes.source import KubernetesSource, run_kubernetes_source

__all__ = ["KubeSettings", "KubernetesSource", "run_kubernetes_source"]
