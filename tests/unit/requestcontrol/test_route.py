"""Director.route: model resolution, criticality, candidates and every error status."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest

from inference_gateway.datastore import Endpoint, Metrics
from inference_gateway.requestcontrol import DirectorSettings, GatewayError, IncomingRequest
from inference_gateway.scheduling.types import (
    Decision,
    LLMRequest,
    NoCapacityError,
    NoEndpointsError,
)
from tests.unit.requestcontrol.builders import (
    POOL_KEY,
    FakeClock,
    chat,
    make_director,
    make_store,
    model,
    objective,
    raw,
    rewrite,
)


class Recording:
    """A scheduler that remembers what it was asked and picks the first candidate."""

    def __init__(self) -> None:
        self.requests: list[LLMRequest] = []
        self.candidates: list[list[str]] = []

    def schedule(self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float) -> Decision:
        self.requests.append(request)
        self.candidates.append([e.hostport for e in endpoints])
        return Decision(endpoints=tuple(endpoints[:2]), explanation={"why": "first"})


class Raising:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def schedule(self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float) -> Decision:
        raise self.exc


def route_error(director: object, request: IncomingRequest) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        director.route_now(request)  # type: ignore[attr-defined]
    return info.value


def test_routes_known_model_to_least_loaded_and_acquires() -> None:
    store = make_store(models=[model("llama")])
    store.acquire("127.0.0.11:8000")
    routed = make_director(store).route_now(chat("llama"))
    assert routed.endpoints == ("127.0.0.12:8000",)
    assert (routed.model, routed.target_model, routed.pool) == ("llama", "llama", POOL_KEY)
    assert routed.body is None
    assert routed.criticality == "Standard"
    assert store.in_flight("127.0.0.12:8000") == 1


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        (raw(b"{oops"), 400, "invalid_json"),
        (raw(b'{"messages": [{"role": "user"}]}'), 400, "missing_model"),
        (raw(b'{"model": "llama"}'), 400, "invalid_body"),
        (raw(b'{"model": "llama"}', path="/v1/completions"), 400, "invalid_body"),
        (chat("nope"), 404, "model_not_found"),
    ],
)
def test_client_errors(request_: IncomingRequest, status: int, code: str) -> None:
    store = make_store(models=[model("llama")])
    err = route_error(make_director(store), request_)
    assert (err.status, err.code) == (status, code)
    assert store.in_flight("127.0.0.11:8000") == store.in_flight("127.0.0.12:8000") == 0


def test_unknown_model_message() -> None:
    err = route_error(make_director(make_store()), chat("gpt-9"))
    assert err.message == "The model `gpt-9` does not exist."
    assert err.reason == "NotFound"


def test_no_ready_endpoint_is_503() -> None:
    err = route_error(make_director(make_store(pods=0, models=[model("llama")])), chat("llama"))
    assert (err.status, err.reason) == (503, "ServiceUnavailable")
    assert err.message == "no ready endpoints for model llama"


def test_model_whose_pool_is_missing_is_503() -> None:
    store = make_store(models=[model("llama")])
    store.delete_pool(POOL_KEY)
    assert route_error(make_director(store), chat("llama")).status == 503


@pytest.mark.parametrize(
    ("hint", "allowed"),
    [
        (["127.0.0.12:9999"], ["127.0.0.12:8000"]),
        (["127.0.0.11:8000", "127.0.0.12:8000"], ["127.0.0.11:8000", "127.0.0.12:8000"]),
        (["127.0.0.12"], ["127.0.0.12:8000"]),
    ],
)
def test_subset_hint_matches_by_ip(hint: list[str], allowed: list[str]) -> None:
    scheduler = Recording()
    director = make_director(make_store(models=[model("llama")]), scheduler=scheduler)
    director.route_now(chat("llama", subset=hint))
    assert scheduler.candidates == [allowed]


@pytest.mark.parametrize("hint", [[], ["10.9.9.9:8000"], ["[::1]:8000"]])
def test_empty_or_foreign_subset_is_503(hint: list[str]) -> None:
    err = route_error(
        make_director(make_store(models=[model("llama")])), chat("llama", subset=hint)
    )
    assert err.status == 503


def test_subset_filter_can_be_disabled() -> None:
    director = make_director(
        make_store(models=[model("llama")]), settings=DirectorSettings(subset_filter=False)
    )
    assert director.route_now(chat("llama", subset=[])).endpoints


def test_ipv6_subset_hint() -> None:
    from inference_gateway.requestcontrol.resolve import host_of

    assert host_of("[fd00::1]:8000") == "fd00::1"
    assert host_of("fd00::1") == "fd00::1"
    assert host_of("10.0.0.1:80") == "10.0.0.1"


@pytest.mark.parametrize(
    ("exc", "status", "reason"),
    [
        (NoCapacityError("full"), 429, "ResourceExhausted"),
        (NoEndpointsError("none"), 503, "ServiceUnavailable"),
        (RuntimeError("bug"), 500, "Internal"),
        (KeyError("bug"), 500, "Internal"),
    ],
)
def test_scheduler_failures_map_to_status(
    exc: Exception, status: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store(models=[model("llama")])
    err = route_error(make_director(store, scheduler=Raising(exc)), chat("llama"))
    assert (err.status, err.reason) == (status, reason)
    assert store.in_flight("127.0.0.11:8000") == 0
    if status == 500:
        assert err.__cause__ is exc
        assert any(r.exc_info for r in caplog.records)


def test_empty_decision_is_500() -> None:
    class Empty:
        def schedule(
            self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float
        ) -> Decision:
            return Decision(endpoints=())

    err = route_error(
        make_director(make_store(models=[model("llama")]), scheduler=Empty()), chat("llama")
    )
    assert err.status == 500


def test_sheddable_is_shed_by_admission_when_saturated() -> None:
    from inference_gateway.scheduling.saturation import SaturationDetector

    store = make_store(
        models=[
            model("batch", criticality="Sheddable"),
            model("chat", criticality="Critical"),
            model("std"),
        ]
    )
    for hostport in ("127.0.0.11:8000", "127.0.0.12:8000"):
        store.set_metrics(hostport, Metrics(waiting=50, kv_usage=0.99, updated_at=1000.0))
    director = make_director(store, admission=SaturationDetector())
    err = route_error(director, chat("batch"))
    assert (err.status, err.code, err.reason) == (429, "rate_limit_exceeded", "ResourceExhausted")
    assert director.route_now(chat("chat")).criticality == "Critical"
    assert director.route_now(chat("std")).criticality == "Standard"


def test_refusals_are_logged_with_their_reason_once_per_period_and_never_told_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from inference_gateway.scheduling.saturation import SaturationDetector

    clock = FakeClock()
    store = make_store(models=[model("batch", criticality="Sheddable")])
    store.set_metrics("127.0.0.11:8000", Metrics(waiting=50, updated_at=clock.now))
    store.set_metrics("127.0.0.12:8000", Metrics(updated_at=clock.now - 0.5))
    director = make_director(store, clock=clock, admission=SaturationDetector())
    caplog.set_level("WARNING", "inference_gateway.requestcontrol.capacity")
    for step in (0.0, 1.0, 1.0, 10.0):
        clock.now += step
        err = route_error(director, chat("batch"))
        assert err.message == "dropping request due to limited backend resources"
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "refusing Sheddable requests, the pool is saturated: 2 endpoints: 1 with metrics "
        "older than 200 ms (the freshest of them 500 ms old), 1 with more than 5 waiting, "
        "0 with KV use over 0.8",
        "refusing Sheddable requests, the pool is saturated: 2 endpoints: 2 with metrics "
        "older than 200 ms (the freshest of them 12000 ms old), 0 with more than 5 waiting, "
        "0 with KV use over 0.8 (and 2 more since the last such line)",
    ]


@pytest.mark.parametrize(
    ("model_crit", "objective_name", "expected"),
    [
        (None, None, "Standard"),
        ("Sheddable", None, "Sheddable"),
        ("Sheddable", "vip", "Critical"),
        ("Critical", "bulk", "Sheddable"),
        ("Critical", "normal", "Standard"),
        ("Critical", "unknown-objective", "Critical"),
    ],
)
def test_criticality_from_model_and_objective_header(
    model_crit: str | None, objective_name: str | None, expected: str
) -> None:
    store = make_store(models=[model("llama", criticality=model_crit)])
    for name, prio in (("vip", 10), ("bulk", -1), ("normal", 0)):
        store.upsert_objective(objective(name, prio))
    scheduler = Recording()
    headers = {"x-gateway-inference-objective": objective_name} if objective_name else {}
    routed = make_director(store, scheduler=scheduler).route_now(chat("llama", headers=headers))
    assert routed.criticality == expected
    assert scheduler.requests[0].criticality.value == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-llm-d-inference-objective": "bulk"}, "Sheddable"),
        # llm-d's router reads its own name first and keeps upstream's as an alias.
        (
            {"x-llm-d-inference-objective": "vip", "x-gateway-inference-objective": "bulk"},
            "Critical",
        ),
        ({"x-llm-d-inference-objective": "", "x-gateway-inference-objective": "bulk"}, "Sheddable"),
    ],
)
def test_llm_d_names_the_objective_too(headers: dict[str, str], expected: str) -> None:
    store = make_store(models=[model("llama")])
    for name, prio in (("vip", 10), ("bulk", -1)):
        store.upsert_objective(objective(name, prio))
    routed = make_director(store).route_now(chat("llama", headers=headers))
    assert routed.criticality == expected


def test_objective_is_looked_up_in_the_pool_namespace() -> None:
    from inference_gateway.datastore import ObjectiveInfo

    store = make_store(models=[model("llama")])
    store.upsert_objective(ObjectiveInfo(name="vip", namespace="other", pool="pool", priority=5))
    routed = make_director(store).route_now(
        chat("llama", headers={"x-gateway-inference-objective": "vip"})
    )
    assert routed.criticality == "Standard"


def test_default_criticality_setting() -> None:
    director = make_director(
        make_store(models=[model("llama")]),
        settings=DirectorSettings(default_criticality="Sheddable"),
    )
    assert director.route_now(chat("llama")).criticality == "Sheddable"


def test_scheduler_sees_prompt_request_id_and_headers() -> None:
    scheduler = Recording()
    director = make_director(make_store(models=[model("llama")]), scheduler=scheduler)
    routed = director.route_now(chat("llama", headers={"x-request-id": "abc"}))
    req = scheduler.requests[0]
    assert routed.request_id == req.request_id == "abc"
    assert req.prompt == '[{"role":"user","content":"hi"}]'
    assert req.headers["x-request-id"] == "abc"
    assert routed.endpoints == ("127.0.0.11:8000", "127.0.0.12:8000")


def test_generated_request_ids_are_unique_uuids_and_leave_the_rng_alone() -> None:
    import uuid

    director = make_director(make_store(models=[model("llama")]), seed=1)
    ids = {director.route_now(chat("llama")).request_id for _ in range(50)}
    assert len(ids) == 50
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert director.rng.random() == random.Random(1).random()


# --- target model and body rewrite ---------------------------------------------------------


def test_single_target_rewrites_body_and_keeps_the_rest() -> None:
    store = make_store(models=[model("llama", targets=[("llama-lora-a", None)])])
    request = chat("llama", temperature=0.5, stream=True)
    routed = make_director(store).route_now(request)
    assert routed.target_model == "llama-lora-a"
    assert routed.streaming is True
    assert routed.body is not None
    decoded = json.loads(routed.body)
    assert decoded == {**json.loads(request.body), "model": "llama-lora-a"}
    assert routed.body == json.dumps(decoded, separators=(",", ":"), ensure_ascii=False).encode()


def test_body_rewrite_is_utf8_and_length_is_its_byte_length() -> None:
    store = make_store(models=[model("m", targets=[("m-ü", None)])])
    routed = make_director(store).route_now(chat("m", user="😀"))
    assert routed.body is not None
    assert "😀".encode() in routed.body
    assert b'"model":"m-\xc3\xbc"' in routed.body
    assert len(routed.body) == len(routed.body.decode("utf-8").encode("utf-8"))


def test_weighted_split_90_10() -> None:
    store = make_store(models=[model("llama", targets=[("a", 90), ("b", 10)])])
    director = make_director(store, seed=1234)
    counts = {"a": 0, "b": 0}
    for _ in range(10_000):
        routed = director.route_now(chat("llama"))
        routed.finish()
        counts[routed.target_model] += 1
    assert 8800 <= counts["a"] <= 9200
    assert counts["a"] + counts["b"] == 10_000


def test_unweighted_targets_are_uniform() -> None:
    from inference_gateway.datastore import TargetModel
    from inference_gateway.requestcontrol.resolve import weighted_target

    rng = random.Random(5)
    targets = (TargetModel("a"), TargetModel("b"), TargetModel("c"))
    draws = [weighted_target(targets, rng) for _ in range(3000)]
    assert all(900 <= draws.count(n) <= 1100 for n in "abc")


def test_header_overrides_target() -> None:
    store = make_store(models=[model("llama", targets=[("a", None)])])
    routed = make_director(store).route_now(
        chat("llama", headers={"x-gateway-model-name-rewrite": "z"})
    )
    assert routed.target_model == "z"
    assert routed.body is not None and json.loads(routed.body)["model"] == "z"


def test_rewrite_precedence_exact_beats_match_all_then_oldest_then_first() -> None:
    store = make_store(models=[model("llama", targets=[("a", None)]), model("other")])
    store.upsert_rewrite(rewrite("old-all", [([], [("from-match-all", 1)])], created=1.0))
    store.upsert_rewrite(rewrite("new-exact", [(["llama"], [("new-exact", 1)])], created=3.0))
    store.upsert_rewrite(
        rewrite(
            "mid-exact",
            [
                (["x"], [("no", 1)]),
                (["llama"], [("mid-first", 1)]),
                (["llama"], [("mid-second", 1)]),
            ],
            created=2.0,
        )
    )
    director = make_director(store)
    assert director.route_now(chat("llama")).target_model == "mid-first"
    assert director.route_now(chat("other")).target_model == "from-match-all"
    routed = director.route_now(chat("other", headers={"x-gateway-model-name-rewrite": "h"}))
    assert routed.target_model == "from-match-all"


def test_rewrite_weights() -> None:
    store = make_store(models=[model("llama")])
    store.upsert_rewrite(rewrite("r", [(["llama"], [("a", 3), ("b", 1)])], created=1.0))
    director = make_director(store, seed=3)
    draws = []
    for _ in range(4000):
        routed = director.route_now(chat("llama"))
        routed.finish()
        draws.append(routed.target_model)
    assert 2800 <= draws.count("a") <= 3200


def test_v1_pool_without_models_passes_the_model_through() -> None:
    store = make_store(api_version="v1")
    routed = make_director(store).route_now(chat("anything-goes"))
    assert (routed.target_model, routed.body, routed.pool) == ("anything-goes", None, POOL_KEY)


def test_v1_pool_with_models_still_404s_unknown() -> None:
    store = make_store(api_version="v1", models=[model("llama")])
    assert route_error(make_director(store), chat("nope")).status == 404


def test_other_api_paths_route_by_model_alone() -> None:
    routed = make_director(make_store(models=[model("e5")])).route_now(
        raw(b'{"model": "e5", "input": ["a"]}', path="/v1/embeddings")
    )
    assert routed.endpoints


def test_debug_header_carries_the_explanation() -> None:
    director = make_director(make_store(models=[model("llama")]))
    routed = director.route_now(chat("llama", headers={"x-gateway-debug": "true"}))
    text = routed.extra_headers["x-gateway-debug"]
    assert "pick=pod-0" in text
    assert text.isascii()
    assert "x-gateway-debug" not in director.route_now(chat("llama")).extra_headers


def test_debug_header_can_be_disabled() -> None:
    director = make_director(
        make_store(models=[model("llama")]), settings=DirectorSettings(debug_header=False)
    )
    assert not director.route_now(chat("llama", headers={"x-gateway-debug": "true"})).extra_headers


def test_needs_response_body() -> None:
    store = make_store(models=[model("llama"), model("lora", targets=[("adapter", None)])])
    lean = make_director(store, settings=DirectorSettings(account_usage=False))
    assert lean.route_now(chat("llama")).needs_response_body is False
    assert lean.route_now(chat("lora")).needs_response_body is True
    assert make_director(store).route_now(chat("llama")).needs_response_body is True


def test_bodiless_request_goes_to_any_ready_endpoint_unmetered() -> None:
    from inference_gateway.observability import EppMetrics

    store = make_store(models=[model("llama")])
    metrics = EppMetrics()
    director = make_director(store, metrics=metrics)
    seen = set()
    for _ in range(40):
        routed = director.route_now(
            IncomingRequest(headers={":path": "/health", ":method": "GET"}, body=b"")
        )
        assert routed.body is None and routed.needs_response_body is False
        assert store.in_flight(routed.endpoints[0]) == 1
        routed.response_started(200, {}, None)
        routed.finish()
        assert store.in_flight(routed.endpoints[0]) == 0
        seen.add(routed.endpoints[0])
    assert seen == {"127.0.0.11:8000", "127.0.0.12:8000"}
    assert b"inference_model_request_total{" not in metrics.render()


def test_bodiless_request_avoids_an_endpoint_on_a_failing_streak() -> None:
    store = make_store(models=[model("llama")])
    director = make_director(store)
    models = IncomingRequest(headers={":path": "/health", ":method": "GET"}, body=b"")
    for _ in range(3):
        store.record_outcome("127.0.0.11:8000", ok=False, now=1.0)
    picked = set()
    for _ in range(30):
        routed = director.route_now(models)
        routed.finish()
        picked.add(routed.endpoints[0])
    assert picked == {"127.0.0.12:8000"}
    for _ in range(3):
        store.record_outcome("127.0.0.12:8000", ok=False, now=2.0)
    both = {director.route_now(models).endpoints[0] for _ in range(30)}
    assert both == {"127.0.0.11:8000", "127.0.0.12:8000"}  # all failing: nobody is skipped


def test_bodiless_request_without_endpoints_is_503() -> None:
    err = route_error(make_director(make_store(pods=0)), raw(b"", path="/health"))
    assert err.status == 503
