"""The fallback cluster's endpoints, as an EDS file that Envoy watches.

Envoy reloads a ``path_config_source`` when its ``watched_directory`` sees a file moved in,
so every write goes to a temporary file in the same directory and is renamed over the old
one (atomic on POSIX): Envoy never reads half a file. The set only matters when the EPP is
bypassed (FailOpen), so it is the endpoints of one pool, the first FailOpen pool by key (or
the first pool when none is FailOpen). Writes are a few hundred bytes and skipped when
nothing changed, and made once per loop turn of datastore changes (``coalesce.once_per_turn``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from inference_gateway.datastore import Datastore
from inference_gateway.envoy.coalesce import once_per_turn
from inference_gateway.envoy.settings import EDS_FILE_NAME, FALLBACK_CLUSTER

_LOAD_ASSIGNMENT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"


def eds_document(hostports: Iterable[tuple[str, int]], *, version: int) -> dict[str, Any]:
    lb = [
        {"endpoint": {"address": {"socket_address": {"address": h, "port_value": p}}}}
        for h, p in hostports
    ]
    assignment: dict[str, Any] = {"@type": _LOAD_ASSIGNMENT, "cluster_name": FALLBACK_CLUSTER}
    if lb:
        assignment["endpoints"] = [{"lb_endpoints": lb}]
    return {"version_info": str(version), "resources": [assignment]}


def fallback_hostports(datastore: Datastore) -> list[tuple[str, int]]:
    pools = sorted(datastore.pools(), key=lambda p: p.key)
    open_pools = [p for p in pools if p.failure_mode == "FailOpen"]
    chosen = (open_pools or pools)[:1]
    if not chosen:
        return []
    return sorted((e.address, e.port) for e in datastore.endpoints(chosen[0].key))


class EndpointsFile:
    """Owns ``<directory>/fallback_eds.json``; ``write`` replaces it atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / EDS_FILE_NAME
        self._version = 0
        self._last: list[tuple[str, int]] | None = None

    def write(self, hostports: Iterable[tuple[str, int]]) -> bool:
        """Write the set if it changed; True when a new file was put in place."""
        current = list(hostports)
        if current == self._last:
            return False
        self._version += 1
        data = json.dumps(eds_document(current, version=self._version)).encode()
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".eds-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._last = current
        return True

    def follow(self, datastore: Datastore) -> None:
        """Write now and after changes of the datastore's pools or endpoints (once per loop
        turn, however many changes it held: ``coalesce.once_per_turn``)."""

        def changed() -> None:
            self.write(fallback_hostports(datastore))

        changed()
        datastore.on_change(once_per_turn(changed))
