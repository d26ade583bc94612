"""Optional OpenTelemetry tracing: free when off, a `gateway.request` span per request when on.

OpenTelemetry is an optional extra (``pip install 'inference-gateway[tracing]'``), so nothing
here imports it until ``setup_tracing`` is asked to turn tracing on. Until then every call
returns the shared ``NULL_SPAN``, whose methods do nothing: the request path pays one
function call. Upstream's EPP names its request span ``gateway.request``; so do we.

Tracing is on when ``setup_tracing`` gets an endpoint (flag) or finds
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` in the environment,
or when a test hands it an exporter. Spans go through the SDK's batch processor, whose thread
does the exporting, so the event loop never waits on a collector. The OTLP exporter is a
separate package (``opentelemetry-exporter-otlp-proto-grpc`` or ``-proto-http``); without it
a configured endpoint is reported once and tracing stays off, never a crash at startup.

The provider is private to the facade (the OpenTelemetry global is left alone), so several
gateways or tests in one process do not fight over it. An incoming W3C ``traceparent``
header makes the request span a child of the client's trace.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

log = logging.getLogger(__name__)

REQUEST_SPAN = "gateway.request"
DEFAULT_SERVICE_NAME = "inference-gateway-epp"
ENDPOINT_ENV = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

AttrValue = str | bool | int | float


class Span(Protocol):
    """What the request path may do with a span; every method is safe to call twice."""

    def set(self, key: str, value: AttrValue | None) -> None: ...

    def fail(self, status: int, reason: str) -> None: ...

    def end(self) -> None: ...


class _NullSpan:
    __slots__ = ()

    def set(self, key: str, value: AttrValue | None) -> None:
        pass

    def fail(self, status: int, reason: str) -> None:
        pass

    def end(self) -> None:
        pass


NULL_SPAN: Span = _NullSpan()


class _OtelSpan:
    """An SDK span behind the ``Span`` protocol (ends once; ``None`` attributes skipped)."""

    __slots__ = ("_ended", "_span")

    def __init__(self, span: Any) -> None:
        self._span = span
        self._ended = False

    def set(self, key: str, value: AttrValue | None) -> None:
        if value is not None and not self._ended:
            self._span.set_attribute(key, value)

    def fail(self, status: int, reason: str) -> None:
        if self._ended:
            return
        trace = _otel("opentelemetry.trace")
        self._span.set_attribute("http.response.status_code", status)
        self._span.set_attribute("gateway.error_code", reason)
        self._span.set_status(trace.Status(trace.StatusCode.ERROR, reason))

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._span.end()


class Tracer:
    """The facade: ``tracer.span(name, **attrs)`` or ``tracer.start(name, ...)``; no-op when off."""

    def __init__(self, otel_tracer: Any = None, provider: Any = None) -> None:
        self._tracer = otel_tracer
        self._provider = provider

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def start(
        self,
        name: str,
        attrs: Mapping[str, AttrValue | None] | None = None,
        *,
        carrier: Mapping[str, str] | None = None,
    ) -> Span:
        """A started span the caller must ``end()``; ``carrier`` holds incoming headers."""
        if self._tracer is None:
            return NULL_SPAN
        context = None
        if carrier is not None and "traceparent" in carrier:
            propagation = _otel("opentelemetry.trace.propagation.tracecontext")
            context = propagation.TraceContextTextMapPropagator().extract(carrier=dict(carrier))
        clean = {k: v for k, v in (attrs or {}).items() if v is not None}
        return _OtelSpan(self._tracer.start_span(name, context=context, attributes=clean))

    def start_request(self, headers: Mapping[str, str]) -> Span:
        """The ``gateway.request`` span of one ext_proc stream, from its request headers.

        A W3C ``traceparent`` among them makes it a child of the caller's trace.
        """
        if self._tracer is None:
            return NULL_SPAN
        attrs = {
            "http.request.method": headers.get(":method"),
            "url.path": headers.get(":path"),
            "gateway.request_id": headers.get("x-request-id"),
        }
        return self.start(REQUEST_SPAN, attrs, carrier=headers)

    @staticmethod
    def record_route(span: Span, routed: Any) -> None:
        """Attributes of a routing decision (a ``requestcontrol.Routed``) on ``span``."""
        if span is NULL_SPAN:
            return
        span.set("gen_ai.request.model", routed.model)
        span.set("gateway.target_model", routed.target_model)
        span.set("gateway.endpoint", ",".join(routed.endpoints))
        span.set("gateway.pool", routed.pool)
        span.set("gateway.criticality", routed.criticality)
        span.set("gateway.request_id", routed.request_id)
        span.set("gateway.streaming", routed.streaming)

    @contextmanager
    def span(self, name: str, **attrs: AttrValue | None) -> Iterator[Span]:
        """A span around a block; an exception marks it failed (status 500) and propagates."""
        span = self.start(name, attrs)
        try:
            yield span
        except BaseException as e:
            span.fail(500, type(e).__name__)
            raise
        finally:
            span.end()

    def shutdown(self) -> None:
        """Flush and stop the exporter (pending spans are sent); the facade turns no-op."""
        provider, self._provider, self._tracer = self._provider, None, None
        if provider is not None:
            provider.shutdown()


NULL_TRACER = Tracer()
"""Tracing off: every span is ``NULL_SPAN``."""


def endpoint_from_env(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    for key in ENDPOINT_ENV:
        if env.get(key):
            return env[key]
    return None


def setup_tracing(
    endpoint: str | None = None,
    service_name: str = DEFAULT_SERVICE_NAME,
    *,
    exporter: Any = None,
    env: Mapping[str, str] | None = None,
) -> Tracer:
    """A tracer that exports if configured and possible, else one that does nothing.

    ``endpoint`` (a flag) wins over the environment. ``exporter`` (an SDK ``SpanExporter``)
    replaces OTLP and is exported synchronously, which is what tests want. The caller owns
    the tracer: it hands it to the servers and calls ``shutdown`` at exit.
    """
    flag = endpoint
    endpoint = endpoint or endpoint_from_env(env)
    if endpoint is None and exporter is None:
        return Tracer()
    try:
        resources = _otel("opentelemetry.sdk.resources")
        sdk = _otel("opentelemetry.sdk.trace")
        export = _otel("opentelemetry.sdk.trace.export")
    except ImportError:
        log.warning(
            "tracing requested (%s) but OpenTelemetry is not installed; "
            "install 'inference-gateway[tracing]'. Tracing stays off.",
            endpoint or "exporter",
        )
        return Tracer()
    if exporter is None:
        exporter = _otlp_exporter(endpoint, from_flag=flag is not None)
        if exporter is None:
            return Tracer()
        processor = export.BatchSpanProcessor(exporter)
    else:
        processor = export.SimpleSpanProcessor(exporter)
    provider = sdk.TracerProvider(
        resource=resources.Resource.create({"service.name": service_name})
    )
    provider.add_span_processor(processor)
    log.info("tracing on: service %s, exporting to %s", service_name, endpoint or exporter)
    return Tracer(provider.get_tracer("inference_gateway"), provider)


def _otlp_exporter(endpoint: str | None, *, from_flag: bool) -> Any:
    """The OTLP exporter (gRPC preferred); it reads the environment itself when no flag was
    given, so ``OTEL_EXPORTER_OTLP_*`` settings (headers, per-signal paths) all apply."""
    for transport in ("grpc", "http"):
        try:
            module = _otel(f"opentelemetry.exporter.otlp.proto.{transport}.trace_exporter")
        except ImportError:
            continue
        cls = module.OTLPSpanExporter
        return cls(endpoint=endpoint) if from_flag else cls()
    log.warning(
        "tracing endpoint %s configured but no OTLP exporter is installed "
        "(pip install opentelemetry-exporter-otlp-proto-grpc); tracing stays off",
        endpoint,
    )
    return None


def _otel(module: str) -> Any:
    """Import an OpenTelemetry module on demand (it is an optional dependency)."""
    return importlib.import_module(module)


__all__ = [
    "NULL_SPAN",
    "NULL_TRACER",
    "REQUEST_SPAN",
    "Span",
    "Tracer",
    "endpoint_from_env",
    "setup_tracing",
]
