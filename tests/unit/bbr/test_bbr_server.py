"""The BBR servicer over a real gRPC channel on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference_gateway.bbr import BodyBasedRouter, serve_bbr
from inference_gateway.bbr.server import BODY_CHUNK_LIMIT, MODEL_HEADER


@pytest.fixture
async def stub(request: pytest.FixtureRequest) -> AsyncIterator[pb_grpc.ExternalProcessorStub]:
    streaming = getattr(request, "param", True)
    ready, stop = asyncio.Event(), asyncio.Event()
    bound: list[int] = []
    task = asyncio.create_task(
        serve_bbr("127.0.0.1", 0, streaming=streaming, ready=ready, stop=stop, bound=bound)
    )
    await asyncio.wait_for(ready.wait(), 5)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{bound[0]}") as channel:
        yield pb_grpc.ExternalProcessorStub(channel)
    stop.set()
    await task


def _messages(body: bytes, chunk: int = 1000) -> list[pb.ProcessingRequest]:
    headers = pb.HttpHeaders(
        headers=base_pb2.HeaderMap(
            headers=[base_pb2.HeaderValue(key=":path", raw_value=b"/v1/completions")]
        )
    )
    out = [pb.ProcessingRequest(request_headers=headers)]
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    for i, piece in enumerate(pieces):
        out.append(
            pb.ProcessingRequest(
                request_body=pb.HttpBody(body=piece, end_of_stream=i == len(pieces) - 1)
            )
        )
    return out


async def _exchange(
    stub: pb_grpc.ExternalProcessorStub, body: bytes
) -> list[pb.ProcessingResponse]:
    async def requests() -> AsyncIterator[pb.ProcessingRequest]:
        for message in _messages(body):
            yield message

    return [r async for r in stub.Process(requests())]


def _set_headers(response: pb.CommonResponse) -> dict[str, str]:
    return {h.header.key: h.header.raw_value.decode() for h in response.header_mutation.set_headers}


async def test_streaming_sets_header_and_echoes_the_body_in_chunks(
    stub: pb_grpc.ExternalProcessorStub,
) -> None:
    body = json.dumps({"model": "llama", "prompt": "x" * 150_000}).encode()
    responses = await _exchange(stub, body)
    first = responses[0]
    assert first.WhichOneof("response") == "request_headers"
    assert _set_headers(first.request_headers.response) == {MODEL_HEADER: "llama"}
    assert first.request_headers.response.clear_route_cache
    chunks = [r.request_body.response.body_mutation.streamed_response for r in responses[1:]]
    assert all(len(c.body) <= BODY_CHUNK_LIMIT for c in chunks)
    assert b"".join(c.body for c in chunks) == body
    assert [c.end_of_stream for c in chunks] == [False] * (len(chunks) - 1) + [True]


async def test_body_without_model_passes_through(stub: pb_grpc.ExternalProcessorStub) -> None:
    responses = await _exchange(stub, b'{"prompt": "hi"}')
    assert _set_headers(responses[0].request_headers.response) == {}
    assert responses[-1].request_body.response.body_mutation.streamed_response.body == (
        b'{"prompt": "hi"}'
    )


async def test_invalid_json_is_refused_with_an_openai_error(
    stub: pb_grpc.ExternalProcessorStub,
) -> None:
    responses = await _exchange(stub, b"{not json")
    assert len(responses) == 1
    immediate = responses[0].immediate_response
    assert immediate.status.code == 400
    assert json.loads(immediate.body)["error"]["type"] == "BadRequestError"


@pytest.mark.parametrize("stub", [False], indirect=True)
async def test_buffered_mode_puts_the_header_on_the_body_answer(
    stub: pb_grpc.ExternalProcessorStub,
) -> None:
    responses = await _exchange(stub, b'{"model": "m2"}')
    kinds = [r.WhichOneof("response") for r in responses]
    assert kinds == ["request_headers", "request_body"]
    assert _set_headers(responses[1].request_body.response) == {MODEL_HEADER: "m2"}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_any_body_is_classified_without_raising(body: bytes) -> None:
    router = BodyBasedRouter()
    model, refusal = router._classify(body)
    assert (model is None) or isinstance(model, str)
    assert refusal is None or refusal.immediate_response.status.code == 400
