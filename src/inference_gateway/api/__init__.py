"""Kubernetes API objects of the Inference Extension, validated like the API server would.

Pydantic models for InferencePool (``v1alpha2`` and GA ``v1``), InferenceModel,
InferenceObjective, InferenceModelRewrite and the slice of core ``Pod`` the gateway reads;
parsing of (multi-document) YAML into them; and the CRDs generated from the same models.
"""

from __future__ import annotations

from inference_gateway.api._common import Condition, ObjectMeta
from inference_gateway.api.core import Pod
from inference_gateway.api.crdgen import crd_documents
from inference_gateway.api.parse import (
    ApiObject,
    InvalidObjectError,
    ObjectError,
    UnknownKindError,
    iter_documents,
    parse_documents,
    parse_object,
)
from inference_gateway.api.v1 import InferencePoolV1
from inference_gateway.api.v1alpha2 import (
    InferenceModel,
    InferenceModelRewrite,
    InferenceObjective,
    InferencePoolV1Alpha2,
)

__all__ = [
    "ApiObject",
    "Condition",
    "InferenceModel",
    "InferenceModelRewrite",
    "InferenceObjective",
    "InferencePoolV1",
    "InferencePoolV1Alpha2",
    "InvalidObjectError",
    "ObjectError",
    "ObjectMeta",
    "Pod",
    "UnknownKindError",
    "crd_documents",
    "iter_documents",
    "parse_documents",
    "parse_object",
]
