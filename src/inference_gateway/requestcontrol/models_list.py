"""``GET /v1/models`` and ``GET /v1/models/{id}`` answered by the gateway itself.

Proxied to one pod, the list would name what that pod serves (``food-review-1``, the
adapters behind a weighted split), which the gateway then refuses with 404, and never the
names clients are meant to use (``food-review``). So the EPP answers from the datastore:
the list holds exactly the names the resolver accepts, and every listed id routes.

* Every accepted InferenceModel ``modelName`` whose pool exists (a name that lost its
  claim to an older object, or whose pool is gone, would not route and is left out).
* InferenceObjectives are not listed: they carry a priority chosen per request by the
  ``x-gateway-inference-objective`` header, not a model name; a request naming one as its
  model would be refused.
* Base models the pods serve that nothing rewrites: under v1 semantics (a lone v1 pool
  without InferenceModels, see ``resolve.passthrough_pool``) every name passes through
  unchanged, so what the pods list is exactly what routes. The scraped endpoint state does
  not carry served names (vLLM's metrics label them, but ``Metrics`` keeps no name), so
  in that mode the list is answered from ``served`` when the caller knows them, and
  otherwise ``models_answer`` returns None and the request is proxied to a pod as before.

Cards have vLLM's ``ModelCard`` shape (``entrypoints/openai/engine/protocol.py``): ``id``,
``object: "model"``, ``created``, ``owned_by``, ``root``, ``parent``, ``max_model_len``,
``permission``. ``root`` is the name the pods see when that is one name (a single target
model), else the name itself; ``parent`` is null (the gateway does not know which base an
adapter extends); ``max_model_len`` is null because no scraped metric reports it.
``created`` is the InferenceModel's creationTimestamp when set, else the caller's ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from inference_gateway.datastore import Datastore, ModelInfo, PoolInfo
from inference_gateway.requestcontrol import errors
from inference_gateway.requestcontrol.extensions.base import ImmediateAnswer
from inference_gateway.requestcontrol.resolve import passthrough_pool

MODELS_PATH = "/v1/models"
OWNED_BY = "inference-gateway"
_JSON_HEADERS: Mapping[str, str] = MappingProxyType({"content-type": "application/json"})
_NO_SERVED: Mapping[str, Sequence[str]] = MappingProxyType({})

ModelCard = dict[str, Any]


def model_card(
    name: str, *, created: int, root: str | None = None, parent: str | None = None
) -> ModelCard:
    return {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": OWNED_BY,
        "root": root if root is not None else name,
        "parent": parent,
        "max_model_len": None,
        "permission": [],
    }


def model_cards(
    models: Iterable[ModelInfo],
    pools: Iterable[PoolInfo],
    *,
    now: int,
    pool_key: str | None = None,
    served: Mapping[str, Sequence[str]] = _NO_SERVED,
) -> list[ModelCard]:
    """Cards for every name that routes, sorted by id; only ``pool_key``'s when given.

    ``served`` maps a pool key to the names its pods serve (used for passthrough pools).
    """
    pool_keys = {p.key for p in pools}
    if pool_key is not None:
        pool_keys &= {pool_key}
    cards: dict[str, ModelCard] = {}
    for info in models:
        if info.pool_key not in pool_keys:
            continue
        root = info.targets[0].name if len(info.targets) == 1 else None
        created = int(info.created) if info.created > 0 else now
        cards[info.model_name] = model_card(info.model_name, created=created, root=root)
    for key in sorted(pool_keys):
        for name in served.get(key, ()):
            cards.setdefault(name, model_card(name, created=now))
    return [cards[name] for name in sorted(cards)]


def is_models_request(headers: Mapping[str, str]) -> bool:
    """A GET (or HEAD) on ``/v1/models`` or ``/v1/models/{id}``."""
    if headers.get(":method", "GET") not in ("GET", "HEAD"):
        return False
    path = headers.get(":path", "/").split("?", 1)[0]
    return path.rstrip("/") == MODELS_PATH or path.startswith(MODELS_PATH + "/")


def models_answer(
    datastore: Datastore,
    headers: Mapping[str, str],
    *,
    now: float,
    pool_key: str | None = None,
    served: Mapping[str, Sequence[str]] = _NO_SERVED,
) -> ImmediateAnswer | None:
    """The answer to a models request, None when it is not one or must go to a pod.

    Raises a 404 ``GatewayError`` for ``/v1/models/{id}`` when ``id`` is not listed.
    """
    if not is_models_request(headers):
        return None
    passthrough = passthrough_pool(datastore)
    if passthrough is not None and not served.get(passthrough.key):
        return None
    cards = model_cards(
        datastore.models(), datastore.pools(), now=int(now), pool_key=pool_key, served=served
    )
    path = headers.get(":path", "/").split("?", 1)[0]
    wanted = unquote(path[len(MODELS_PATH) :].strip("/"))
    if not wanted:
        return _json_answer({"object": "list", "data": cards})
    for card in cards:
        if card["id"] == wanted:
            return _json_answer(card)
    raise errors.model_not_found(wanted)


def _json_answer(payload: object) -> ImmediateAnswer:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return ImmediateAnswer(200, _JSON_HEADERS, body)
