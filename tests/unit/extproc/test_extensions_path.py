"""Request-control plugins through the handler and the real director: answers, refusals,
response hooks, cancellation. The handler knows nothing of plugins; the director's route is
a coroutine when a plugin has a request-side point, and the handler awaits it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from inference_gateway.datastore import Datastore
from inference_gateway.extproc.handler import Stream
from inference_gateway.requestcontrol import Director
from inference_gateway.requestcontrol.extensions import ExtensionChain, ImmediateAnswer
from inference_gateway.requestcontrol.extensions.base import RequestContext
from inference_gateway.requestcontrol.types import GatewayError
from tests.unit.extproc.test_server import body, headers, response_headers
from tests.unit.requestcontrol.builders import make_director, make_store, model


@dataclass
class Plugin:
    """A request-control plugin with every hook; ``mode`` picks what ``pre_request`` does."""

    mode: str = "pass"
    name: str = "p"
    seen: list[tuple[str, object]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def admit(self, ctx: RequestContext) -> None:
        if "forbidden" in ctx.prompt:
            raise GatewayError(403, "no", code="content_policy_violation", reason="Forbidden")

    async def pre_request(self, ctx: RequestContext, endpoint: str) -> ImmediateAnswer | None:
        self.seen.append(("pre_request", endpoint))
        self.reached.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.mode == "answer":
            return ImmediateAnswer(200, {"x-cache": "hit"}, b'{"cached": true}')
        return None

    def response_header(
        self, ctx: RequestContext, status: int, headers: Mapping[str, str]
    ) -> Mapping[str, str]:
        return {"x-cache": "miss"}

    def response_body(self, ctx: RequestContext, chunk: bytes, end_of_stream: bool) -> None:
        self.seen.append(("body", chunk))


class Scheduler:
    """Counts calls; routes to the first candidate."""

    def __init__(self) -> None:
        self.calls = 0

    def schedule(self, request: object, endpoints: object, now: float) -> object:
        from inference_gateway.scheduling.types import Decision

        self.calls += 1
        return Decision(endpoints=(endpoints[0],))  # type: ignore[index]


def setup(plugin: Plugin) -> tuple[Stream, Director, Datastore, Scheduler]:
    store = make_store(models=[model("MODEL", targets=[("TARGET", 1)])])
    scheduler = Scheduler()
    director = make_director(store, scheduler=scheduler, extensions=ExtensionChain([plugin]))
    return Stream(director, max_body_bytes=10_000), director, store, scheduler


def request(prompt: str) -> bytes:
    return json.dumps({"model": "MODEL", "prompt": prompt}).encode()


def in_flight(store: Datastore) -> int:
    return sum(store.in_flight(e.hostport) for e in store.all_endpoints())


async def test_an_answer_replaces_forwarding_and_finishes_the_request() -> None:
    plugin = Plugin(mode="answer")
    s, _, store, _ = setup(plugin)
    assert s.on_message(headers()) == []
    assert s.on_message(body(request("hi"), eos=True)) == []
    assert s.routing_pending
    (out,) = await s.route_pending()
    assert out.immediate_response.status.code == 200
    assert out.immediate_response.body == b'{"cached": true}'
    assert plugin.seen == [("pre_request", "127.0.0.11:8000")]
    assert s.done and in_flight(store) == 0


async def test_a_refusal_before_routing_never_reaches_the_scheduler() -> None:
    plugin = Plugin()
    s, _, store, scheduler = setup(plugin)
    s.on_message(headers())
    s.on_message(body(request("forbidden words"), eos=True))
    (out,) = await s.route_pending()
    assert out.immediate_response.status.code == 403
    assert scheduler.calls == 0 and in_flight(store) == 0


async def test_forwarded_requests_get_the_plugins_response_hooks() -> None:
    plugin = Plugin()
    s, _, store, _ = setup(plugin)
    s.on_message(headers())
    s.on_message(body(request("hi"), eos=True))
    (routed,) = await s.route_pending()
    forwarded = routed.request_headers.response.body_mutation.body
    assert json.loads(forwarded) == {"model": "TARGET", "prompt": "hi"}
    assert in_flight(store) == 1
    (answer,) = s.on_message(response_headers("200"))
    added = answer.response_headers.response.header_mutation.set_headers
    assert {h.header.key: h.header.raw_value for h in added}["x-cache"] == b"miss"
    s.on_message(
        pb.ProcessingRequest(
            response_body=pb.HttpBody(body=b'{"model":"TARGET"}', end_of_stream=True)
        )
    )
    assert plugin.seen[-1] == ("body", b'{"model":"MODEL"}')
    assert s.done and in_flight(store) == 0


async def test_a_stream_cancelled_during_pre_request_releases_its_slot() -> None:
    plugin = Plugin(gate=asyncio.Event())
    s, _, store, _ = setup(plugin)
    s.on_message(headers())
    s.on_message(body(request("hi"), eos=True))
    task = asyncio.create_task(s.route_pending())
    await asyncio.wait_for(plugin.reached.wait(), 10)
    assert in_flight(store) == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    s.close(error="cancelled")
    assert in_flight(store) == 0


async def test_a_stream_closed_before_its_route_ran_leaves_nothing_behind() -> None:
    s, _, store, scheduler = setup(Plugin())
    s.on_message(headers())
    s.on_message(body(request("hi"), eos=True))
    assert s.routing_pending
    s.close(error="cancelled")
    assert not s.routing_pending
    assert scheduler.calls == 0 and in_flight(store) == 0
