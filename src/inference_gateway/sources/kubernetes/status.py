"""Writes the ``Accepted`` condition of InferenceModels, only when it changes.

Upstream semantics: the oldest InferenceModel claiming a ``modelName`` is ``Accepted``;
every younger claim is ``Accepted=False, reason ModelNameInUse``. The datastore already
decides the winner; this writer compares its verdict with the condition the object carries
(from the watch, or from the PATCH response) and merge-patches the status subresource when
they differ. The CRD's placeholder condition (reason ``Pending``) is dropped on the way.

A merge patch replaces the ``conditions`` list whole, so the patch carries the
``resourceVersion`` it was computed from: if another controller wrote a condition meanwhile,
the API server answers 409 instead of dropping it, and the writer reads the object again and
recomputes (``CONFLICT_RETRIES`` times; after that the next watch event retries).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from inference_gateway.datastore import Datastore
from inference_gateway.sources.kubernetes.client import KubeClient, Obj, Resource
from inference_gateway.sources.kubernetes.errors import ApiError, Conflict, NotFound
from inference_gateway.sources.kubernetes.mirror import raw_key
from inference_gateway.sources.kubernetes.settings import KubeSettings
from inference_gateway.sources.kubernetes.watching import Event

log = logging.getLogger(__name__)

Verdict = tuple[str, str]
ACCEPTED: Verdict = ("True", "Accepted")
IN_USE: Verdict = ("False", "ModelNameInUse")
# Re-reads after a 409 within one pass; two writers rarely collide twice in a row.
CONFLICT_RETRIES = 3


def _conditions(obj: Obj) -> list[dict[str, Any]]:
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(conditions, list):
        return []
    return [c for c in conditions if isinstance(c, dict)]


def _verdict(obj: Obj) -> Verdict | None:
    for c in _conditions(obj):
        if c.get("type") == "Accepted":
            return (str(c.get("status")), str(c.get("reason")))
    return None


class ModelStatusWriter:
    def __init__(
        self, client: KubeClient, datastore: Datastore, resource: Resource, settings: KubeSettings
    ) -> None:
        self._client = client
        self._datastore = datastore
        self._resource = resource
        self._settings = settings
        self._objects: dict[str, Obj] = {}
        self._dirty = asyncio.Event()
        self.patches = 0

    def observe(self, event: Event) -> None:
        """Remember what each InferenceModel's status says now."""
        key = raw_key(event.object)
        if event.type == "DELETED" and key is not None:
            self._objects.pop(key, None)
        elif event.type in ("EXISTING", "ADDED", "MODIFIED") and key is not None:
            self._objects[key] = event.object
        self._dirty.set()

    async def run(self) -> None:
        backoff = self._settings.watch_backoff
        failures = 0
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if await self._write_all():
                failures = 0
                continue
            await asyncio.sleep(backoff[min(failures, len(backoff) - 1)])
            failures += 1
            self._dirty.set()

    async def _write_all(self) -> bool:
        ok = True
        claims = self._datastore.model_claims()
        # Objects of other pools, and ones deleted while no watch ran, need no status from us.
        keep = {claim.key for claim in claims}
        self._objects = {k: v for k, v in self._objects.items() if k in keep}
        for claim in claims:
            want = ACCEPTED if self._datastore.model_accepted(claim.key) else IN_USE
            current = self._objects.get(claim.key)
            if current is None or _verdict(current) == want:
                continue
            try:
                patched = await self._patch_fresh(claim.namespace, claim.name, current, want)
            except NotFound:
                continue  # deleted meanwhile; the watch will say so
            except ApiError as e:
                log.warning("cannot write status of InferenceModel %s: %s", claim.key, e)
                ok = False
                continue
            if patched is None:
                continue  # someone else already wrote our verdict
            self.patches += 1
            log.info("InferenceModel %s: Accepted=%s (%s)", claim.key, *want)
            if raw_key(patched) == claim.key:
                self._objects[claim.key] = patched
        return ok

    async def _patch_fresh(
        self, namespace: str, name: str, current: Obj, want: Verdict
    ) -> Obj | None:
        """Patch against ``current``; on 409 read the object again and recompute."""
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return await self._client.patch_status(
                    self._resource, namespace, name, _patch(current, want)
                )
            except Conflict:
                if attempt == CONFLICT_RETRIES:
                    raise
                log.info(
                    "InferenceModel %s/%s changed meanwhile (409); re-reading", namespace, name
                )
                current = await _get(self._client, self._resource.path(namespace, name))
                if _verdict(current) == want:
                    return None
        raise AssertionError("unreachable")


async def _get(client: KubeClient, path: str) -> Obj:
    async with client._send("GET", path) as response:
        data = await response.json(content_type=None)
    if not isinstance(data, dict):
        raise ApiError(0, f"GET {path}: not a JSON object")
    return data


def _patch(current: Obj, want: Verdict) -> Obj:
    status, reason = want
    message = (
        "accepted by the endpoint picker"
        if want == ACCEPTED
        else "an older InferenceModel claims this modelName"
    )
    condition: dict[str, Any] = {
        "type": "Accepted",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    generation = (current.get("metadata") or {}).get("generation")
    if isinstance(generation, int):
        condition["observedGeneration"] = generation
    kept = [
        c
        for c in _conditions(current)
        if c.get("type") != "Accepted" and c.get("reason") != "Pending"
    ]
    # A merge patch replaces lists whole, so the other conditions are sent back unchanged, and
    # the resourceVersion makes the server refuse (409) if they changed since we read them.
    patch: Obj = {"status": {"conditions": [*kept, condition]}}
    version = (current.get("metadata") or {}).get("resourceVersion")
    if isinstance(version, str) and version:
        patch["metadata"] = {"resourceVersion": version}
    return patch
