"""The ext_proc server over a real gRPC stream on loopback, with a scripted director."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inference_gateway.extproc.messages import BODY_CHUNK_BYTES, DESTINATION_HEADER
from inference_gateway.extproc.server import EXT_PROC_SERVICE, ExtProcServer, ExtProcSettings, serve
from inference_gateway.requestcontrol.extensions import ImmediateAnswer
from inference_gateway.requestcontrol.types import GatewayError, IncomingRequest

ENDPOINT = "127.0.0.11:8000"


@dataclass(eq=False)
class ScriptedRouted:
    """A routed request whose response stages report to the director that made it."""

    director: ScriptedDirector
    body: bytes | None
    needs_response_body: bool
    request_id: str = "rid-1"
    model: str = "MODEL"
    target_model: str = "TARGET"
    endpoints: tuple[str, ...] = (ENDPOINT,)
    pool: str = ""
    criticality: str = "Standard"
    streaming: bool = False
    remove_headers: tuple[str, ...] = ()
    answer: ImmediateAnswer | None = None

    def response_started(
        self, status: int, headers: Mapping[str, str], served_by: str | None
    ) -> Mapping[str, str]:
        self.director.started.append((status, served_by))
        return {"x-served-model": self.model}

    def response_chunk(self, chunk: bytes, end_of_stream: bool) -> bytes:
        self.director.chunks.append((chunk, end_of_stream))
        return chunk.replace(b"TARGET", b"MODEL")

    def finish(self, *, error: str | None = None) -> None:
        self.director.finished.append(error)
        self.director.done.set()


@dataclass
class ScriptedDirector:
    """Routes everything to ENDPOINT; rewrites b"MODEL" to b"TARGET" and back."""

    fail_with: Exception | None = None
    needs_response_body: bool = True
    requests: list[IncomingRequest] = field(default_factory=list)
    started: list[tuple[int, str | None]] = field(default_factory=list)
    chunks: list[tuple[bytes, bool]] = field(default_factory=list)
    finished: list[str | None] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def route(self, request: IncomingRequest) -> ScriptedRouted:
        self.requests.append(request)
        if self.fail_with is not None:
            raise self.fail_with
        body = request.body.replace(b"MODEL", b"TARGET") if b"MODEL" in request.body else None
        return ScriptedRouted(self, body, self.needs_response_body)


@pytest.fixture
def director() -> ScriptedDirector:
    return ScriptedDirector()


@pytest.fixture(params=["inline", "grpcio"])
async def stub(
    director: ScriptedDirector, request: pytest.FixtureRequest
) -> AsyncIterator[pb_grpc.ExternalProcessorStub]:
    settings = ExtProcSettings(
        port=0, max_body_bytes=200_000, transport=request.param, inline_small_bodies=True
    )
    async with (
        ExtProcServer(director, settings) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield pb_grpc.ExternalProcessorStub(channel)


def headers(eos: bool = False, extra: dict[str, str] | None = None) -> pb.ProcessingRequest:
    values = {":method": "POST", ":path": "/v1/completions", **(extra or {})}
    hmap = base_pb2.HeaderMap(
        headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in values.items()]
    )
    return pb.ProcessingRequest(request_headers=pb.HttpHeaders(headers=hmap, end_of_stream=eos))


def body(data: bytes, eos: bool) -> pb.ProcessingRequest:
    return pb.ProcessingRequest(request_body=pb.HttpBody(body=data, end_of_stream=eos))


def response_headers(status: str, served: str | None = None) -> pb.ProcessingRequest:
    hmap = base_pb2.HeaderMap(
        headers=[base_pb2.HeaderValue(key=":status", raw_value=status.encode())]
    )
    req = pb.ProcessingRequest(response_headers=pb.HttpHeaders(headers=hmap))
    if served:
        lb = req.metadata_context.filter_metadata["envoy.lb"]
        lb.fields["x-gateway-destination-endpoint-served"].string_value = served
    return req


async def end(call: Any) -> None:
    """Half-close and read to the end, so the call's status is consumed (no pending task)."""
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


def set_headers(resp: pb.ProcessingResponse) -> dict[str, str]:
    mutation = resp.request_headers.response.header_mutation
    return {h.header.key: h.header.raw_value.decode() for h in mutation.set_headers}


async def test_small_body_rides_in_the_header_answer_sent_after_the_body(
    stub: pb_grpc.ExternalProcessorStub, director: ScriptedDirector
) -> None:
    call = stub.Process()
    payload = b'{"model": "MODEL", "prompt": "hi"}'
    await call.write(headers(extra={"content-length": str(len(payload))}))
    await call.write(body(payload[:10], eos=False))
    await call.write(body(payload[10:], eos=True))
    first = await call.read()
    assert first.WhichOneof("response") == "request_headers"
    assert director.requests[0].body == payload
    assert director.requests[0].headers[":path"] == "/v1/completions"
    common = first.request_headers.response
    assert common.clear_route_cache
    sent = set_headers(first)
    assert sent[DESTINATION_HEADER] == ENDPOINT
    forwarded = payload.replace(b"MODEL", b"TARGET")
    assert sent["content-length"] == str(len(forwarded))
    assert sent["x-request-id"] == "rid-1"
    lb = first.dynamic_metadata.fields["envoy.lb"].struct_value
    assert lb.fields[DESTINATION_HEADER].string_value == ENDPOINT
    assert common.status == pb.CommonResponse.CONTINUE_AND_REPLACE
    assert common.body_mutation.body == forwarded
    await end(call)


async def test_without_inlining_the_body_follows_the_header_answer(
    director: ScriptedDirector,
) -> None:
    settings = ExtProcSettings(port=0, inline_small_bodies=False)
    async with (
        ExtProcServer(director, settings) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        call = pb_grpc.ExternalProcessorStub(channel).Process()
        await call.write(headers())
        await call.write(body(b'{"model": "MODEL"}', eos=True))
        first = await call.read()
        assert first.request_headers.response.status == pb.CommonResponse.CONTINUE
        streamed = (await call.read()).request_body.response.body_mutation.streamed_response
        assert streamed.body == b'{"model": "TARGET"}' and streamed.end_of_stream
        await end(call)


async def test_big_bodies_go_back_in_62000_byte_chunks(
    stub: pb_grpc.ExternalProcessorStub,
) -> None:
    payload = b'{"model": "MODEL", "prompt": "' + b"x" * 150_000 + b'"}'
    call = stub.Process()
    await call.write(headers())
    for i in range(0, len(payload), 16384):
        await call.write(body(payload[i : i + 16384], eos=i + 16384 >= len(payload)))
    assert (await call.read()).WhichOneof("response") == "request_headers"
    parts = []
    for _ in range(3):
        streamed = (await call.read()).request_body.response.body_mutation.streamed_response
        assert len(streamed.body) <= BODY_CHUNK_BYTES
        parts.append(streamed)
    assert [p.end_of_stream for p in parts] == [False, False, True]
    assert b"".join(p.body for p in parts) == payload.replace(b"MODEL", b"TARGET")
    await end(call)


@pytest.mark.parametrize("declared", [True, False])
async def test_body_over_the_limit_is_413_as_soon_as_known(
    stub: pb_grpc.ExternalProcessorStub, director: ScriptedDirector, declared: bool
) -> None:
    call = stub.Process()
    extra = {"content-length": "300000"} if declared else {}
    await call.write(headers(extra=extra))
    if not declared:
        await call.write(body(b"x" * 150_000, eos=False))
        await call.write(body(b"x" * 150_000, eos=False))
    resp = await call.read()
    immediate = resp.immediate_response
    assert immediate.status.code == 413
    assert json.loads(immediate.body)["error"]["code"] == 413
    assert director.requests == []
    assert await call.read() == grpc.aio.EOF


async def test_gateway_error_becomes_an_openai_json_immediate_response(
    stub: pb_grpc.ExternalProcessorStub, director: ScriptedDirector
) -> None:
    director.fail_with = GatewayError(
        404, "no such model", code="model_not_found", reason="NotFound"
    )
    call = stub.Process()
    await call.write(headers())
    await call.write(body(b'{"model": "x"}', eos=True))
    immediate = (await call.read()).immediate_response
    assert immediate.status.code == 404
    got = {h.header.key: h.header.raw_value.decode() for h in immediate.headers.set_headers}
    assert got == {"content-type": "application/json", "x-gateway-error": "NotFound"}
    assert json.loads(immediate.body)["error"] == {
        "message": "no such model",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }
    assert director.finished == []


async def test_unexpected_director_failure_is_a_500_and_the_server_lives_on(
    stub: pb_grpc.ExternalProcessorStub, director: ScriptedDirector
) -> None:
    director.fail_with = RuntimeError("boom")
    call = stub.Process()
    await call.write(headers(eos=True))
    assert (await call.read()).immediate_response.status.code == 500
    director.fail_with = None
    call = stub.Process()
    await call.write(headers(eos=True))
    resp = await call.read()
    assert set_headers(resp)[DESTINATION_HEADER] == ENDPOINT
    assert "content-length" not in set_headers(resp)
    await end(call)


async def test_response_path_restores_and_finishes_once(
    stub: pb_grpc.ExternalProcessorStub, director: ScriptedDirector
) -> None:
    call = stub.Process()
    await call.write(headers(eos=True))
    await call.read()
    await call.write(response_headers("200", served=ENDPOINT))
    added = (await call.read()).response_headers.response.header_mutation.set_headers
    assert {h.header.key: h.header.raw_value for h in added} == {"x-served-model": b"MODEL"}
    assert director.started == [(200, ENDPOINT)]
    await call.write(pb.ProcessingRequest(response_body=pb.HttpBody(body=b'{"model":"TARGET"}')))
    changed = (await call.read()).response_body.response.body_mutation.body
    assert changed == b'{"model":"MODEL"}'
    await call.write(pb.ProcessingRequest(response_body=pb.HttpBody(body=b"", end_of_stream=True)))
    unchanged = await call.read()
    assert not unchanged.response_body.response.HasField("body_mutation")
    assert director.finished == [None]
    assert await call.read() == grpc.aio.EOF


async def test_response_not_needed_ends_the_stream_after_its_headers(
    stub: pb_grpc.ExternalProcessorStub, director: ScriptedDirector
) -> None:
    director.needs_response_body = False
    call = stub.Process()
    await call.write(headers(eos=True))
    await call.read()
    await call.write(response_headers("200"))
    assert (await call.read()).WhichOneof("response") == "response_headers"
    assert await call.read() == grpc.aio.EOF
    assert director.finished == [None]


async def test_a_cancelled_stream_still_finishes_the_request_once(
    stub: pb_grpc.ExternalProcessorStub, director: ScriptedDirector
) -> None:
    call = stub.Process()
    await call.write(headers(eos=True))
    await call.read()
    call.cancel()
    async with asyncio.timeout(5):
        await director.done.wait()
    assert len(director.finished) == 1
    assert director.finished[0] is not None


async def test_subset_hint_reaches_the_director(
    stub: pb_grpc.ExternalProcessorStub, director: ScriptedDirector
) -> None:
    req = headers(eos=True)
    hint = req.metadata_context.filter_metadata["envoy.lb.subset_hint"]
    hint.fields[
        "x-gateway-destination-endpoint-subset"
    ].list_value.values.add().string_value = "10.0.0.1:8000"
    call = stub.Process()
    await call.write(req)
    await call.read()
    assert director.requests[0].subset_hint == ("10.0.0.1:8000",)
    await end(call)


async def test_request_trailers_route_and_are_answered_last(
    stub: pb_grpc.ExternalProcessorStub, director: ScriptedDirector
) -> None:
    call = stub.Process()
    await call.write(headers())
    await call.write(body(b'{"model": "MODEL"}', eos=False))
    await call.write(pb.ProcessingRequest(request_trailers=pb.HttpTrailers()))
    kinds = [(await call.read()).WhichOneof("response") for _ in range(3)]
    assert kinds == ["request_headers", "request_body", "request_trailers"]
    await end(call)


@pytest.mark.parametrize("transport", ["inline", "grpcio"])
async def test_health_reports_serving_on_the_separate_port(
    director: ScriptedDirector, transport: Literal["inline", "grpcio"]
) -> None:
    settings = ExtProcSettings(port=0, health_port=0, transport=transport)
    async with ExtProcServer(director, settings) as server:
        assert server.health_port
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")
            assert (
                await health.Check(request)
            ).status == health_pb2.HealthCheckResponse.NOT_SERVING
            await server.set_serving(True)
            assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.SERVING


async def test_serve_is_ready_then_stops_when_asked(director: ScriptedDirector) -> None:
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(director, ExtProcSettings(port=0), ready=ready, stop=stop))
    async with asyncio.timeout(5):
        await ready.wait()
    assert not task.done()
    stop.set()
    async with asyncio.timeout(5):
        await task


async def test_stop_lets_an_open_stream_finish_within_the_grace(
    director: ScriptedDirector,
) -> None:
    server = ExtProcServer(director, ExtProcSettings(port=0, grace_seconds=5))
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = pb_grpc.ExternalProcessorStub(channel).Process()
        await call.write(headers(eos=True))
        await call.read()
        stopping = asyncio.create_task(server.stop())
        await call.write(response_headers("200"))
        assert (await call.read()).WhichOneof("response") == "response_headers"
        await end(call)
        async with asyncio.timeout(5):
            await stopping
    assert director.finished == ["incomplete"]


@pytest.mark.parametrize("transport", ["inline", "grpcio"])
async def test_restart_serves_again_on_the_ports_first_bound(
    director: ScriptedDirector, transport: Literal["inline", "grpcio"]
) -> None:
    settings = ExtProcSettings(port=0, health_port=0, transport=transport)
    server = ExtProcServer(director, settings)
    await server.start()
    ports = (server.port, server.health_port)
    await server.stop(0)
    await server.start()
    try:
        assert (server.port, server.health_port) == ports
        await server.set_serving(True)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")
            assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.SERVING
            call = pb_grpc.ExternalProcessorStub(channel).Process()
            await call.write(headers(eos=True))
            assert (await call.read()).WhichOneof("response") == "request_headers"
            await end(call)
    finally:
        await server.stop(0)


@pytest.mark.parametrize("transport", ["inline", "grpcio"])
async def test_graceful_stop_says_not_serving_and_still_takes_streams_for_an_interval(
    director: ScriptedDirector, transport: Literal["inline", "grpcio"]
) -> None:
    settings = ExtProcSettings(port=0, transport=transport, health_interval_seconds=0.5)
    server = ExtProcServer(director, settings)
    await server.start()
    await server.set_serving(True)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=EXT_PROC_SERVICE)
        assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(server.stop(grace=2))
        assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.NOT_SERVING
        call = pb_grpc.ExternalProcessorStub(channel).Process()
        await call.write(headers(eos=True))
        assert (await call.read()).WhichOneof("response") == "request_headers"
        assert not stopping.done()
        await end(call)
        async with asyncio.timeout(5):
            await stopping


async def test_graceful_stop_without_a_health_checker_does_not_wait_an_interval(
    director: ScriptedDirector,
) -> None:
    server = ExtProcServer(director, ExtProcSettings(port=0, health_interval_seconds=3600))
    await server.start()
    async with asyncio.timeout(5):
        await server.stop(grace=5)
