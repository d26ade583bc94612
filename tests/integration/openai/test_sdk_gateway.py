"""The official ``openai`` SDK through the real gateway: every call, every error class.

Each error is checked twice: the SDK raises the class it maps the status to, and the raw
body parses as JSON in the one shape (``{"error": {"message", "type", "param", "code"}}``
with the integer status as ``code``), whichever component refused the request.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.integration.openai.conftest import (
    BASE,
    DEAD,
    EMBED,
    EMPTY,
    LIMITED,
    SHED,
    SPLIT,
    OpenAIWorld,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello to the gateway."}]


def assert_one_shape(err: openai.APIStatusError, status: int) -> dict[str, Any]:
    assert err.status_code == status
    body = err.response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == status and isinstance(error["type"], str) and error["message"]
    assert err.response.headers["content-type"].startswith("application/json")
    return dict(error)


async def test_models_list_names_what_clients_use(world: OpenAIWorld) -> None:
    listed = await world.client.models.list()
    ids = [m.id for m in listed.data]
    assert ids == sorted([BASE, SPLIT, EMBED, LIMITED, SHED, DEAD, EMPTY])
    assert "review-1" not in ids  # what the pods serve behind the split is not a client name
    card = next(m for m in listed.data if m.id == SPLIT)
    assert (card.object, card.owned_by) == ("model", "inference-gateway")
    assert card.model_extra is not None and "max_model_len" in card.model_extra
    assert (await world.client.models.retrieve(SPLIT)).id == SPLIT
    assert (await world.client.models.retrieve(BASE)).id == BASE  # an id with a slash


async def test_unknown_model_id_is_not_found(world: OpenAIWorld) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await world.client.models.retrieve("review-1")
    assert assert_one_shape(caught.value, 404)["type"] == "NotFoundError"


async def test_every_listed_model_routes(world: OpenAIWorld) -> None:
    """A listed id never 404s: it is served, or refused for capacity (429/503), never unknown."""
    for model in (await world.client.models.list()).data:
        try:
            if model.id == EMBED:
                await world.client.embeddings.create(model=model.id, input="x")
            else:
                await world.client.chat.completions.create(
                    model=model.id, messages=HELLO, max_tokens=2
                )
        except openai.APIStatusError as e:
            assert e.status_code in (429, 503), (model.id, e.status_code, e.response.text)


async def test_chat_completion(world: OpenAIWorld) -> None:
    reply = await world.client.chat.completions.create(
        model=SPLIT, messages=HELLO, max_tokens=5, n=2, logprobs=True, top_logprobs=2
    )
    assert reply.model == SPLIT and [c.index for c in reply.choices] == [0, 1]
    for choice in reply.choices:
        assert choice.message.role == "assistant" and choice.message.content
        assert choice.logprobs is not None and choice.logprobs.content
        assert all(len(t.top_logprobs) == 2 for t in choice.logprobs.content)
    assert reply.usage is not None and reply.usage.completion_tokens >= 2


async def test_chat_stream(world: OpenAIWorld) -> None:
    stream = await world.client.chat.completions.create(
        model=BASE,
        messages=HELLO,
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 4
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert all(c.model == BASE for c in chunks)


async def test_completion_batch_and_stop(world: OpenAIWorld) -> None:
    reply = await world.client.completions.create(
        model=SPLIT, prompt=["first prompt", "second prompt"], max_tokens=8, stop=["answers"],
        extra_body={"ignore_eos": True},
    )  # fmt: skip
    assert [c.index for c in reply.choices] == [0, 1]
    for choice in reply.choices:
        assert choice.finish_reason == "stop" and "answers" not in choice.text
        assert choice.model_extra is not None and choice.model_extra["stop_reason"] == "answers"


async def test_completion_stream_with_logprobs(world: OpenAIWorld) -> None:
    stream = await world.client.completions.create(
        model=BASE, prompt="count", max_tokens=3, logprobs=1, stream=True,
        extra_body={"ignore_eos": True},
    )  # fmt: skip
    chunks = [c async for c in stream]
    assert len(chunks) == 3
    for chunk in chunks:
        logprobs = chunk.choices[0].logprobs
        assert logprobs is not None and logprobs.tokens == [chunk.choices[0].text]
    assert chunks[-1].choices[0].finish_reason == "length"


async def test_embeddings_float_and_base64(world: OpenAIWorld) -> None:
    # The SDK asks for base64 by default and decodes it itself.
    reply = await world.client.embeddings.create(model=EMBED, input=["a", "b"])
    assert [len(d.embedding) for d in reply.data] == [384, 384]
    assert reply.model == EMBED and reply.usage.prompt_tokens == 2
    plain = await world.client.embeddings.create(model=EMBED, input="a", encoding_format="float")
    assert plain.data[0].embedding == pytest.approx(reply.data[0].embedding, abs=1e-6)
    short = await world.client.embeddings.create(model=EMBED, input="a", dimensions=8)
    assert len(short.data[0].embedding) == 8


async def test_responses(world: OpenAIWorld) -> None:
    reply = await world.client.responses.create(
        model=SPLIT, input="Say hello.", max_output_tokens=16
    )
    assert reply.model == SPLIT and reply.output_text
    assert reply.usage is not None and reply.usage.output_tokens >= 1
    stream = await world.client.responses.create(model=BASE, input="Say hello.", stream=True)
    events = [e async for e in stream]
    assert events[0].type == "response.created"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert deltas and deltas == events[-1].response.output_text


async def test_bad_request_from_the_gateway(world: OpenAIWorld) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await world.client.chat.completions.create(model=BASE, messages=[])
    error = assert_one_shape(caught.value, 400)
    assert (error["type"], error["param"]) == ("BadRequestError", "messages")


async def test_bad_request_from_a_pod(world: OpenAIWorld) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await world.client.chat.completions.create(
            model=BASE, messages=HELLO, extra_body={"temperature": "hot"}
        )
    assert assert_one_shape(caught.value, 400)["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as caught:
        await world.client.chat.completions.create(
            model=BASE, messages=HELLO, stream_options={"include_usage": True}
        )
    assert assert_one_shape(caught.value, 400)["param"] == "stream_options"


async def test_unknown_model_is_not_found(world: OpenAIWorld) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await world.client.chat.completions.create(model="review-1", messages=HELLO)
    error = assert_one_shape(caught.value, 404)
    assert (error["type"], error["param"]) == ("NotFoundError", "model")


async def test_unknown_route_is_json(world: OpenAIWorld) -> None:
    # Bodiless requests other than /v1/models go to a pod of the first pool by key
    # (``default/base``), whose server answers an unknown route with vLLM's JSON 404.
    with pytest.raises(openai.NotFoundError) as caught:
        await world.client.get("/no/such/route", cast_to=object)
    assert_one_shape(caught.value, 404)


async def test_rate_limited_by_a_pod(world: OpenAIWorld) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await world.client.chat.completions.create(model=LIMITED, messages=HELLO)
    assert assert_one_shape(caught.value, 429)["type"] == "RateLimitError"


async def test_shed_by_the_gateway_with_retry_after(world: OpenAIWorld) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await world.client.chat.completions.create(model=SHED, messages=HELLO)
    assert assert_one_shape(caught.value, 429)["type"] == "RateLimitError"
    assert caught.value.response.headers["retry-after"] == "1"


async def test_no_endpoints_is_503_with_retry_after(world: OpenAIWorld) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await world.client.chat.completions.create(model=EMPTY, messages=HELLO)
    assert assert_one_shape(caught.value, 503)["type"] == "ServiceUnavailableError"
    assert caught.value.response.headers["retry-after"] == "1"


async def test_unreachable_pod_is_envoys_503_as_json(world: OpenAIWorld) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await world.client.chat.completions.create(model=DEAD, messages=HELLO)
    error = assert_one_shape(caught.value, 503)
    assert error["type"] == "ServiceUnavailableError"
    assert "upstream connect error" in error["message"] or "healthy" in error["message"]
    assert caught.value.response.headers["retry-after"] == "1"
