"""ext_proc message order is enforced per stream: a peer that breaks it routes nothing twice
and leaves no in-flight slot behind."""

from __future__ import annotations

import json

from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from inference_gateway.datastore import Datastore
from inference_gateway.extproc.handler import Stream
from tests.unit.extproc.test_server import body, headers
from tests.unit.requestcontrol.builders import make_director, make_store, model


def setup() -> tuple[Stream, Datastore]:
    store = make_store(models=[model("llama")])
    return Stream(make_director(store), max_body_bytes=10_000), store


def in_flight(store: Datastore) -> int:
    return sum(store.in_flight(e.hostport) for e in store.all_endpoints())


REQUEST = json.dumps({"model": "llama", "prompt": "hi"}).encode()


def test_a_second_request_headers_after_routing_ends_the_stream_and_releases() -> None:
    s, store = setup()
    s.on_message(headers())
    (routed,) = s.on_message(body(REQUEST, eos=True))
    assert routed.HasField("request_headers") and in_flight(store) == 1
    assert s.on_message(headers()) == []
    assert s.done and s.state.protocol_error is not None
    assert in_flight(store) == 0
    s.on_message(body(REQUEST, eos=True))
    assert in_flight(store) == 0


def test_repeated_bodiless_request_headers_route_once() -> None:
    s, store = setup()
    (first,) = s.on_message(headers(eos=True))
    assert first.HasField("request_headers") and in_flight(store) == 1
    for _ in range(10):
        assert s.on_message(headers(eos=True)) == []
    assert in_flight(store) == 0
    s.close(error="stream_closed")
    assert in_flight(store) == 0


def test_a_body_before_the_headers_is_a_protocol_error() -> None:
    s, store = setup()
    assert s.on_message(body(REQUEST, eos=True)) == []
    assert s.done and s.state.protocol_error == "request_body before request_headers"
    assert in_flight(store) == 0


def test_headers_twice_while_the_body_streams_is_refused() -> None:
    s, store = setup()
    s.on_message(headers())
    s.on_message(body(REQUEST[:5], eos=False))
    assert s.on_message(headers()) == []
    assert s.done and in_flight(store) == 0
    assert (
        s.on_message(
            pb.ProcessingRequest(request_body=pb.HttpBody(body=REQUEST[5:], end_of_stream=True))
        )
        == []
    )
    assert in_flight(store) == 0


def test_the_fairness_header_is_not_forwarded_to_the_pod() -> None:
    s, _ = setup()
    s.on_message(headers(extra={"x-gateway-inference-fairness-id": "team-a"}))
    (routed,) = s.on_message(body(REQUEST, eos=True))
    mutation = routed.request_headers.response.header_mutation
    assert list(mutation.remove_headers) == ["x-gateway-inference-fairness-id"]
    llm_d, _ = setup()
    llm_d.on_message(headers(extra={"x-llm-d-inference-fairness-id": "team-a"}))
    (routed,) = llm_d.on_message(body(REQUEST, eos=True))
    mutation = routed.request_headers.response.header_mutation
    assert list(mutation.remove_headers) == ["x-llm-d-inference-fairness-id"]
    plain, _ = setup()
    plain.on_message(headers())
    (other,) = plain.on_message(body(REQUEST, eos=True))
    assert not other.request_headers.response.header_mutation.remove_headers
