"""A thin JSON client over ``kubernetes_asyncio``'s ApiClient: list, watch stream, patch status.

Objects stay plain dicts (``api.parse_object`` validates them later) because the generated
models know nothing of our CRDs. Every request goes through ``_send``, the one place where
HTTP statuses and transport failures become our ``ApiError``s, and ``_retrying``, the one
place where transient failures are retried over ``request_backoff``.

List items of built-in kinds come without ``apiVersion``/``kind``; they are filled in from
the resource, so the same object parses the same way whether listed or watched.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from inference_gateway.sources.kubernetes.errors import (
    ApiError,
    TooManyRequests,
    TransportError,
    from_response,
    transient,
)
from inference_gateway.sources.kubernetes.settings import KubeSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
Obj = dict[str, Any]
Page = tuple[list[Obj], str]
"""One LIST page: its objects and the list's resourceVersion."""


@dataclass(frozen=True, slots=True)
class Resource:
    group: str
    """``""`` for the core group."""
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{base}/namespaces/{namespace}/{self.plural}"
        for part in (name, sub):
            if part is not None:
                path += f"/{part}"
        return path


class KubeClient:
    def __init__(self, api: k8s_client.ApiClient, settings: KubeSettings) -> None:
        self._api = api
        self._settings = settings

    @classmethod
    async def connect(cls, kubeconfig: str | None, settings: KubeSettings) -> KubeClient:
        """In-cluster service account if there is one, else the kubeconfig (default path)."""
        if kubeconfig is None:
            configuration = k8s_client.Configuration()
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except k8s_config.ConfigException:
                await k8s_config.load_kube_config(client_configuration=configuration)
            return cls(k8s_client.ApiClient(configuration=configuration), settings)
        api = await k8s_config.new_client_from_config(config_file=kubeconfig)
        return cls(api, settings)

    async def close(self) -> None:
        await self._api.close()

    async def list(
        self, resource: Resource, namespace: str, *, field_selector: str | None = None
    ) -> tuple[list[Obj], str]:
        """All objects and the list's resourceVersion, the point a watch continues from."""
        items: list[Obj] = []
        rv = ""
        pages = self.list_pages(resource, namespace, field_selector=field_selector)
        async for page, page_rv in pages:
            items += page
            rv = page_rv
        return items, rv

    async def list_pages(
        self, resource: Resource, namespace: str, *, field_selector: str | None = None
    ) -> AsyncIterator[Page]:
        """The objects in pages of ``list_page_size``, each with the list's resourceVersion.

        Pages come from one consistent snapshot (``continue`` tokens); a server that ignores
        ``limit`` sends one page. An expired token is a 410, and the caller lists afresh.
        """
        query = {"limit": str(self._settings.list_page_size)}
        if field_selector:
            query["fieldSelector"] = field_selector
        path = resource.path(namespace)
        while True:
            get = functools.partial(self._get_json, path, dict(query))
            body = await self._retrying(f"list {resource.plural}", get)
            meta = body.get("metadata") or {}
            items = [_typed(item, resource) for item in body.get("items") or ()]
            yield items, str(meta.get("resourceVersion") or "")
            token = meta.get("continue")
            if not token:
                return
            query["continue"] = str(token)

    async def _get_json(self, path: str, query: Mapping[str, str]) -> Obj:
        async with self._send("GET", path, query=query) as response:
            return _json_object(await _read(response))

    @asynccontextmanager
    async def watch(
        self,
        resource: Resource,
        namespace: str,
        *,
        resource_version: str,
        field_selector: str | None = None,
    ) -> AsyncIterator[AsyncIterator[Obj]]:
        """One watch stream: raw events until the server ends it or it falls silent."""
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(self._settings.watch_timeout),
        }
        if field_selector:
            query["fieldSelector"] = field_selector
        path = resource.path(namespace)
        opened = await self._retrying(
            f"watch {resource.plural}", lambda: self._open("GET", path, query=query)
        )
        events = self._events(opened, resource)
        try:
            yield events
        finally:
            await events.aclose()
            opened.release()

    async def patch_status(self, resource: Resource, namespace: str, name: str, patch: Obj) -> Obj:
        """Merge-patch the status subresource; returns the object as the server now has it."""
        path = resource.path(namespace, name, "status")

        async def once() -> Obj:
            async with self._send(
                "PATCH", path, body=patch, content_type="application/merge-patch+json"
            ) as response:
                return _json_object(await _read(response))

        return _typed(
            await self._retrying(f"patch {resource.plural}/{name}/status", once), resource
        )

    async def _events(
        self, response: aiohttp.ClientResponse, resource: Resource
    ) -> AsyncGenerator[Obj, None]:
        # Lines are split by hand: aiohttp's readline() refuses lines over 128 KiB, and a Pod
        # with its managedFields can be that big.
        buffer = b""
        while True:
            try:
                async with asyncio.timeout(self._settings.inactivity_timeout):
                    chunk = await response.content.readany()
            except TimeoutError:
                log.info(
                    "watch %s: silent for %ss; reconnecting",
                    resource.plural,
                    self._settings.inactivity_timeout,
                )
                return
            except aiohttp.ClientError as e:
                raise TransportError(0, f"watch {resource.plural}: {e}") from e
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    event = _json_object(line)
                    obj = event.get("object")
                    if isinstance(obj, dict) and event.get("type") in (
                        "ADDED",
                        "MODIFIED",
                        "DELETED",
                    ):
                        _typed(obj, resource)
                    yield event

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        response = await self._open(method, path, query=query, body=body, content_type=content_type)
        try:
            yield response
        finally:
            response.release()

    async def _open(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
    ) -> aiohttp.ClientResponse:
        timeout = aiohttp.ClientTimeout(
            connect=self._settings.connect_timeout, sock_connect=self._settings.connect_timeout
        )
        try:
            response: aiohttp.ClientResponse = await self._api.call_api(
                path,
                method,
                query_params=list((query or {}).items()),
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransportError(0, f"{method} {path}: {e!r}") from e
        if response.status >= 300:
            try:
                text = (await response.read()).decode("utf-8", "replace")
            except aiohttp.ClientError:
                text = ""
            finally:
                response.release()
            raise from_response(response.status, response.reason or "", text, response.headers)
        return response

    async def _retrying(self, what: str, once: Callable[[], Awaitable[T]]) -> T:
        delays = self._settings.request_backoff
        attempts = len(delays) + 1
        for attempt in range(1, attempts + 1):
            try:
                return await once()
            except ApiError as e:
                if not transient(e) or attempt == attempts:
                    raise
                delay = delays[attempt - 1]
                if isinstance(e, TooManyRequests):
                    delay = max(delay, e.retry_after)
                log.warning(
                    "%s: attempt #%d/%d failed; will retry in %.2fs: %s",
                    what,
                    attempt,
                    attempts,
                    delay,
                    e,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")


async def _read(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    except aiohttp.ClientError as e:
        raise TransportError(0, f"reading {response.url.path}: {e!r}") from e


def _json_object(raw: bytes) -> Obj:
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise TransportError(0, f"not JSON: {raw[:200]!r}") from e
    if not isinstance(doc, dict):
        raise TransportError(0, f"not a JSON object: {raw[:200]!r}")
    return doc


def _typed(obj: Obj, resource: Resource) -> Obj:
    obj.setdefault("apiVersion", resource.api_version)
    obj.setdefault("kind", resource.kind)
    return obj
