"""With tracing on, a request through real Envoy leaves one ``gateway.request`` span."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inference_gateway.observability import tracing
from tests.integration.gateway.conftest import LLAMA, world

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def traced() -> Iterator[tuple[tracing.Tracer, Any]]:
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    out = memory.InMemorySpanExporter()
    tracer = tracing.setup_tracing(exporter=out, service_name="epp-e2e")
    yield tracer, out
    tracer.shutdown()


async def test_a_routed_request_and_a_rejected_one_are_traced(
    tmp_path: Path, traced: tuple[tracing.Tracer, Any]
) -> None:
    tracer, spans = traced
    async with world(tmp_path, tracer=tracer) as w:
        body = {"model": LLAMA, "messages": [{"role": "user", "content": "hi"}]}
        headers = {"traceparent": TRACEPARENT}
        async with w.session.post(f"{w.url}/v1/chat/completions", json=body, headers=headers) as r:
            assert r.status == 200
            await r.read()
        async with w.session.post(f"{w.url}/v1/chat/completions", data=b"{not json") as r:
            assert r.status == 400
    routed, rejected = sorted(spans.get_finished_spans(), key=lambda s: s.start_time)
    attrs = dict(routed.attributes)
    assert routed.name == "gateway.request"
    assert format(routed.context.trace_id, "032x") == TRACE_ID
    assert attrs["gen_ai.request.model"] == LLAMA
    assert attrs["gateway.target_model"] == LLAMA
    assert attrs["http.response.status_code"] == 200
    assert attrs["gateway.endpoint"].startswith("127.0.0.1")
    assert not rejected.status.is_ok
