"""The BBR ext_proc servicer (upstream ``pkg/bbr``), streaming and buffered modes.

Streaming (FULL_DUPLEX_STREAMED request body): the request-headers answer must carry the new
header, so it waits for the whole body, then the body is echoed back in chunks of at most
62,000 bytes. Buffered (BUFFERED): Envoy sends the body in one message and the header
mutation rides on the body answer. A body without ``model`` passes through untouched; a body
that is not JSON is refused with 400 in the OpenAI error format.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from envoy.type.v3 import http_status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

log = logging.getLogger(__name__)

MODEL_HEADER = "X-Gateway-Model-Name"
JSON = "application/json"
EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
BODY_CHUNK_LIMIT = 62_000
"""Envoy refuses streamed body mutations much above 64 KiB; upstream uses 62,000 bytes."""


@dataclass
class BbrStats:
    """Counters named after upstream's ``bbr_*_total`` metrics."""

    success: int = 0
    model_not_in_body: int = 0
    model_not_parsed: int = 0


def _model_of(body: bytes) -> str | None:
    """The body's string ``model``; None when absent. Raises ValueError when not JSON."""
    if not body:
        return None
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("request body is not a JSON object")
    model = doc.get("model")
    return model if isinstance(model, str) and model else None


def _set_header(name: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=name, raw_value=value.encode()),
        append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def _common(model: str | None) -> pb.CommonResponse:
    if model is None:
        return pb.CommonResponse()
    return pb.CommonResponse(
        header_mutation=pb.HeaderMutation(set_headers=[_set_header(MODEL_HEADER, model)]),
        clear_route_cache=True,
    )


def _bad_request(message: str) -> pb.ProcessingResponse:
    body = json.dumps(
        {"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}}
    ).encode()
    return pb.ProcessingResponse(
        immediate_response=pb.ImmediateResponse(
            status=http_status_pb2.HttpStatus(code=http_status_pb2.BadRequest),
            headers=pb.HeaderMutation(
                set_headers=[_set_header("content-type", "application/json")]
            ),
            body=body,
        )
    )


def _echo_body(body: bytes) -> Iterator[pb.ProcessingResponse]:
    view = memoryview(body)
    last = max(len(body) - 1, 0) // BODY_CHUNK_LIMIT
    for index in range(last + 1):
        piece = bytes(view[index * BODY_CHUNK_LIMIT : (index + 1) * BODY_CHUNK_LIMIT])
        streamed = pb.StreamedBodyResponse(body=piece, end_of_stream=index == last)
        yield pb.ProcessingResponse(
            request_body=pb.BodyResponse(
                response=pb.CommonResponse(
                    body_mutation=pb.BodyMutation(streamed_response=streamed)
                )
            )
        )


class BodyBasedRouter(pb_grpc.ExternalProcessorServicer):  # type: ignore[misc]
    def __init__(self, *, streaming: bool = True) -> None:
        self.streaming = streaming
        self.stats = BbrStats()

    def _classify(self, body: bytes) -> tuple[str | None, pb.ProcessingResponse | None]:
        try:
            model = _model_of(body)
        except (ValueError, UnicodeDecodeError):
            self.stats.model_not_parsed += 1
            return None, _bad_request("request body is not valid JSON")
        if model is None:
            self.stats.model_not_in_body += 1
        else:
            self.stats.success += 1
        return model, None

    async def Process(
        self,
        request_iterator: AsyncIterator[pb.ProcessingRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.ProcessingResponse]:
        body = bytearray()
        async for message in request_iterator:
            kind = message.WhichOneof("request")
            if kind == "request_headers":
                if message.request_headers.end_of_stream or not self.streaming:
                    yield pb.ProcessingResponse(request_headers=pb.HeadersResponse())
            elif kind == "request_body":
                body += message.request_body.body
                if not message.request_body.end_of_stream:
                    continue
                model, refusal = self._classify(bytes(body))
                if refusal is not None:
                    yield refusal
                    return
                if self.streaming:
                    yield pb.ProcessingResponse(
                        request_headers=pb.HeadersResponse(response=_common(model))
                    )
                    for chunk in _echo_body(bytes(body)):
                        yield chunk
                else:
                    yield pb.ProcessingResponse(
                        request_body=pb.BodyResponse(response=_common(model))
                    )
            elif kind == "request_trailers":
                yield pb.ProcessingResponse(request_trailers=pb.TrailersResponse())
            elif kind == "response_headers":
                yield pb.ProcessingResponse(response_headers=pb.HeadersResponse())
            elif kind == "response_body":
                yield pb.ProcessingResponse(response_body=pb.BodyResponse())
            elif kind == "response_trailers":
                yield pb.ProcessingResponse(response_trailers=pb.TrailersResponse())


# Bodies arrive in Envoy-sized chunks; 64 MiB only bounds a misbehaving peer. SO_REUSEPORT
# off so a second router on the same port fails loudly instead of sharing it.
_GRPC_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
]


class BbrServer:
    """The router as a gRPC server: ``async with BbrServer(...) as bbr: bbr.port``.

    Health (``grpc.health.v1``) answers on the main port and, when ``health_port`` is set,
    on a port of its own (upstream's chart: 9004 for ext_proc, 9005 for health), SERVING for
    ``""`` and the ext_proc service name; stopping turns it NOT_SERVING first.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        streaming: bool = True,
        health_port: int | None = None,
        grace: float = 1.0,
    ) -> None:
        self.host = host
        self.router = BodyBasedRouter(streaming=streaming)
        self.port = 0
        self.health_port: int | None = None
        self._want = (port, health_port)
        self._grace = grace
        self._health = health_aio.HealthServicer()
        self._servers: list[grpc.aio.Server] = []

    @property
    def streaming(self) -> bool:
        return self.router.streaming

    async def __aenter__(self) -> BbrServer:
        port, health_port = self._want
        main = grpc.aio.server(options=_GRPC_OPTIONS)
        pb_grpc.add_ExternalProcessorServicer_to_server(self.router, main)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, main)
        self._servers.append(main)
        try:
            self.port = _bind(main, self.host, port)
            if health_port is not None:
                health = grpc.aio.server(options=_GRPC_OPTIONS)
                health_pb2_grpc.add_HealthServicer_to_server(self._health, health)
                self._servers.append(health)
                self.health_port = _bind(health, self.host, health_port)
            for server in self._servers:
                await server.start()
            for name in ("", EXT_PROC_SERVICE):
                await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "body-based router listening on %s:%d (streaming=%s)",
            self.host,
            self.port,
            self.streaming,
        )
        return self

    async def stop(self) -> None:
        servers, self._servers = self._servers, []
        if servers:
            await self._health.enter_graceful_shutdown()
            await asyncio.gather(*(server.stop(self._grace) for server in servers))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _bind(server: grpc.aio.Server, host: str, port: int) -> int:
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = int(server.add_insecure_port(target))
    except RuntimeError as e:
        raise OSError(f"cannot listen on {target}") from e
    if bound == 0:
        raise OSError(f"cannot listen on {target}")
    return bound


async def serve_bbr(
    host: str,
    port: int,
    *,
    streaming: bool = True,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    bound: list[int] | None = None,
    health_port: int | None = None,
) -> None:
    """Serve BBR until ``stop`` is set; ``bound`` receives the port actually bound."""
    async with BbrServer(host, port, streaming=streaming, health_port=health_port) as server:
        if bound is not None:
            bound.append(server.port)
        if ready is not None:
            ready.set()
        await (stop or asyncio.Event()).wait()
