"""Runs the configured request-control plugins around the director, and enforces their contract.

The director drives one ``RequestExtensions`` per request, on the body it parsed once::

    ext = chain.begin(headers, parsed)         # None: no plugin configured
    await ext.before_route()                   # prepare-data, then admission (may raise)
    ...                                        # the director schedules
    answer = await ext.after_route(target, ep) # pre-request; an answer replaces forwarding
    added = ext.response_header(status, hdrs)  # headers to add for the client
    ext.response_body(chunk, end_of_stream)    # the bytes the client gets

The framework, not the plugins, applies each plugin's ``timeout`` (``asyncio.timeout``)
and ``failureMode``: with ``open`` a timeout or unexpected exception is logged and the
plugin is skipped; with ``closed`` the request is refused with 503
``extension_unavailable`` (the check it depends on is unavailable, and a retry may work).
A ``GatewayError`` raised on purpose (a safety refusal) always propagates. Response-side
hooks are synchronous and always fail open: the response is already under way.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import cast

from inference_gateway.requestcontrol.body import ParsedBody
from inference_gateway.requestcontrol.extensions.base import (
    Admission,
    ImmediateAnswer,
    PrepareData,
    PreRequest,
    RequestContext,
    ResponseBody,
    ResponseHeader,
    points_of,
    prompt_text,
)
from inference_gateway.requestcontrol.types import GatewayError
from inference_gateway.scheduling.framework import Observer

log = logging.getLogger(__name__)


def extension_unavailable(name: str, why: str) -> GatewayError:
    return GatewayError(
        503,
        f"request check {name!r} is unavailable ({why})",
        code="extension_unavailable",
        reason="ServiceUnavailable",
    )


class ExtensionChain:
    """Every configured request-control plugin, grouped by extension point, in config order."""

    def __init__(
        self,
        plugins: Sequence[object],
        *,
        observer: Observer | None = None,
        perf_counter: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.plugins = tuple(plugins)
        self.prepare = [p for p in self.plugins if isinstance(p, PrepareData)]
        self.admission = [p for p in self.plugins if isinstance(p, Admission)]
        self.pre_request = [p for p in self.plugins if isinstance(p, PreRequest)]
        self.response_headers = [p for p in self.plugins if isinstance(p, ResponseHeader)]
        self.response_bodies = [p for p in self.plugins if isinstance(p, ResponseBody)]
        self.observer = observer
        self.perf_counter = perf_counter

    def __bool__(self) -> bool:
        return bool(self.plugins)

    async def start(self) -> None:
        """Start every plugin; a failure closes the ones already started and propagates."""
        started: list[object] = []
        try:
            for plugin in self.plugins:
                start = getattr(plugin, "start", None)
                if callable(start):
                    await start()
                started.append(plugin)
        except BaseException:
            await _close_all(reversed(started))
            raise

    async def close(self) -> None:
        await _close_all(reversed(self.plugins))

    @property
    def has_request_stages(self) -> bool:
        """True when some plugin runs before forwarding (the director's route is then async)."""
        return bool(self.prepare or self.admission or self.pre_request)

    def begin(self, headers: Mapping[str, str], parsed: ParsedBody) -> RequestExtensions | None:
        """The per-request runner over the body the director parsed, or None without plugins."""
        if not self.plugins:
            return None
        ctx = RequestContext(
            headers=headers,
            body=parsed.data,
            api=parsed.api,
            model=parsed.model,
            streaming=parsed.streaming,
            prompt=prompt_text(parsed.api, parsed.data),
        )
        return RequestExtensions(self, ctx)

    async def call(
        self, point: str, plugin: object, fn: Callable[[], object]
    ) -> tuple[bool, object]:
        """Run one plugin call under its timeout and failure mode: ``(ran, result)``."""
        name = str(getattr(plugin, "name", type(plugin).__name__))
        timeout = cast(float | None, getattr(plugin, "timeout", None))
        start = self.perf_counter()
        try:
            async with asyncio.timeout(timeout or None):
                result = fn()
                if inspect.isawaitable(result):
                    result = await result
            return True, result
        except GatewayError:
            raise
        except Exception as e:
            why = "timed out" if isinstance(e, TimeoutError) else f"failed: {e!r}"
            if getattr(plugin, "failure_mode", "open") == "closed":
                log.warning("%s %s %s; failing closed", point, name, why)
                raise extension_unavailable(name, why) from e
            slow = isinstance(e, TimeoutError)
            log.warning("%s %s %s; failing open", point, name, why, exc_info=not slow)
            return False, None
        finally:
            if self.observer is not None:
                kind = str(getattr(plugin, "type", type(plugin).__name__))
                self.observer(point, kind, name, self.perf_counter() - start)


class RequestExtensions:
    """The chain applied to one request; the handler calls it in protocol order."""

    def __init__(self, chain: ExtensionChain, ctx: RequestContext) -> None:
        self.chain = chain
        self.ctx = ctx

    @property
    def needs_response_body(self) -> bool:
        return self.ctx.capture_response

    async def before_route(self) -> None:
        """Prepare-data plugins, then admission plugins; may raise ``GatewayError``."""
        ctx = self.ctx
        for prep in self.chain.prepare:
            await self.chain.call("prepare_data", prep, partial(prep.prepare_data, ctx))
        for adm in self.chain.admission:
            await self.chain.call("admit", adm, partial(adm.admit, ctx))

    async def after_route(self, target_model: str, endpoint: str) -> ImmediateAnswer | None:
        """Pre-request plugins; the first answer wins and the request is not forwarded.

        On an answer the director finishes the request (it was counted in flight) and the
        handler sends the answer as an ImmediateResponse.
        """
        ctx = self.ctx
        ctx.target_model = target_model
        ctx.endpoint = endpoint
        for pre in self.chain.pre_request:
            ran, answer = await self.chain.call(
                "pre_request", pre, partial(pre.pre_request, ctx, endpoint)
            )
            if ran and isinstance(answer, ImmediateAnswer):
                return answer
        return None

    def response_header(
        self, status: int, headers: Mapping[str, str], served_by: str | None = None
    ) -> dict[str, str]:
        self.ctx.status = status
        if served_by:
            self.ctx.served_by = served_by
        added: dict[str, str] = {}
        for plugin in self.chain.response_headers:
            try:
                more = plugin.response_header(self.ctx, status, headers)
            except Exception:
                log.exception("response_header %s failed; ignored", plugin.name)
                continue
            if more:
                added.update(more)
        return added

    def response_body(self, chunk: bytes, end_of_stream: bool) -> None:
        for plugin in self.chain.response_bodies:
            try:
                plugin.response_body(self.ctx, chunk, end_of_stream)
            except Exception:
                log.exception("response_body %s failed; ignored", plugin.name)


async def _close_all(plugins: Iterable[object]) -> None:
    for plugin in plugins:
        close = getattr(plugin, "close", None)
        if not callable(close):
            continue
        try:
            await close()
        except Exception:
            log.exception("closing request-control plugin %r failed", plugin)


def build_chain(plugins: Iterable[object], *, observer: Observer | None = None) -> ExtensionChain:
    """The chain of those built plugins that implement a request-control point.

    ``plugins`` are the instances the composition root built once from the
    EndpointPickerConfig (``scheduling.config.instantiate``); a plugin that also scores or
    filters is the same object here and in the scheduler.
    """
    return ExtensionChain([p for p in plugins if points_of(type(p))], observer=observer)
