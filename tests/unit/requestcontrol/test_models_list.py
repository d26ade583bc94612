"""``GET /v1/models`` from the datastore: every listed id routes, nothing else is listed."""

from __future__ import annotations

import json

import pytest

from inference_gateway.datastore import ModelInfo, PoolInfo
from inference_gateway.requestcontrol import GatewayError, IncomingRequest
from inference_gateway.requestcontrol.models_list import (
    is_models_request,
    model_cards,
    models_answer,
)
from tests.unit.requestcontrol.builders import NS, POOL, chat, make_director, make_store, model

NOW = 1_700_000_000


def get(path: str, method: str = "GET") -> dict[str, str]:
    return {":path": path, ":method": method}


@pytest.mark.parametrize(
    ("headers", "wanted"),
    [
        (get("/v1/models"), True),
        (get("/v1/models/"), True),
        (get("/v1/models?limit=3"), True),
        (get("/v1/models/meta-llama/Llama-3.1-8B"), True),
        (get("/v1/models", "POST"), False),
        (get("/v1/modelsx"), False),
        (get("/health"), False),
    ],
)
def test_which_requests_are_models_requests(headers: dict[str, str], wanted: bool) -> None:
    assert is_models_request(headers) == wanted


def test_cards_are_vllm_shaped_sorted_and_only_for_existing_pools() -> None:
    split = model("review", targets=[("review-1", 90), ("review-2", 10)], created=5.0)
    single = model("alias", targets=[("base-7b", None)])
    orphan = ModelInfo(name="o", namespace=NS, model_name="orphan", pool="gone")
    pools = [PoolInfo(name=POOL, namespace=NS, selector={}, target_ports=(8000,))]
    cards = model_cards([split, single, orphan], pools, now=NOW)
    assert [c["id"] for c in cards] == ["alias", "review"]
    assert cards[0] == {
        "id": "alias",
        "object": "model",
        "created": NOW,
        "owned_by": "inference-gateway",
        "root": "base-7b",
        "parent": None,
        "max_model_len": None,
        "permission": [],
    }
    assert (cards[1]["root"], cards[1]["created"]) == ("review", 5)
    assert model_cards([split], pools, now=NOW, pool_key="other/pool") == []


def test_director_answers_the_list_and_every_listed_id_routes() -> None:
    store = make_store(models=[model("llama"), model("review", targets=[("r-1", None)])])
    director = make_director(store)
    answer = director.route_now(IncomingRequest(headers=get("/v1/models"), body=b"")).answer
    assert answer is not None
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    listed = json.loads(answer.body)
    assert listed["object"] == "list"
    for card in listed["data"]:
        routed = director.route_now(chat(card["id"]))
        assert routed.model == card["id"]
        routed.finish()


def test_one_model_by_id_and_an_unknown_id_is_404() -> None:
    store = make_store(models=[model("org/name")])
    request = IncomingRequest(headers=get("/v1/models/org%2Fname"), body=b"")
    answer = make_director(store).route_now(request).answer
    assert answer is not None and json.loads(answer.body)["id"] == "org/name"
    with pytest.raises(GatewayError) as err:
        models_answer(store, get("/v1/models/r-1"), now=NOW)
    assert (err.value.status, err.value.param) == (404, "model")


def test_passthrough_pool_lists_what_the_pods_serve_or_proxies() -> None:
    """v1 without InferenceModels routes any name: without served names, ask a pod."""
    store = make_store(api_version="v1")
    assert models_answer(store, get("/v1/models"), now=NOW) is None
    routed = make_director(store).route_now(IncomingRequest(headers=get("/v1/models"), body=b""))
    assert routed.endpoints  # proxied to a pod, whose list is exactly what routes
    served = {f"{NS}/{POOL}": ["base", "lora"]}
    answer = models_answer(store, get("/v1/models"), now=NOW, served=served)
    assert answer is not None
    assert [c["id"] for c in json.loads(answer.body)["data"]] == ["base", "lora"]
