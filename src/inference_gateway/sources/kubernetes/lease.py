"""Leader election over a ``coordination.k8s.io/v1`` Lease, as upstream's EPP does it.

Upstream (``--ha-enable-leader-election``) runs controller-runtime's elector: Lease
``epp-<namespace>-<pool>.gateway-api-inference-extension.sigs.k8s.io`` in the pool's
namespace, lease 15 s, renew deadline 10 s, retry every 2 s, released on shutdown; only the
leader answers SERVING to readiness (active-passive: followers stay synced and take over
when the leader stops renewing). This is client-go's algorithm:

- no Lease: create it holding it (a 409 means someone else just did);
- someone else's Lease counts as held until ``leaseDurationSeconds`` have passed on *our*
  clock since we last saw its record change (renewTime is never compared across machines);
- a free or expired Lease, or our own, is written back with ``resourceVersion``, so of two
  candidates only one update wins and the other gets 409 and stays a follower;
- a leader that cannot renew within ``renew_deadline`` steps down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from inference_gateway.sources.kubernetes.client import KubeClient, Obj, Resource
from inference_gateway.sources.kubernetes.errors import ApiError, Conflict, NotFound

log = logging.getLogger(__name__)

LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")


def lease_name(pool_namespace: str, pool_name: str) -> str:
    """Upstream's LeaderElectionID for a pool (``controller_manager.go``)."""
    return f"epp-{pool_namespace}-{pool_name}.gateway-api-inference-extension.sigs.k8s.io"


def default_identity() -> str:
    """controller-runtime's: the host name (the pod name) and a random suffix."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4()}"


class LeaderElectionSettings(BaseModel):
    """controller-runtime's defaults; tests shorten them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lease_duration: float = Field(default=15.0, gt=0)
    renew_deadline: float = Field(default=10.0, gt=0)
    retry_period: float = Field(default=2.0, gt=0)
    identity: str = Field(default_factory=default_identity, min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> LeaderElectionSettings:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need retry_period < renew_deadline < lease_duration")
        return self


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaigns for one Lease until cancelled; ``is_leader`` and ``changed`` tell the rest."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        name: str,
        settings: LeaderElectionSettings,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._name = name
        self.settings = settings
        self._clock = clock
        self.is_leader = False
        self.changed = asyncio.Event()
        """Set on every gain or loss of leadership (the waiter clears it)."""
        self._observed: Any = None
        self._observed_at = 0.0
        self._renewed_at = 0.0

    def _time(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    async def run(self) -> None:
        """Try to acquire or renew every ``retry_period``, forever."""
        try:
            while True:
                try:
                    held = await self._try_once()
                except ApiError as e:
                    log.warning("lease %s: %s", self._name, e)
                    held = False
                    if self.is_leader and self._time() - self._renewed_at < (
                        self.settings.renew_deadline
                    ):
                        held = True  # keep leading until the renew deadline passes
                self._set(held)
                await asyncio.sleep(self.settings.retry_period)
        finally:
            self._set(False)

    async def release(self) -> None:
        """Give the Lease up at shutdown (upstream's ReleaseOnCancel) so a follower takes
        over at its next retry instead of after a whole lease duration."""
        self._set(False)
        if not self._renewed_at:
            return  # never held it
        try:
            lease = await self._get()
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") == self.settings.identity:
                spec.update({"holderIdentity": "", "leaseDurationSeconds": 1})
                lease["spec"] = spec
                await self._put(lease)
        except ApiError as e:
            log.warning("lease %s: release failed: %s", self._name, e)

    async def _try_once(self) -> bool:
        me = self.settings.identity
        try:
            lease = await self._get()
        except NotFound:
            try:
                await self._create(self._spec(None))
            except Conflict:
                return False
            self._renewed_at = self._time()
            return True
        spec = lease.get("spec") or {}
        now = self._time()
        if spec != self._observed:
            self._observed, self._observed_at = spec, now
        holder = spec.get("holderIdentity") or ""
        duration = spec.get("leaseDurationSeconds") or self.settings.lease_duration
        if holder and holder != me and now < self._observed_at + float(duration):
            return False
        lease["spec"] = self._spec(spec)
        try:
            await self._put(lease)
        except Conflict:
            return False
        self._renewed_at = now
        return True

    def _spec(self, old: dict[str, Any] | None) -> dict[str, Any]:
        me, now = self.settings.identity, _now()
        spec = dict(old or {})
        transitions = int(spec.get("leaseTransitions") or 0)
        if old is None:
            spec["acquireTime"] = now
        elif spec.get("holderIdentity") != me:
            spec["acquireTime"] = now
            transitions += 1
        spec.update(
            holderIdentity=me,
            leaseDurationSeconds=max(1, round(self.settings.lease_duration)),
            renewTime=now,
            leaseTransitions=transitions,
        )
        return spec

    def _set(self, leader: bool) -> None:
        if leader != self.is_leader:
            self.is_leader = leader
            log.info("lease %s: %s", self._name, "became leader" if leader else "not leader")
            self.changed.set()

    # --- requests (through the shared client's transport, retries and error mapping) ------
    async def _get(self) -> Obj:
        path = LEASES.path(self._namespace, self._name)
        return await self._request("GET", path)

    async def _create(self, spec: dict[str, Any]) -> Obj:
        body: Obj = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self._name, "namespace": self._namespace},
            "spec": spec,
        }
        return await self._request("POST", LEASES.path(self._namespace), body)

    async def _put(self, lease: Obj) -> Obj:
        return await self._request("PUT", LEASES.path(self._namespace, self._name), lease)

    async def _request(self, method: str, path: str, body: Obj | None = None) -> Obj:
        async with self._client._send(method, path, body=body) as response:
            data = await response.json(content_type=None)
        if not isinstance(data, dict):
            raise ApiError(0, f"{method} {path}: not a JSON object")
        return data


__all__ = ["LEASES", "LeaderElectionSettings", "LeaderElector", "lease_name"]
