"""Turning YAML documents into typed API objects, with errors a person can act on.

Documents are checked as the API server checks them: through JSON, with strict types (``"1"``
and ``true`` are not integers, ``1`` is not a string) and with ``null`` fields dropped, as the
API server prunes nulls of fields that are not ``nullable`` before validating a custom
resource (so ``metadata.labels: null``, in upstream v0.3.0's own manifest, is fine).

Every validation failure is reported as ``<kind> <namespace>/<name>: <field path>: <rule>``,
with the field path in the object's own JSON spelling (``spec.targetModels[2].weight``),
because the reader of the message is editing YAML, not Python.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from inference_gateway.api import crdgen
from inference_gateway.api._common import ApiResource
from inference_gateway.api.core import Pod
from inference_gateway.api.v1 import InferencePoolV1
from inference_gateway.api.v1alpha2 import (
    InferenceModel,
    InferenceModelRewrite,
    InferenceObjective,
    InferencePoolV1Alpha2,
)

log = logging.getLogger(__name__)

ApiObject = (
    InferencePoolV1Alpha2
    | InferenceModel
    | InferencePoolV1
    | InferenceObjective
    | InferenceModelRewrite
    | Pod
)

_KINDS: dict[tuple[str, str], type[BaseModel]] = {
    (cls.API_VERSION, cls.KIND): cls
    for cls in (
        InferencePoolV1Alpha2,
        InferenceModel,
        InferencePoolV1,
        InferenceObjective,
        InferenceModelRewrite,
        Pod,
    )
}


class ObjectError(ValueError):
    """Base of the errors raised for a document that does not yield an API object."""


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (JSON field path) and what (the rule, in words)."""

    path: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}" if self.path else self.rule


class InvalidObjectError(ObjectError):
    """The document is a known kind but breaks the schema or a CEL rule."""

    def __init__(self, obj: str, problems: tuple[Problem, ...], *, document: int | None = None):
        self.obj = obj
        self.problems = problems
        self.document = document
        where = f"document {document}: " if document is not None else ""
        super().__init__(f"{where}{obj}: " + "; ".join(str(p) for p in problems))


class UnknownKindError(ObjectError):
    """The document's apiVersion/kind is not one this gateway understands."""

    def __init__(self, api_version: str, kind: str, *, document: int | None = None):
        self.api_version = api_version
        self.kind = kind
        self.document = document
        where = f"document {document}: " if document is not None else ""
        known = ", ".join(f"{v}/{k}" for v, k in _KINDS)
        super().__init__(f"{where}unknown apiVersion/kind {api_version}/{kind} (known: {known})")


def parse_object(doc: Any) -> ApiObject:
    """Validate one decoded document into its model, dispatching on apiVersion and kind."""
    if not isinstance(doc, Mapping):
        raise InvalidObjectError(
            "<document>", (Problem("", f"must be a mapping, not {type(doc).__name__}"),)
        )
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise InvalidObjectError(
            "<document>", (Problem("", "apiVersion and kind must both be set to strings"),)
        )
    model = _KINDS.get((api_version, kind))
    if model is None:
        raise UnknownKindError(api_version, kind)
    try:
        obj = _validate(model, doc)
    except ValidationError as e:
        problems = tuple(_problem(model, err) for err in e.errors())
        raise InvalidObjectError(_describe(kind, doc), problems) from e
    return cast(ApiObject, obj)


def _validate(model: type[BaseModel], doc: Mapping[str, Any]) -> BaseModel:
    """Strict JSON validation; a status we cannot read is dropped (and logged), never the
    object with it: we route by the spec, and the status may come from another CRD version."""
    try:
        return model.model_validate_json(_as_json(doc), strict=True)
    except ValidationError as e:
        # Only custom resources: a Pod's status (its IP, its readiness) is what we read it for.
        if not issubclass(model, ApiResource) or "status" not in doc:
            raise
        if any(err["loc"][:1] != ("status",) for err in e.errors()):
            raise
        log.warning(
            "%s: ignoring a status we cannot read: %s",
            _describe(str(doc["kind"]), doc),
            _problem(model, e.errors()[0]),
        )
        return model.model_validate_json(
            _as_json({k: v for k, v in doc.items() if k != "status"}), strict=True
        )


def _as_json(doc: Mapping[str, Any]) -> str:
    """The document as the API server would receive it: JSON, nulls dropped."""
    return json.dumps(_drop_nulls(doc), default=_scalar)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _scalar(value: Any) -> Any:
    # YAML turns unquoted timestamps and dates into objects; JSON carries them as strings.
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def parse_documents(
    text: str, *, on_unknown: Callable[[UnknownKindError], None] | None = None
) -> list[ApiObject]:
    """Parse multi-document YAML; empty documents are skipped.

    Unknown kinds raise, unless ``on_unknown`` is given: then it is told and the document is
    skipped (a standalone file may hold Services or Deployments we have no use for).
    """
    return list(iter_documents(text, on_unknown=on_unknown))


def iter_documents(
    text: str, *, on_unknown: Callable[[UnknownKindError], None] | None = None
) -> Iterator[ApiObject]:
    """``parse_documents`` one object at a time, for a consumer that keeps less than the
    whole file (5,000 parsed Pods are ~100k objects for the cyclic GC to walk)."""
    for index, doc in enumerate(_documents(text), start=1):
        if doc is None:
            continue
        try:
            yield parse_object(doc)
        except UnknownKindError as e:
            located = UnknownKindError(e.api_version, e.kind, document=index)
            if on_unknown is None:
                raise located from None
            on_unknown(located)
        except InvalidObjectError as e:
            raise InvalidObjectError(e.obj, e.problems, document=index) from e.__cause__


# libyaml's parser when PyYAML was built with it: ~10x faster on a file of thousands of Pods,
# with the same safe constructor and resolver (so the same objects).
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _documents(text: str) -> Iterator[Any]:
    """The documents one at a time, so each raw document is garbage before the next is read
    (a file of 5,000 Pods held whole is a million objects for the cyclic GC to walk)."""
    try:
        yield from yaml.load_all(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as e:
        raise InvalidObjectError("<yaml>", (Problem("", f"invalid YAML: {e}"),)) from e


def _describe(kind: str, doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return f"{kind} {meta.get('namespace') or 'default'}/{meta.get('name') or '<unnamed>'}"


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problem(model: type[BaseModel], err: ErrorDetails) -> Problem:
    return Problem(_path(err["loc"]), _rule(model, err))


def _rule(model: type[BaseModel], err: ErrorDetails) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in ("greater_than_equal", "less_than_equal"):
        node = crdgen.schema_at(model, err["loc"])
        low, high = node.get("minimum"), node.get("maximum")
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
        return f"must be >= {low}" if low is not None else f"must be <= {high}"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "string_too_short":
        return f"must be at least {ctx['min_length']} characters"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} items"
    return str(err["msg"])
