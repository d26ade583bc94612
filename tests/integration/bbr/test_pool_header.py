"""The director honours the pool a BBR route chose (``x-gateway-inference-pool``)."""

from __future__ import annotations

import pytest

from inference_gateway.datastore import Datastore, ModelInfo, PodInfo, PoolInfo
from inference_gateway.requestcontrol import DirectorSettings, GatewayError
from inference_gateway.requestcontrol.director import POOL_HEADER
from tests.unit.requestcontrol.builders import NS, chat, make_director, make_store, model, raw

OTHER = "other"
OTHER_KEY = f"{NS}/{OTHER}"
HONOUR = DirectorSettings(pool_header=True)


def two_pools() -> Datastore:
    store = make_store(models=[model("llama")])
    store.upsert_pool(
        PoolInfo(name=OTHER, namespace=NS, selector={"app": "other"}, target_ports=(9000,))
    )
    store.upsert_pod(
        PodInfo(name="o-0", namespace=NS, address="127.0.0.31", labels={"app": "other"})
    )
    store.upsert_model(ModelInfo(name="mistral", namespace=NS, model_name="mistral", pool=OTHER))
    return store


def test_a_model_in_the_routed_pool_goes_to_that_pools_endpoints() -> None:
    director = make_director(two_pools(), settings=HONOUR)
    routed = director.route_now(chat("mistral", headers={POOL_HEADER: OTHER_KEY}))
    assert routed.pool == OTHER_KEY
    assert routed.endpoints == ("127.0.0.31:9000",)


def test_a_model_of_another_pool_is_404_not_rerouted() -> None:
    director = make_director(two_pools(), settings=HONOUR)
    with pytest.raises(GatewayError) as caught:
        director.route_now(chat("llama", headers={POOL_HEADER: OTHER_KEY}))
    assert caught.value.status == 404
    assert caught.value.code == "model_not_found"


def test_an_unknown_routed_pool_is_503() -> None:
    director = make_director(two_pools(), settings=HONOUR)
    with pytest.raises(GatewayError) as caught:
        director.route_now(chat("llama", headers={POOL_HEADER: f"{NS}/gone"}))
    assert caught.value.status == 503


def test_a_bodiless_request_uses_the_routed_pool() -> None:
    director = make_director(two_pools(), settings=HONOUR)
    routed = director.route_now(raw(b"", path="/v1/models", headers={POOL_HEADER: OTHER_KEY}))
    assert routed.endpoints == ("127.0.0.31:9000",)


def test_the_header_is_ignored_unless_enabled() -> None:
    director = make_director(two_pools())
    routed = director.route_now(chat("llama", headers={POOL_HEADER: OTHER_KEY}))
    assert routed.pool == f"{NS}/pool"
