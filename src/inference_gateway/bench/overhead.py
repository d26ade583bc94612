"""``bench overhead``: what the EPP adds to a request through real Envoy on loopback.

Same Envoy, two listeners: ``direct`` routes by a destination header the client sets
itself (Envoy alone), ``gateway`` runs ext_proc and lets the EPP set it. Figures:

* small requests: p50/p99 latency and throughput over a closed-loop concurrency sweep;
* a 200 KB prompt: median latency one at a time, and what the EPP adds to it;
* SSE: events per second over concurrent streams with the EPP on the response path.

Only the EPP runs in this process. The streaming upstream and the SSE client are child
processes (as is ``wrk``), so the SSE figure shows what the EPP's response path costs a
stream through Envoy, not the EPP taking CPU from an upstream and client in its own thread.

Four EPP variants run: ``epp`` (defaults: the inline transport, usage accounting reads every
response), ``epp-lean`` (``account_usage`` off, so a response that needs no model rewrite
is let past the EPP after its headers), and ``epp-grpcio`` (defaults on grpcio, the
reference transport).
The gateway itself is built by the caller (``GatewayFactory``) because ``bench`` sits
beside, not above, the ext_proc package.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any, Literal, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict

from inference_gateway.bench._overhead_load import (
    LoadResult,
    free_port,
    python_load,
    python_sse_rate,
    sequential_latency_ms,
    static_upstream,
    wrk_available,
    wrk_load,
    wrk_sse_rate,
)
from inference_gateway.bench._sse_upstream import stream_upstream

FAST_HOST, STREAM_HOST = "127.0.0.11", "127.0.0.12"
FAST_MODEL, STREAM_MODEL = "bench-fast", "bench-stream"
DESTINATION = "x-gateway-destination-endpoint"
CHAT_PATH = "/v1/chat/completions"
VARIANTS = (
    ("epp", True, "inline"),
    ("epp-lean", False, "inline"),
    ("epp-grpcio", True, "grpcio"),
)
"""(name, director ``account_usage``, ext_proc transport) of each EPP run."""


class OverheadSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    duration: float = 3.0
    concurrency: tuple[int, ...] = (1, 8, 32)
    envoy_concurrency: int = 1
    big_prompt_bytes: int = 200_000
    big_prompt_requests: int = 30
    sse_streams: int = 8
    sse_events: int = 500
    sse_seconds: float = 2.0
    """How long the SSE client keeps ``sse_streams`` streams going (wrk: whole seconds)."""
    paced_streams: int = 64
    paced_tokens: int = 25
    paced_gap_ms: float = 20.0
    paced_seconds: float = 4.0
    """Paced SSE: ``paced_streams`` streams of tokens ``paced_gap_ms`` apart, as a model
    server emits them, so each token is a response chunk and an ext_proc message of its own:
    the EPP's CPU per streamed token, which bounds how many concurrent streams it can serve."""
    sse_rounds: int = 3
    """Alternating direct/gateway SSE runs per variant; each figure is the median of its
    runs and the ratio compares a variant with the direct runs taken beside it, so load
    from elsewhere on the machine shifts both sides alike."""
    load_tool: Literal["auto", "wrk", "python"] = "auto"
    fast_port: int = 0
    """Port of the static upstream on 127.0.0.11 (0: a free one)."""
    stream_port: int = 0
    """Port of the streaming upstream on 127.0.0.12 (0: a free one)."""


class BenchTarget(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def direct_url(self) -> str: ...


GatewayFactory = Callable[..., AbstractAsyncContextManager[BenchTarget]]
"""``factory(config_file, *, account_usage, envoy_concurrency, transport)``: a started
gateway whose Envoy also has the direct listener."""


def bench_config(fast_port: int, stream_port: int) -> str:
    docs = []
    for pool, host, port, model in (
        ("fast", FAST_HOST, fast_port, FAST_MODEL),
        ("stream", STREAM_HOST, stream_port, STREAM_MODEL),
    ):
        docs += [
            "apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferencePool\n"
            f"metadata: {{name: {pool}}}\nspec:\n  selector: {{app: {pool}}}\n"
            f"  targetPortNumber: {port}\n  extensionRef: {{name: epp}}\n",
            "apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceModel\n"
            f"metadata: {{name: {pool}}}\n"
            f"spec: {{modelName: {model}, poolRef: {{name: {pool}}}}}\n",
            f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {pool}-0, labels: {{app: {pool}}}}}\n"
            f'status: {{podIP: {host}, conditions: [{{type: Ready, status: "True"}}]}}\n',
        ]
    return "---\n".join(docs)


def _chat(model: str, content: str = "hi", **extra: Any) -> bytes:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return json.dumps(body).encode()


async def run_overhead(settings: OverheadSettings, *, gateway: GatewayFactory) -> dict[str, Any]:
    s = settings.model_copy(
        update={
            "fast_port": settings.fast_port or free_port(FAST_HOST),
            "stream_port": settings.stream_port or free_port(STREAM_HOST),
        }
    )
    use_wrk = s.load_tool == "wrk" or (s.load_tool == "auto" and wrk_available())
    report: dict[str, Any] = {
        "settings": s.model_dump(),
        "load_tool": "wrk" if use_wrk else "python",
    }
    with tempfile.TemporaryDirectory(prefix="igw-bench-") as tmp:
        work = Path(tmp)
        config = work / "bench.yaml"
        config.write_text(bench_config(s.fast_port, s.stream_port))
        (work / "upstream").mkdir()
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(
                static_upstream(FAST_HOST, s.fast_port, FAST_MODEL, work / "upstream")
            )
            await stack.enter_async_context(
                stream_upstream(STREAM_HOST, s.stream_port, STREAM_MODEL, log=work / "sse.log")
            )
            session = await stack.enter_async_context(aiohttp.ClientSession())
            for name, account_usage, transport in VARIANTS:
                factory = gateway(
                    config,
                    account_usage=account_usage,
                    envoy_concurrency=s.envoy_concurrency,
                    transport=transport,
                )
                async with factory as target:
                    if "envoy" not in report:
                        report["envoy"] = await _measure(
                            s, target, session, work, use_wrk, direct=True
                        )
                    report[name] = await _measure(s, target, session, work, use_wrk, direct=False)
                    gateway_sse, direct_sse, cpu_sse = await _paired_sse(s, target, work, use_wrk)
                    report[name]["sse_events_per_s"] = gateway_sse
                    report[name]["sse_baseline_events_per_s"] = direct_sse
                    report[name]["cpu_us_per_sse_event"] = cpu_sse
                    report[name].update(await _paced_sse(s, target, work, use_wrk))
                    report["envoy"].setdefault("sse_events_per_s", direct_sse)
    _derive(report)
    return report


async def _measure(
    s: OverheadSettings,
    target: BenchTarget,
    session: aiohttp.ClientSession,
    work: Path,
    use_wrk: bool,
    *,
    direct: bool,
) -> dict[str, Any]:
    url = (target.direct_url if direct else target.url) + CHAT_PATH
    fast = {"content-type": "application/json"}
    stream = dict(fast)
    if direct:
        fast[DESTINATION] = f"{FAST_HOST}:{s.fast_port}"
        stream[DESTINATION] = f"{STREAM_HOST}:{s.stream_port}"
    small = _chat(FAST_MODEL)
    sweep: list[LoadResult] = []
    cpu: list[float] = []
    for c in s.concurrency:
        cpu_before = time.process_time()
        if use_wrk:
            sweep.append(
                await wrk_load(url, small, fast, concurrency=c, seconds=s.duration, workdir=work)
            )
        else:
            sweep.append(await python_load(url, small, fast, concurrency=c, seconds=s.duration))
        cpu.append(time.process_time() - cpu_before)
    big = _chat(STREAM_MODEL, "x" * s.big_prompt_bytes)
    busiest = max(range(len(sweep)), key=lambda i: sweep[i].requests)
    cpu_per_request = cpu[busiest] / max(sweep[busiest].requests, 1)
    return {
        "cpu_us_per_request": round(cpu_per_request * 1e6, 1),
        "sweep": [
            {
                "concurrency": r.concurrency,
                "rps": round(r.rps, 1),
                "p50_ms": round(r.p50_ms, 3),
                "p99_ms": round(r.p99_ms, 3),
                "requests": r.requests,
                "errors": r.errors,
            }
            for r in sweep
        ],
        "big_prompt_p50_ms": round(
            await sequential_latency_ms(session, url, big, stream, s.big_prompt_requests), 3
        ),
    }


async def _paired_sse(
    s: OverheadSettings, target: BenchTarget, work: Path, use_wrk: bool
) -> tuple[float, float, float]:
    """Median SSE events/s through the gateway and straight through Envoy, alternated, and
    this process's CPU µs per event through the gateway (the EPP's: nothing else runs here)."""
    body = _chat(STREAM_MODEL, stream=True, max_tokens=s.sse_events)
    plain = {"content-type": "application/json"}
    direct = {**plain, DESTINATION: f"{STREAM_HOST}:{s.stream_port}"}
    gateway_runs: list[float] = []
    direct_runs: list[float] = []
    cpu_per_event: list[float] = []
    for _ in range(max(1, s.sse_rounds)):
        direct_runs.append(
            await _sse_rate(s, target.direct_url + CHAT_PATH, body, direct, work, use_wrk)
        )
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        rate = await _sse_rate(s, target.url + CHAT_PATH, body, plain, work, use_wrk)
        events = rate * (time.perf_counter() - wall_before)
        cpu_per_event.append((time.process_time() - cpu_before) / max(events, 1.0))
        gateway_runs.append(rate)
    return (
        round(statistics.median(gateway_runs), 1),
        round(statistics.median(direct_runs), 1),
        round(statistics.median(cpu_per_event) * 1e6, 2),
    )


async def _sse_rate(
    s: OverheadSettings,
    url: str,
    body: bytes,
    headers: dict[str, str],
    work: Path,
    use_wrk: bool,
) -> float:
    if use_wrk:
        return await wrk_sse_rate(
            url,
            body,
            headers,
            streams=s.sse_streams,
            seconds=s.sse_seconds,
            events_per_stream=s.sse_events + 1,
            workdir=work,
        )
    return await python_sse_rate(url, body, headers, streams=s.sse_streams, seconds=s.sse_seconds)


async def _paced_sse(
    s: OverheadSettings, target: BenchTarget, work: Path, use_wrk: bool
) -> dict[str, float]:
    """Tokens/s and this process's CPU µs per token over paced streams through the gateway."""
    body = _chat(
        STREAM_MODEL, stream=True, max_tokens=s.paced_tokens, bench_token_gap_ms=s.paced_gap_ms
    )
    paced = s.model_copy(
        update={
            "sse_streams": s.paced_streams,
            "sse_events": s.paced_tokens,
            "sse_seconds": s.paced_seconds,
        }
    )
    headers = {"content-type": "application/json"}
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    rate = await _sse_rate(paced, target.url + CHAT_PATH, body, headers, work, use_wrk)
    events = rate * (time.perf_counter() - wall_before)
    return {
        "paced_events_per_s": round(rate, 1),
        "cpu_us_per_paced_event": round(
            (time.process_time() - cpu_before) / max(events, 1.0) * 1e6, 2
        ),
    }


def _derive(report: dict[str, Any]) -> None:
    base = report["envoy"]
    for name, _, _ in VARIANTS:
        run = report[name]
        run["added_p50_ms_c1"] = round(run["sweep"][0]["p50_ms"] - base["sweep"][0]["p50_ms"], 3)
        run["max_rps"] = max(r["rps"] for r in run["sweep"])
        run["big_prompt_added_ms"] = round(run["big_prompt_p50_ms"] - base["big_prompt_p50_ms"], 3)
        paired = run.get("sse_baseline_events_per_s", base["sse_events_per_s"])
        run["sse_ratio"] = round(run["sse_events_per_s"] / max(paired, 1e-9), 3)
    base["max_rps"] = max(r["rps"] for r in base["sweep"])


def format_report(report: dict[str, Any]) -> str:
    lines = [f"load tool: {report['load_tool']}", ""]
    lines.append(f"{'path':<10} {'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name in ("envoy", *(v[0] for v in VARIANTS)):
        for r in report[name]["sweep"]:
            lines.append(
                f"{name:<10} {r['concurrency']:>5} {r['rps']:>9.1f} {r['p50_ms']:>8.3f} "
                f"{r['p99_ms']:>8.3f} {r['errors']:>7}"
            )
    lines.append("")
    base = report["envoy"]
    lines.append(
        f"Envoy alone: max {base['max_rps']:.0f} req/s, 200 KB prompt p50 "
        f"{base['big_prompt_p50_ms']:.2f} ms, SSE {base['sse_events_per_s']:.0f} events/s"
    )
    for name, _, _ in VARIANTS:
        run = report[name]
        lines.append(
            f"{name}: +{run['added_p50_ms_c1']:.3f} ms p50 at c=1, max {run['max_rps']:.0f} req/s, "
            f"200 KB prompt +{run['big_prompt_added_ms']:.2f} ms, "
            f"SSE {run['sse_events_per_s']:.0f} events/s ({run['sse_ratio']:.0%} of Envoy alone "
            "beside it)"
        )
        lines.append(
            f"{'':>{len(name)}}  EPP CPU {run['cpu_us_per_request']:.0f} us per request at the "
            f"busiest step, {run['cpu_us_per_sse_event']:.1f} us per SSE event, "
            f"{run['cpu_us_per_paced_event']:.1f} us per paced token "
            f"({run['paced_events_per_s']:.0f} tokens/s)"
        )
    return "\n".join(lines)
