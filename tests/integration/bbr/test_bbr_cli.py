"""``inference-gateway bbr`` as a user runs it: real gRPC in, clean exit on a signal."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

READY = r"BBR ready: ext_proc 127\.0\.0\.1:(\d+), health 127\.0\.0\.1:(\d+)"


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inference_gateway", "bbr", "--host", "127.0.0.1",
        "--grpc-port", "0", "--grpc-health-port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def ports(proc: asyncio.subprocess.Process) -> tuple[int, int]:
    assert proc.stderr is not None
    seen = []
    async with asyncio.timeout(20):
        while line := (await proc.stderr.readline()).decode():
            seen.append(line)
            if found := re.search(READY, line):
                return int(found[1]), int(found[2])
    raise AssertionError("".join(seen))


def messages(body: bytes) -> list[pb.ProcessingRequest]:
    path = base_pb2.HeaderValue(key=":path", raw_value=b"/v1/chat/completions")
    headers = pb.HttpHeaders(headers=base_pb2.HeaderMap(headers=[path]))
    return [
        pb.ProcessingRequest(request_headers=headers),
        pb.ProcessingRequest(request_body=pb.HttpBody(body=body, end_of_stream=True)),
    ]


def model_header(responses: list[pb.ProcessingResponse]) -> str | None:
    for response in responses:
        kind = response.WhichOneof("response")
        if kind in ("request_headers", "request_body"):
            common = getattr(response, kind).response
            for option in common.header_mutation.set_headers:
                if option.header.key.lower() == "x-gateway-model-name":
                    assert common.clear_route_cache
                    value: str = option.header.raw_value.decode()
                    return value
    return None


@pytest.mark.parametrize("mode", ["--streaming", "--buffered"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_bbr_command_answers_process_and_health_then_exits_cleanly(
    mode: str, sig: signal.Signals
) -> None:
    proc = await start(mode)
    try:
        port, health_port = await ports(proc)
        body = json.dumps({"model": "mistral-7b", "messages": []}).encode()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ExternalProcessorStub(channel)
            call = stub.Process(iter(messages(body)))
            responses = [r async for r in call]
        assert model_header(responses) == "mistral-7b"
        kinds = [r.WhichOneof("response") for r in responses]
        assert kinds == ["request_headers", "request_body"]
        if mode == "--streaming":
            streamed = responses[1].request_body.response.body_mutation.streamed_response
            assert streamed.body == body and streamed.end_of_stream
        else:
            assert not responses[0].request_headers.response.header_mutation.set_headers
        async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            service = "envoy.service.ext_proc.v3.ExternalProcessor"
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        if proc.returncode is None:
            proc.send_signal(sig)
        async with asyncio.timeout(20):
            _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert b"BBR stopping" in err


async def test_bbr_command_on_a_busy_port_fails_with_one_line() -> None:
    first = await start()
    try:
        port, _ = await ports(first)
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inference_gateway", "bbr", "--host", "127.0.0.1",
            "--grpc-port", str(port), "--grpc-health-port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(20):
            out, err = await second.communicate()
        assert second.returncode == 1
        assert "cannot start" in (out + err).decode()
        assert "Traceback" not in (out + err).decode()
    finally:
        first.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await first.communicate()
    assert first.returncode == 0
