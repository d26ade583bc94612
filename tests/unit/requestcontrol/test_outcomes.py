"""The director reports each request's outcome to passive health, blaming the right endpoint."""

from __future__ import annotations

from inference_gateway.datastore import Datastore
from inference_gateway.requestcontrol import Director
from tests.unit.requestcontrol.builders import (
    POOL_KEY,
    FakeClock,
    chat,
    make_director,
    make_store,
    model,
)

A, B = "127.0.0.11:8000", "127.0.0.12:8000"


def setup() -> tuple[Datastore, Director, FakeClock]:
    store = make_store(models=[model("llama")])
    clock = FakeClock()
    return store, make_director(store, clock=clock), clock


def failures(store: Datastore) -> dict[str, tuple[int, float]]:
    return {
        e.hostport: (e.consecutive_failures, e.last_failure_at) for e in store.endpoints(POOL_KEY)
    }


def serve(director: Director, status: int, served_by: str | None, error: str | None = None) -> str:
    routed = director.route_now(chat())
    routed.response_started(status, {}, served_by)
    routed.finish(error=error)
    return routed.endpoints[0]


def test_a_5xx_counts_against_the_endpoint_that_answered_it() -> None:
    store, director, clock = setup()
    clock.now = 1001.0
    picked = serve(director, 500, None)
    other = B if picked == A else A
    serve(director, 503, other)  # Envoy's reply for a refused connection names the upstream
    assert failures(store) == {picked: (1, 1001.0), other: (1, 1001.0)}
    assert store.in_flight(A) == store.in_flight(B) == 0


def test_a_completed_response_below_500_clears_the_record() -> None:
    store, director, _ = setup()
    serve(director, 502, A)
    serve(director, 502, A)
    assert store.failures(A) == 2
    serve(director, 429, A)
    assert store.failures(A) == 0


def test_a_stream_cut_short_after_a_good_status_blames_no_one() -> None:
    store, director, _ = setup()
    serve(director, 500, A)
    serve(director, 200, A, error="cancelled")
    assert store.failures(A) == 1
    serve(director, 500, A, error="cancelled")
    assert store.failures(A) == 2


def test_a_request_that_never_saw_a_response_blames_no_one() -> None:
    store, director, _ = setup()
    for _ in range(4):
        routed = director.route_now(chat())
        routed.finish(error="cancelled")
    assert store.failures(A) == store.failures(B) == 0
