"""The gateway's route table in body-based routing mode, as an RDS file Envoy watches.

Per model of each pool, in order: EPP picked (destination header present) -> ORIGINAL_DST;
EPP bypassed (FailOpen) -> the fallback cluster when this is the fallback pool, else a 503
(the fallback endpoints serve another pool's models). Both carry the per-route config that
names the pool in ``x-gateway-inference-pool``. Any other ``x-gateway-model-name`` -> 404
without asking the EPP (its ext_proc is disabled on that route), so an unknown model never
reaches a pool. No model header (bodiless requests, bodies without ``model``) -> the plain
mode's routes, where the EPP answers as usual (400 for a body without ``model``).

The table follows the datastore: ``RoutesFile.follow`` rewrites it (atomically, only when
it changed) after every change of pools or models, so hot reload keeps working in BBR mode.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from inference_gateway.datastore import Datastore
from inference_gateway.envoy.bbr_bootstrap import (
    MODEL_HEADER,
    POOL_FILTER,
    POOL_HEADER,
    ROUTES_FILE_NAME,
)
from inference_gateway.envoy.coalesce import once_per_turn
from inference_gateway.envoy.parts import cluster_route, default_routes
from inference_gateway.envoy.settings import (
    EPP_FILTER,
    FALLBACK_CLUSTER,
    GATEWAY_LISTENER,
    ORIGINAL_DST_CLUSTER,
)
from inference_gateway.requestcontrol.errors import error_headers, error_payload

_FILTERS = "type.googleapis.com/envoy.extensions.filters.http."


def _json_reply(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """A direct response in the gateway's one error shape (``requestcontrol.errors``)."""
    body = json.dumps(error_payload(status, message, param=param), separators=(",", ":"))
    headers = [("content-type", "application/json")]
    headers += list(error_headers(status).items())
    return {
        "match": {"prefix": "/"},
        "direct_response": {"status": status, "body": {"inline_string": body}},
        "response_headers_to_add": [
            {
                "header": {"key": key, "value": value},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
            for key, value in headers
        ],
    }


def _name_pool(pool_key: str) -> dict[str, Any]:
    header = {"key": POOL_HEADER, "value": pool_key}
    append = {"header": header, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
    return {
        POOL_FILTER: {
            "@type": _FILTERS + "header_mutation.v3.HeaderMutationPerRoute",
            "mutations": {"request_mutations": [{"append": append}]},
        }
    }


def _model_routes(model: str, pool_key: str, *, fallback: bool) -> list[dict[str, Any]]:
    picked = cluster_route(ORIGINAL_DST_CLUSTER, require_destination=True)
    if fallback:
        bypassed = cluster_route(FALLBACK_CLUSTER, require_destination=False)
    else:
        bypassed = _json_reply(503, f"no endpoint picker answered for pool {pool_key}")
    by_model = {"name": MODEL_HEADER, "string_match": {"exact": model}}
    for route in (picked, bypassed):
        route["match"]["headers"] = [by_model, *route["match"].get("headers", [])]
        route["typed_per_filter_config"] = _name_pool(pool_key)
    return [picked, bypassed]


def _unknown_model() -> dict[str, Any]:
    route = _json_reply(404, "The model does not exist.", "model")
    route["match"]["headers"] = [{"name": MODEL_HEADER, "present_match": True}]
    route["typed_per_filter_config"] = {
        EPP_FILTER: {"@type": _FILTERS + "ext_proc.v3.ExtProcPerRoute", "disabled": True}
    }
    return route


def bbr_route_config(
    pool_models: Mapping[str, Iterable[str]], *, fallback_pool: str | None
) -> dict[str, Any]:
    """The RouteConfiguration; ``pool_models`` maps a pool key to its model names."""
    routes: list[dict[str, Any]] = []
    for pool_key in sorted(pool_models):
        for model in sorted(set(pool_models[pool_key])):
            routes += _model_routes(model, pool_key, fallback=pool_key == fallback_pool)
    routes += [_unknown_model(), *default_routes()]
    return {
        "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        "name": GATEWAY_LISTENER,
        "virtual_hosts": [{"name": GATEWAY_LISTENER, "domains": ["*"], "routes": routes}],
    }


def pool_models(datastore: Datastore) -> dict[str, list[str]]:
    """Model names per pool, as the datastore resolved them (one pool per name)."""
    found: dict[str, list[str]] = {pool.key: [] for pool in datastore.pools()}
    for model in datastore.models():
        if model.pool_key in found:
            found[model.pool_key].append(model.model_name)
    return found


def fallback_pool(datastore: Datastore) -> str | None:
    """The pool ``EndpointsFile`` writes: the first FailOpen pool by key, else the first."""
    pools = sorted(datastore.pools(), key=lambda p: p.key)
    chosen = [p for p in pools if p.failure_mode == "FailOpen"] or pools
    return chosen[0].key if chosen else None


class RoutesFile:
    """Owns ``<directory>/bbr_routes.json``; replaced atomically, only when it changed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / ROUTES_FILE_NAME
        self._version = 0
        self._last: dict[str, Any] | None = None

    def write(self, config: dict[str, Any]) -> bool:
        if config == self._last:
            return False
        self._version += 1
        doc = {"version_info": str(self._version), "resources": [config]}
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".rds-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(doc).encode())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._last = config
        return True

    def follow(self, datastore: Datastore) -> None:
        """Write now and after changes of the datastore, once per loop turn however many
        changes it held (``coalesce.once_per_turn``)."""

        def changed() -> None:
            config = bbr_route_config(
                pool_models(datastore), fallback_pool=fallback_pool(datastore)
            )
            self.write(config)

        changed()
        datastore.on_change(once_per_turn(changed))
