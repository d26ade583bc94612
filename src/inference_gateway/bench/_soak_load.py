"""The soak's world and load, run in a child process: four simulated pods and the clients.

``python -m inference_gateway.bench._soak_load`` reads JSON lines on stdin: first the pods'
shared port (it answers ``{"ready": true}`` once they listen), then the gateway URL, the
duration and the concurrency. It sends ``{"completed": n}`` every second and
``{"result": {...}}`` at the end, then keeps the pods up until stdin closes (the parent has
stopped the gateway by then, so the EPP never sees its pods vanish). The parent,
``bench.soak``, hosts the gateway and measures it.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections import Counter
from typing import Any

import aiohttp

from inference_gateway.simulator.server import PodSpec, run_pods

BASE_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
ADAPTERS = ("chat-lora", "sql-lora-v1", "sql-lora-v2")
MODELS: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {
    "chat": ("Critical", (("chat-lora", 100),)),
    "support": ("Standard", (("sql-lora-v1", 90), ("sql-lora-v2", 10))),
    BASE_MODEL: ("Standard", ((BASE_MODEL, 100),)),
}
POD_HOSTS = ("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")
POOL = "soak-pool"
DRAIN_MARGIN = 60.0
_REQUEST_TIMEOUT = 30.0


def config_yaml(port: int) -> str:
    """The standalone config: one pool, the three models and the four pods (JSON is YAML)."""
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
            "kind": "InferencePool",
            "metadata": {"name": POOL, "namespace": "default"},
            "spec": {
                "selector": {"app": POOL},
                "targetPortNumber": port,
                "extensionRef": {"name": "epp", "failureMode": "FailClose"},
            },
        }
    ]
    for i, (name, (criticality, targets)) in enumerate(MODELS.items()):
        spec = {
            "modelName": name,
            "criticality": criticality,
            "poolRef": {"name": POOL},
            "targetModels": [{"name": n, "weight": w} for n, w in targets],
        }
        docs.append(
            {
                "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
                "kind": "InferenceModel",
                "metadata": {"name": f"model-{i}", "namespace": "default"},
                "spec": spec,
            }
        )
    for i, host in enumerate(POD_HOSTS):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"pod-{i + 1}", "namespace": "default",
                             "labels": {"app": POOL}},
                "status": {"podIP": host, "conditions": [{"type": "Ready", "status": "True"}]},
            }
        )  # fmt: skip
    return "---\n".join(json.dumps(d) + "\n" for d in docs)


async def child() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    setup = json.loads(await stdin.readline())
    specs = [
        PodSpec(f"pod-{i + 1}", host, setup["port"], model=BASE_MODEL, adapters=ADAPTERS,
                max_loras=3, max_num_seqs=32, seed=i)
        for i, host in enumerate(POD_HOSTS)
    ]  # fmt: skip
    async with run_pods(specs, time_scale=setup["time_scale"]):
        _say({"ready": True})
        go = json.loads(await stdin.readline())
        report = await drive(
            go["url"], go["seconds"], go["concurrency"], seed=setup["seed"],
            distinct_prompts=go["distinct_prompts"],
        )  # fmt: skip
        _say({"result": report})
        # Serve until the parent has stopped the gateway (stdin closes), so the EPP never
        # sees its pods vanish; bounded in case the parent is gone.
        await asyncio.wait_for(stdin.read(), DRAIN_MARGIN)


def _say(msg: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


async def drive(
    url: str, seconds: float, concurrency: int, *, seed: int, distinct_prompts: int
) -> dict[str, Any]:
    """``concurrency`` closed-loop clients until ``seconds`` have passed; then the tally.

    Prompts come from a fixed set of ``distinct_prompts``, as traffic with shared system
    prompts and repeated questions does; the prefix-cache scorer's LRU (bounded, but large)
    then fills within the warm-up instead of growing for most of a short run.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    stop_at = start + seconds
    tally: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    rng = random.Random(seed)
    prompts = [_prompt(rng) for _ in range(distinct_prompts)]
    timeout = aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def client() -> None:
            while loop.time() < stop_at:
                kind, body = _request(rng, prompts)
                tally["sent"] += 1
                tally[kind] += 1
                cause = await _one(session, url, kind, body)
                if cause is None:
                    tally["succeeded"] += 1
                else:
                    failed[cause] += 1

        async def reporter() -> None:
            while True:
                await asyncio.sleep(1.0)
                _say({"completed": tally["succeeded"] + sum(failed.values())})

        ticker = asyncio.ensure_future(reporter())
        try:
            await asyncio.gather(*(client() for _ in range(concurrency)))
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
    by_kind = {k: v for k, v in tally.items() if k not in ("sent", "succeeded")}
    return {
        "sent": tally["sent"],
        "succeeded": tally["succeeded"],
        "failed": dict(failed),
        "by_kind": by_kind,
        "wall_seconds": loop.time() - start,
    }


def _prompt(rng: random.Random) -> str:
    words = ("route", "token", "cache", "pod", "queue", "model", "adapter", "stream")
    return " ".join(rng.choice(words) for _ in range(rng.randint(10, 80)))


def _request(rng: random.Random, prompts: list[str]) -> tuple[str, dict[str, Any]]:
    model = rng.choice(list(MODELS))
    chat = rng.random() < 0.7
    stream = rng.random() < 0.5
    prompt = rng.choice(prompts)
    body: dict[str, Any] = {"model": model, "max_tokens": rng.randint(8, 48), "stream": stream}
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    kind = f"{'chat' if chat else 'completions'}/{'stream' if stream else 'plain'}"
    return kind, body


async def _one(
    session: aiohttp.ClientSession, url: str, kind: str, body: dict[str, Any]
) -> str | None:
    """Send one request; None when it was answered completely, else the cause of failure."""
    path = "/v1/chat/completions" if kind.startswith("chat") else "/v1/completions"
    try:
        async with session.post(url + path, json=body) as resp:
            data = await resp.read()
            if resp.status != 200:
                return f"status {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as e:
        return type(e).__name__
    if body["stream"]:
        return None if data.rstrip().endswith(b"data: [DONE]") else "incomplete stream"
    try:
        return None if json.loads(data).get("choices") else "no choices"
    except ValueError:
        return "bad JSON"


if __name__ == "__main__":
    asyncio.run(child())
