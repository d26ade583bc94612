"""The handler drives request-control plugins: answers, refusals, response hooks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from inference_gateway.extproc.handler import Stream
from inference_gateway.requestcontrol.extensions import ExtensionChain, ImmediateAnswer
from inference_gateway.requestcontrol.extensions.base import RequestContext
from inference_gateway.requestcontrol.types import GatewayError
from tests.unit.extproc.test_server import ScriptedDirector, body, headers, response_headers


@dataclass
class Plugin:
    """A request-control plugin with every hook; ``mode`` picks what ``pre_request`` does."""

    mode: str = "pass"
    name: str = "p"
    seen: list[tuple[str, object]] = field(default_factory=list)

    async def admit(self, ctx: RequestContext) -> None:
        if "forbidden" in ctx.prompt:
            raise GatewayError(403, "no", code="content_policy_violation", reason="Forbidden")

    async def pre_request(self, ctx: RequestContext, endpoint: str) -> ImmediateAnswer | None:
        self.seen.append(("pre_request", endpoint))
        if self.mode == "answer":
            return ImmediateAnswer(200, {"x-cache": "hit"}, b'{"cached": true}')
        return None

    def response_header(
        self, ctx: RequestContext, status: int, headers: Mapping[str, str]
    ) -> Mapping[str, str]:
        return {"x-cache": "miss"}

    def response_body(self, ctx: RequestContext, chunk: bytes, end_of_stream: bool) -> None:
        self.seen.append(("body", chunk))


def stream(plugin: Plugin, director: ScriptedDirector) -> Stream:
    return Stream(director, max_body_bytes=10_000, extensions=ExtensionChain([plugin]))


def request(prompt: str) -> bytes:
    return json.dumps({"model": "MODEL", "prompt": prompt}).encode()


async def test_an_answer_replaces_forwarding_and_finishes_the_request() -> None:
    director, plugin = ScriptedDirector(), Plugin(mode="answer")
    s = stream(plugin, director)
    assert s.on_message(headers()) == []
    assert s.on_message(body(request("hi"), eos=True)) == []
    assert s.routing_pending
    (out,) = await s.route_pending()
    assert out.immediate_response.status.code == 200
    assert out.immediate_response.body == b'{"cached": true}'
    assert plugin.seen == [("pre_request", "127.0.0.11:8000")]
    assert director.finished == [None] and s.done


async def test_a_refusal_before_routing_never_reaches_the_director() -> None:
    director, plugin = ScriptedDirector(), Plugin()
    s = stream(plugin, director)
    s.on_message(headers())
    s.on_message(body(request("forbidden words"), eos=True))
    (out,) = await s.route_pending()
    assert out.immediate_response.status.code == 403
    assert director.requests == [] and director.finished == []


async def test_forwarded_requests_get_the_plugins_response_hooks() -> None:
    director, plugin = ScriptedDirector(), Plugin()
    s = stream(plugin, director)
    s.on_message(headers())
    s.on_message(body(request("hi"), eos=True))
    (routed,) = await s.route_pending()
    assert routed.request_headers.response.body_mutation.body == request("hi").replace(
        b"MODEL", b"TARGET"
    )
    (answer,) = s.on_message(response_headers("200"))
    added = answer.response_headers.response.header_mutation.set_headers
    assert {h.header.key: h.header.raw_value for h in added}["x-cache"] == b"miss"
    s.on_message(
        pb.ProcessingRequest(response_body=pb.HttpBody(body=b"TARGET!", end_of_stream=True))
    )
    assert plugin.seen[-1] == ("body", b"MODEL!")
    assert director.finished == [None]
