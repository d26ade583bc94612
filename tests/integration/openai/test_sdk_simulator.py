"""The official ``openai`` SDK straight against the simulator: it behaves like vLLM's server.

Facts checked are vLLM's (``entrypoints/openai/*/protocol.py``, ``api_server``): ``n``
choices each with its own length, stops ending with ``finish_reason: "stop"`` and
``stop_reason`` set, logprobs in bodies and streams, the role-only first chat chunk,
``continuous_usage_stats``, batch prompts, the chat template in ``prompt_tokens``, 400s
where vLLM's validation refuses, JSON 404/405 for unknown routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import pytest_asyncio
from openai.types.chat import ChatCompletionMessageParam

from inference_gateway.simulator.server import PodSpec, SimPod, run_pods
from inference_gateway.simulator.tokens import synthetic_token, synthetic_token_id
from tests.integration.openai.conftest import client_for

pytestmark = pytest.mark.asyncio(loop_scope="module")
MODEL, EMBEDDER = "sim-base", "sim-embed"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]  # 2 content tokens


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pods() -> AsyncIterator[list[SimPod]]:
    specs = [
        PodSpec("gen", "127.0.0.51", 0, model=MODEL, adapters=("lora-a",)),
        PodSpec("emb", "127.0.0.52", 0, model=EMBEDDER, task="embed"),
    ]
    async with run_pods(specs, time_scale=0.01) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(pods: list[SimPod]) -> AsyncIterator[openai.AsyncOpenAI]:
    async with client_for(pods[0].url) as c:
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def embed_client(pods: list[SimPod]) -> AsyncIterator[openai.AsyncOpenAI]:
    async with client_for(pods[1].url) as c:
        yield c


def extra(obj: Any, name: str) -> Any:
    assert obj.model_extra is not None
    return obj.model_extra[name]


async def test_models_list_is_vllm_shaped(client: openai.AsyncOpenAI) -> None:
    listed = (await client.models.list()).data
    assert [m.id for m in listed] == [MODEL, "lora-a"]
    assert extra(listed[1], "parent") == MODEL and extra(listed[0], "max_model_len") == 8192


async def test_n_choices_each_have_their_own_length(client: openai.AsyncOpenAI) -> None:
    reply = await client.completions.create(model=MODEL, prompt="p", max_tokens=50, n=4)
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    lengths = [len(c.text.split()) for c in reply.choices]
    assert len(set(lengths)) > 1  # independent simulated EOS per choice
    assert reply.usage is not None and reply.usage.completion_tokens == sum(lengths)
    assert reply.usage.prompt_tokens == 1  # the prompt counts once, not per choice
    for choice in reply.choices:
        assert choice.finish_reason == ("length" if len(choice.text.split()) == 50 else "stop")


async def test_batch_prompts_with_n(client: openai.AsyncOpenAI) -> None:
    reply = await client.completions.create(
        model=MODEL, prompt=["aaaa", "bbbbbbbb"], max_tokens=2, n=2,
        extra_body={"ignore_eos": True},
    )  # fmt: skip
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    assert reply.usage is not None and reply.usage.prompt_tokens == 1 + 2
    ids = await client.completions.create(model=MODEL, prompt=[[1, 2, 3], [4, 5]], max_tokens=1)
    assert len(ids.choices) == 2 and ids.usage is not None and ids.usage.prompt_tokens == 5


async def test_stop_token_ids_end_with_stop_reason(client: openai.AsyncOpenAI) -> None:
    third = synthetic_token_id(2)
    reply = await client.completions.create(
        model=MODEL, prompt="p", max_tokens=10,
        extra_body={"ignore_eos": True, "stop_token_ids": [third]},
    )  # fmt: skip
    choice = reply.choices[0]
    assert (choice.finish_reason, extra(choice, "stop_reason")) == ("stop", third)
    assert choice.text == synthetic_token(0) + synthetic_token(1)
    assert reply.usage is not None and reply.usage.completion_tokens == 3


async def test_stop_string_streamed_is_cut_before_the_stop(client: openai.AsyncOpenAI) -> None:
    stop = synthetic_token(3).strip()
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stop=stop, stream=True,
        extra_body={"ignore_eos": True},
    )  # fmt: skip
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "".join(synthetic_token(i) for i in range(3))
    last = chunks[-1].choices[0]
    assert (last.finish_reason, extra(last, "stop_reason")) == ("stop", stop)


async def test_chat_stream_role_chunk_logprobs_and_continuous_usage(
    client: openai.AsyncOpenAI,
) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=3, stream=True, logprobs=True, top_logprobs=3,
        # vLLM's extension of stream_options, so outside the SDK's typed parameters
        extra_body={
            "ignore_eos": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        },
    )  # fmt: skip
    chunks = [c async for c in stream]
    role, tokens, final = chunks[0], chunks[1:-1], chunks[-1]
    assert role.choices[0].delta.role == "assistant" and role.choices[0].delta.content == ""
    assert len(tokens) == 3
    for i, chunk in enumerate(tokens, 1):
        logprobs = chunk.choices[0].logprobs
        assert logprobs is not None and logprobs.content is not None
        assert [len(t.top_logprobs) for t in logprobs.content] == [3]
        assert logprobs.content[0].token == chunk.choices[0].delta.content
        assert chunk.usage is not None and chunk.usage.completion_tokens == i
    assert final.choices == [] and final.usage is not None
    # "hello" is 2 tokens; Llama-3's template adds 5 plus 5 per message
    assert final.usage.prompt_tokens == 2 + 5 + 5 and final.usage.completion_tokens == 3


async def test_completion_logprobs_body(client: openai.AsyncOpenAI) -> None:
    reply = await client.completions.create(
        model=MODEL, prompt="p", max_tokens=4, logprobs=2, extra_body={"ignore_eos": True}
    )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens is not None
    assert "".join(logprobs.tokens) == reply.choices[0].text
    assert logprobs.text_offset == [0, 4, 10, 18]  # "the ", "model ", "answers ", ...
    assert logprobs.top_logprobs is not None and all(len(t) == 2 for t in logprobs.top_logprobs)
    assert logprobs.token_logprobs is not None and all(lp < 0 for lp in logprobs.token_logprobs)


@pytest.mark.parametrize(
    ("body", "param", "kind"),
    [
        ({"temperature": "hot"}, "temperature", "Bad Request"),
        ({"temperature": -1}, "temperature", "BadRequestError"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "Bad Request"),
        ({"top_logprobs": 2}, "top_logprobs", "Bad Request"),
        ({"logprobs": True, "top_logprobs": 21}, "logprobs", "BadRequestError"),
        ({"n": 0}, "n", "BadRequestError"),
    ],
)
async def test_validation_answers_400_like_vllm(
    client: openai.AsyncOpenAI, body: dict[str, Any], param: str, kind: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=MODEL, messages=HELLO, extra_body=body)
    error = caught.value.response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (400, param, kind)


async def test_unknown_model_and_routes_are_json(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="nope", messages=HELLO)
    assert caught.value.response.json()["error"]["type"] == "NotFoundError"
    with pytest.raises(openai.NotFoundError) as caught:
        await client.get("/v2/nowhere", cast_to=object)
    assert caught.value.response.json()["error"] == {
        "message": "Not Found", "type": "Not Found", "param": None, "code": 404,
    }  # fmt: skip
    with pytest.raises(openai.APIStatusError) as refused:
        await client.get("chat/completions", cast_to=object)  # POST only
    assert refused.value.status_code == 405
    assert refused.value.response.json()["error"]["code"] == 405


async def test_embeddings_only_on_an_embedding_model(
    client: openai.AsyncOpenAI, embed_client: openai.AsyncOpenAI
) -> None:
    reply = await embed_client.embeddings.create(model=EMBEDDER, input=[[1, 2], [3]])
    assert [d.index for d in reply.data] == [0, 1] and reply.usage.prompt_tokens == 3
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model=MODEL, input="x")
    with pytest.raises(openai.BadRequestError):
        await embed_client.chat.completions.create(model=EMBEDDER, messages=HELLO)


async def test_responses_with_instructions(client: openai.AsyncOpenAI) -> None:
    reply = await client.responses.create(
        model="lora-a", instructions="Be brief.", input=[{"role": "user", "content": "hi"}],
        max_output_tokens=2, extra_body={"ignore_eos": True},
    )  # fmt: skip
    assert reply.status == "incomplete" and reply.output_text
    # "Be brief.\nhi" is 3 tokens; the template adds 5 plus 5 per message
    assert reply.usage is not None and reply.usage.input_tokens == 3 + 5 + 2 * 5
