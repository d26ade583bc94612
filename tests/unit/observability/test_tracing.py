"""Tracing is a no-op without configuration (and without OpenTelemetry); with the SDK it emits
``gateway.request`` spans, parented on an incoming ``traceparent``."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from inference_gateway.observability import tracing
from inference_gateway.observability.tracing import (
    NULL_SPAN,
    NULL_TRACER,
    REQUEST_SPAN,
    Tracer,
    setup_tracing,
)

_HAVE_SDK = importlib.util.find_spec("opentelemetry.sdk") is not None
needs_sdk = pytest.mark.skipif(not _HAVE_SDK, reason="the 'tracing' extra is not installed")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
_TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )


def test_off_by_default_without_importing_opentelemetry() -> None:
    code = """
import sys
from inference_gateway.observability import tracing
t = tracing.setup_tracing(env={})
span = t.start("gateway.request", {"model": "m"}, carrier={"traceparent": "x"})
span.set("k", 1); span.fail(429, "ResourceExhausted"); span.end()
with t.span("inner", a=1) as s:
    s.set("b", 2)
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
print(t.enabled, span is tracing.NULL_SPAN, loaded)
"""
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False True []"


def test_configured_without_opentelemetry_warns_and_stays_off() -> None:
    # A ``None`` entry in sys.modules makes the import fail exactly as if it were absent.
    code = """
import logging, sys
sys.modules["opentelemetry"] = None
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
from inference_gateway.observability import tracing
t = tracing.setup_tracing("http://127.0.0.1:4317")
print(t.enabled, t.start("x") is tracing.NULL_SPAN)
"""
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False True"
    assert "OpenTelemetry is not installed" in done.stderr


def test_environment_endpoint_is_read() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}
    assert tracing.endpoint_from_env(env) == "http://127.0.0.1:4317"
    both = {**env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.2:4318/v1/traces"}
    assert tracing.endpoint_from_env(both) == "http://127.0.0.2:4318/v1/traces"
    assert tracing.endpoint_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}) is None


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


@pytest.fixture
def traced() -> Iterator[tuple[Tracer, Any]]:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    out = InMemorySpanExporter()
    tracer = setup_tracing(exporter=out, service_name="epp-under-test")
    yield tracer, out
    tracer.shutdown()


@pytest.fixture
def exporter(traced: tuple[Tracer, Any]) -> Any:
    return traced[1]


@pytest.fixture
def tracer(traced: tuple[Tracer, Any]) -> Tracer:
    return traced[0]


@needs_sdk
def test_request_span_carries_attributes_and_resource(tracer: Tracer, exporter: Any) -> None:
    assert tracer.enabled
    span = tracer.start(REQUEST_SPAN, {"model": "llama", "target": None})
    span.set("gateway.endpoint", "127.0.0.11:8000")
    span.set("skipped", None)
    span.end()
    span.end()
    span.set("after.end", 1)
    (done,) = exporter.get_finished_spans()
    assert done.name == "gateway.request"
    assert dict(done.attributes) == {"model": "llama", "gateway.endpoint": "127.0.0.11:8000"}
    assert done.resource.attributes["service.name"] == "epp-under-test"
    assert done.parent is None


@needs_sdk
def test_incoming_traceparent_makes_the_span_a_child(tracer: Tracer, exporter: Any) -> None:
    carrier = {"traceparent": _TRACEPARENT, ":path": "/v1/completions"}
    tracer.start(REQUEST_SPAN, carrier=carrier).end()
    (done,) = exporter.get_finished_spans()
    assert format(done.context.trace_id, "032x") == TRACE_ID
    assert done.parent is not None
    assert format(done.parent.span_id, "016x") == PARENT_ID


@needs_sdk
def test_failures_set_error_status(tracer: Tracer, exporter: Any) -> None:
    from opentelemetry.trace import StatusCode

    span = tracer.start(REQUEST_SPAN)
    span.fail(429, "ResourceExhausted")
    span.end()
    with pytest.raises(KeyError), tracer.span("block", step=1):
        raise KeyError("x")
    rejected, raised = exporter.get_finished_spans()
    assert rejected.status.status_code is StatusCode.ERROR
    assert rejected.attributes["http.response.status_code"] == 429
    assert rejected.attributes["gateway.error_code"] == "ResourceExhausted"
    assert raised.name == "block"
    assert raised.attributes["gateway.error_code"] == "KeyError"


@needs_sdk
def test_shutdown_turns_tracing_off(tracer: Tracer, exporter: Any) -> None:
    tracer.shutdown()
    assert not tracer.enabled
    assert tracer.start(REQUEST_SPAN) is NULL_SPAN
    assert exporter.get_finished_spans() == ()


@needs_sdk
def test_endpoint_without_otlp_exporter_stays_off(caplog: pytest.LogCaptureFixture) -> None:
    have_otlp = any(_importable(f"opentelemetry.exporter.otlp.proto.{t}") for t in ("grpc", "http"))
    with caplog.at_level(logging.WARNING, logger=tracing.__name__):
        t = setup_tracing("http://127.0.0.1:4317")
    t.shutdown()
    if have_otlp:
        assert t.enabled
    else:
        assert not t.enabled
        assert "no OTLP exporter" in caplog.text


def test_request_helpers_are_free_when_off() -> None:
    span = NULL_TRACER.start_request({":path": "/v1/completions", "traceparent": "garbage"})
    assert span is NULL_SPAN
    NULL_TRACER.record_route(span, object())  # never touches the routed object when off


@needs_sdk
def test_request_span_records_the_routing_decision(tracer: Tracer, exporter: Any) -> None:
    from tests.unit.requestcontrol.builders import chat, make_director, make_store, model

    director = make_director(make_store(models=[model("llama", targets=[("adapter", None)])]))
    request = chat("llama", headers={"x-request-id": "r-1", "traceparent": _TRACEPARENT})
    span = tracer.start_request(request.headers)
    routed = director.route_now(request)
    tracer.record_route(span, routed)
    span.end()
    routed.finish()
    (done,) = exporter.get_finished_spans()
    attrs = dict(done.attributes)
    assert done.name == "gateway.request"
    assert attrs["http.request.method"] == "POST"
    assert attrs["url.path"] == "/v1/chat/completions"
    assert attrs["gen_ai.request.model"] == "llama"
    assert attrs["gateway.target_model"] == "adapter"
    assert attrs["gateway.endpoint"] == routed.endpoints[0]
    assert attrs["gateway.request_id"] == "r-1"
    assert format(done.context.trace_id, "032x") == TRACE_ID
