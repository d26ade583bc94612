"""``POST /v1/embeddings`` for a pod started as an embedding model (``task="embed"``).

Shapes from vLLM's pooling protocol: ``input`` is a string, strings, token ids or lists of
token ids; ``encoding_format`` ``float`` (a list of numbers) or ``base64`` (little-endian
float32, what the ``openai`` SDK asks for by default); ``dimensions`` truncates (vLLM
allows it only for matryoshka models; here any size up to ``EMBEDDING_DIM``). An input is
a prefill-only engine request (one output token, which the engine needs), so embeddings
queue and batch like generation does. Vectors are deterministic unit vectors seeded by
the input text.
"""

from __future__ import annotations

import asyncio
import base64
import math
import random
import struct
import time
import uuid
from typing import Any

import xxhash
from aiohttp import web

from inference_gateway.simulator._jobs import adapter_for, check_length
from inference_gateway.simulator._request import SCHEMA, BadRequest, prompt_list
from inference_gateway.simulator.openai import error_response, read_json
from inference_gateway.simulator.realtime import RealtimeEngine, Ticket
from inference_gateway.simulator.records import EngineError, SimRequest
from inference_gateway.simulator.tokens import block_keys

EMBEDDING_DIM = 384


def vector(text: str, dims: int, seed: int) -> list[float]:
    """A unit vector; a smaller ``dims`` is the full vector's prefix, renormalised
    (matryoshka truncation, as vLLM does for ``dimensions``)."""
    rng = random.Random(xxhash.xxh64_intdigest(text.encode(), seed))
    raw = [rng.gauss(0.0, 1.0) for _ in range(EMBEDDING_DIM)][:dims]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _options(body: dict[str, Any]) -> tuple[str, int]:
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise BadRequest("encoding_format must be 'float' or 'base64'", "encoding_format", SCHEMA)
    dims = body.get("dimensions")
    if dims is None:
        return fmt, EMBEDDING_DIM
    if isinstance(dims, bool) or not isinstance(dims, int):
        raise BadRequest("dimensions: Input should be a valid integer", "dimensions", SCHEMA)
    if not 1 <= dims <= EMBEDDING_DIM:
        raise BadRequest(f"dimensions must be in [1, {EMBEDDING_DIM}]", "dimensions")
    return fmt, dims


def _encode(values: list[float], fmt: str) -> list[float] | str:
    if fmt == "float":
        return values
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


async def handle_embeddings(request: web.Request, rt: RealtimeEngine) -> web.Response:
    engine = rt.engine
    try:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("Input should be a valid dictionary or object", "body", SCHEMA)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("model: Field required", "model", SCHEMA)
        prompts = prompt_list(body.get("input"), "input")
        fmt, dims = _options(body)
        if engine.config.task != "embed":
            raise BadRequest("The model does not support Embeddings API")
        adapter = adapter_for(model, engine)
        rid = "embd-" + uuid.uuid4().hex
        tickets: list[Ticket] = []
        for i, prompt in enumerate(prompts):
            check_length(prompt.tokens, None, engine.config.max_model_len)
            keys = block_keys(prompt.text, engine.config.block_size)
            req = SimRequest(f"{rid}-{i}", prompt.tokens, 1, keys, adapter, 1)
            tickets.append(rt.submit(req, streaming=False))
    except BadRequest as e:
        return error_response(400, str(e), e.kind, e.param)
    except EngineError as e:
        return error_response(e.status, str(e), e.kind)
    try:
        for ticket in tickets:
            while not ticket.done:
                await ticket.changed.wait()
                ticket.changed.clear()
    except asyncio.CancelledError:
        for ticket in tickets:
            rt.abort(ticket.record.request_id)
        raise
    seed = engine.config.seed
    data = [
        {"index": i, "object": "embedding", "embedding": _encode(vector(p.text, dims, seed), fmt)}
        for i, p in enumerate(prompts)
    ]
    tokens = sum(p.tokens for p in prompts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0}
    return web.json_response(
        {
            "id": rid,
            "object": "list",
            "created": int(time.time()),
            "model": model,
            "data": data,
            "usage": {**usage, "prompt_tokens_details": None},
        }
    )
