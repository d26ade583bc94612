"""The in-memory truth: pools, models, endpoints and their latest metrics."""

from inference_gateway.datastore.objects import (
    Criticality,
    ModelInfo,
    ObjectiveInfo,
    PodInfo,
    PoolInfo,
    RewriteInfo,
    RewriteRule,
    TargetModel,
)
from inference_gateway.datastore.store import Datastore, DesiredState, EndpointListener
from inference_gateway.datastore.types import Endpoint, Metrics

__all__ = [
    "Criticality",
    "Datastore",
    "DesiredState",
    "Endpoint",
    "EndpointListener",
    "Metrics",
    "ModelInfo",
    "ObjectiveInfo",
    "PodInfo",
    "PoolInfo",
    "RewriteInfo",
    "RewriteRule",
    "TargetModel",
]
