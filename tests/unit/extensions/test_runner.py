"""The chain's contract: order, timeouts, failure modes, short-circuits, lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from inference_gateway.requestcontrol.errors import error_body
from inference_gateway.requestcontrol.extensions import (
    ExtensionChain,
    ExtensionParams,
    ExtensionPlugin,
    ImmediateAnswer,
    RequestContext,
)
from inference_gateway.requestcontrol.extensions.base import ExtensionFailureMode, points_of
from inference_gateway.requestcontrol.types import GatewayError
from inference_gateway.scheduling.saturation import SaturationDetector
from tests.unit.extensions.helpers import begin, chat_body, incoming, routed


class Recorder(ExtensionPlugin):
    """Implements every point and logs each call into a shared list."""

    TYPE = "recorder"

    def __init__(self, name: str, log: list[str], *, answer: bool = False, **params: object):
        super().__init__(name, ExtensionParams.model_validate(params))
        self.log = log
        self.answer = answer

    async def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def close(self) -> None:
        self.log.append(f"close {self.name}")

    async def prepare_data(self, ctx: RequestContext) -> None:
        ctx.state[self.name] = "prepared"
        self.log.append(f"prepare {self.name}")

    def admit(self, ctx: RequestContext) -> None:
        assert ctx.state[self.name] == "prepared"
        self.log.append(f"admit {self.name}")

    async def pre_request(self, ctx: RequestContext, endpoint: str) -> ImmediateAnswer | None:
        self.log.append(f"pre {self.name} {ctx.target_model} {endpoint}")
        return ImmediateAnswer(200, {"x": self.name}, b"{}") if self.answer else None

    def response_header(
        self, ctx: RequestContext, status: int, headers: Mapping[str, str]
    ) -> Mapping[str, str]:
        self.log.append(f"header {self.name} {status}")
        return {f"x-{self.name}": "1"}

    def response_body(self, ctx: RequestContext, chunk: bytes, end_of_stream: bool) -> None:
        self.log.append(f"body {self.name} {chunk!r} {end_of_stream}")


class Stuck(ExtensionPlugin):
    TYPE = "stuck"

    def __init__(self, failure_mode: ExtensionFailureMode, timeout: float = 5.0) -> None:
        params = ExtensionParams(timeout=timeout, failureMode=failure_mode)
        super().__init__("stuck", params)
        self.never = asyncio.Event()

    async def admit(self, ctx: RequestContext) -> None:
        await self.never.wait()


class Broken(ExtensionPlugin):
    TYPE = "broken"

    def __init__(self, failure_mode: ExtensionFailureMode) -> None:
        super().__init__("broken", ExtensionParams(failureMode=failure_mode))

    def prepare_data(self, ctx: RequestContext) -> None:
        raise RuntimeError("bug")

    def response_header(
        self, ctx: RequestContext, status: int, headers: Mapping[str, str]
    ) -> Mapping[str, str]:
        raise RuntimeError("bug")


class Refuser(ExtensionPlugin):
    TYPE = "refuser"

    def admit(self, ctx: RequestContext) -> None:
        raise GatewayError(403, "no", code="content_policy_violation", reason="Forbidden")


async def test_points_run_in_protocol_order() -> None:
    log: list[str] = []
    chain = ExtensionChain([Recorder("a", log), Recorder("b", log)])
    await chain.start()
    ext = begin(chain, chat_body("hi", model="asked"))
    await ext.before_route()
    assert await ext.after_route(*routed("asked", "target")) is None
    assert ext.response_header(200, {}) == {"x-a": "1", "x-b": "1"}
    ext.response_body(b"x", True)
    await chain.close()
    assert log == [
        "start a", "start b",
        "prepare a", "prepare b", "admit a", "admit b",
        "pre a target 127.0.0.11:8000", "pre b target 127.0.0.11:8000",
        "header a 200", "header b 200",
        "body a b'x' True", "body b b'x' True",
        "close b", "close a",
    ]  # fmt: skip


async def test_first_pre_request_answer_wins() -> None:
    log: list[str] = []
    chain = ExtensionChain([Recorder("a", log, answer=True), Recorder("b", log)])
    ext = begin(chain, chat_body("hi"))
    answer = await ext.after_route(*routed())
    assert answer is not None and answer.headers == {"x": "a"}
    assert not any(line.startswith("pre b") for line in log)


@pytest.mark.looptime
async def test_timeout_fails_open_and_the_request_goes_on() -> None:
    log: list[str] = []
    stuck = Stuck("open", timeout=5.0)
    chain = ExtensionChain([stuck, Recorder("after", log)])
    ext = begin(chain, chat_body("hi"))
    loop = asyncio.get_running_loop()
    start = loop.time()
    await ext.before_route()
    assert loop.time() - start == pytest.approx(5.0, abs=0.01)
    assert "admit after" in log


@pytest.mark.looptime
async def test_timeout_fails_closed_with_503() -> None:
    chain = ExtensionChain([Stuck("closed", timeout=2.0)])
    ext = begin(chain, chat_body("hi"))
    with pytest.raises(GatewayError) as info:
        await ext.before_route()
    err = info.value
    assert (err.status, err.code) == (503, "extension_unavailable")
    assert b'"code":"extension_unavailable"' in error_body(err)
    assert "timed out" in err.message


async def test_exception_fails_open_or_closed() -> None:
    await begin(ExtensionChain([Broken("open")]), chat_body("hi")).before_route()
    with pytest.raises(GatewayError) as info:
        await begin(ExtensionChain([Broken("closed")]), chat_body("hi")).before_route()
    assert info.value.status == 503 and "bug" in info.value.message


async def test_deliberate_refusals_propagate_whatever_the_failure_mode() -> None:
    refuser = Refuser("r", ExtensionParams(failureMode="open"))
    with pytest.raises(GatewayError) as info:
        await begin(ExtensionChain([refuser]), chat_body("hi")).before_route()
    assert info.value.status == 403


async def test_response_hooks_fail_open() -> None:
    log: list[str] = []
    chain = ExtensionChain([Broken("closed"), Recorder("ok", log)])
    ext = begin(chain, chat_body("hi"))
    assert ext.response_header(502, {}) == {"x-ok": "1"}


async def test_observer_sees_each_async_call() -> None:
    seen: list[tuple[str, str, str]] = []
    log: list[str] = []
    chain = ExtensionChain(
        [Recorder("a", log)],
        observer=lambda point, kind, name, secs: seen.append((point, kind, name)),
    )
    ext = begin(chain, chat_body("hi"))
    await ext.before_route()
    await ext.after_route(*routed())
    assert seen == [
        ("prepare_data", "recorder", "a"),
        ("admit", "recorder", "a"),
        ("pre_request", "recorder", "a"),
    ]


async def test_start_failure_closes_what_was_started() -> None:
    log: list[str] = []

    class FailingStart(ExtensionPlugin):
        TYPE = "failing"

        async def start(self) -> None:
            raise RuntimeError("no model")

    chain = ExtensionChain([Recorder("a", log), FailingStart("f", ExtensionParams())])
    with pytest.raises(RuntimeError, match="no model"):
        await chain.start()
    assert log == ["start a", "close a"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1]", b'{"prompt": "no model"}', b'{"model": ""}'],
)
def test_requests_the_director_refuses_never_reach_the_extensions(body: bytes) -> None:
    from inference_gateway.requestcontrol.types import IncomingRequest
    from tests.unit.requestcontrol.builders import make_director, make_store

    log: list[str] = []
    director = make_director(make_store(), extensions=ExtensionChain([Recorder("a", log)]))
    with pytest.raises(GatewayError) as caught:
        director.route(IncomingRequest({":path": "/v1/completions"}, body))
    assert caught.value.status == 400
    assert log == []


def test_an_empty_chain_is_falsy_and_does_nothing() -> None:
    from inference_gateway.requestcontrol.body import parse_body

    chain = ExtensionChain([])
    assert not chain
    assert not chain.has_request_stages
    request = incoming(chat_body("hi"))
    assert chain.begin(request.headers, parse_body(request.path, request.body)) is None


def test_context_carries_the_prompt_text() -> None:
    chain = ExtensionChain([Recorder("a", [])])
    body = {
        "model": "m",
        "stream": True,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}],
            },
        ],
    }
    ctx = begin(chain, body).ctx
    assert (ctx.api, ctx.model, ctx.streaming) == ("chat", "m", True)
    assert ctx.prompt == "system: Be brief.\nuser: Hi there"
    completions = begin(chain, {"model": "m", "prompt": ["a", "b"]}, path="/v1/completions").ctx
    assert (completions.api, completions.prompt, completions.streaming) == (
        "completions",
        "ab",
        False,
    )
    embeddings = begin(chain, {"model": "m", "input": "to embed"}, path="/v1/embeddings").ctx
    assert (embeddings.api, embeddings.prompt) == ("other", "to embed")


def test_points_are_detected_from_methods() -> None:
    assert points_of(Recorder) == {
        "prepare_data", "admit", "pre_request", "response_header", "response_body"
    }  # fmt: skip
    assert points_of(Refuser) == {"admit"}
    assert points_of(int) == frozenset()
    assert points_of(SaturationDetector) == frozenset()  # its ``admit`` is another contract
