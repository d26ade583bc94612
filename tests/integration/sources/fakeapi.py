"""A small fake Kubernetes API server speaking real HTTP, for the watch tests.

What it implements is the part of the protocol the source depends on: namespaced LIST
with a ``resourceVersion``, ``fieldSelector=metadata.name=...`` and ``limit``/``continue``
pages; WATCH as chunked JSON
lines from a resourceVersion (history replayed, then live ADDED/MODIFIED/DELETED, BOOKMARK
on demand), ``timeoutSeconds``, and an ``ERROR`` event with a 410 Status for versions older
than the last compaction; merge-patch of the ``status`` subresource; 404 for resources whose
CRD is "not installed"; and injectable failures (500, 429 with Retry-After). List items of
the core group lose ``apiVersion``/``kind``, as with a real server.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # apiVersion, plural, namespace, name
_EPOCH = datetime.datetime(2026, 1, 1)


def plural_of(obj: Obj) -> str:
    return str(obj["kind"]).lower() + "s"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


@dataclass
class Fault:
    method: str
    plural: str
    status: int
    times: int
    retry_after: float | None = None


@dataclass
class _Stream:
    api_version: str
    plural: str
    namespace: str
    name: str | None
    queue: asyncio.Queue[Obj | None] = field(default_factory=asyncio.Queue)

    def matches(self, api_version: str, plural: str, namespace: str, name: str) -> bool:
        return (api_version, plural, namespace) == (
            self.api_version,
            self.plural,
            self.namespace,
        ) and self.name in (None, name)


class FakeApiServer:
    def __init__(self, *, not_installed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.rv = 100
        self.oldest_rv = 0
        self.objects: dict[Key, Obj] = {}
        self.history: list[tuple[int, Key, Obj]] = []
        self.not_installed = set(not_installed)  # "group/plural"
        self.faults: list[Fault] = []
        self.patches: list[tuple[str, Obj]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.before_patch: list[Callable[[], None]] = []
        """Run (and dropped) one per PATCH before it is applied: a concurrent writer."""
        self.paginate = True
        """Honour ``limit``/``continue`` on LIST (False: answer with everything, as old servers)."""
        self._streams: list[_Stream] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> FakeApiServer:
        app = web.Application()
        app.router.add_get("/api/{version}/namespaces/{ns}/{plural}", self._collection)
        app.router.add_get("/apis/{group}/{version}/namespaces/{ns}/{plural}", self._collection)
        app.router.add_patch(
            "/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}/status", self._patch
        )
        one = "/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}"
        app.router.add_get(one, self._get)
        app.router.add_put(one, self._replace)
        app.router.add_post("/apis/{group}/{version}/namespaces/{ns}/{plural}", self._create)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.drop_watches()
        assert self._runner is not None
        await self._runner.cleanup()

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}
                    ],
                    "users": [{"name": "nobody", "user": {}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "nobody"}}
                    ],
                    "current-context": "fake",
                }
            )
        )
        return path

    # --- the test's levers --------------------------------------------------------------------
    def put(self, obj: Obj) -> Obj:
        """Create or replace an object (ADDED or MODIFIED); returns the stored copy."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        key = (obj["apiVersion"], plural_of(obj), meta["namespace"], meta["name"])
        old = self.objects.get(key)
        if old is None:
            created = _EPOCH + datetime.timedelta(seconds=len(self.objects))
            meta.setdefault("creationTimestamp", created.strftime("%Y-%m-%dT%H:%M:%SZ"))
            meta.setdefault("generation", 1)
        else:
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            meta["generation"] = old["metadata"].get("generation", 1) + 1
            if "status" in old:
                obj.setdefault("status", old["status"])
        self._store(key, obj, "MODIFIED" if old else "ADDED")
        return obj

    def delete(self, api_version: str, kind: str, name: str, namespace: str = "default") -> None:
        key = (api_version, kind.lower() + "s", namespace, name)
        obj = self.objects.pop(key)
        self._store(key, obj, "DELETED")

    def compact(self) -> None:
        """Forget history: watches from any version older than now get 410 Gone."""
        self.oldest_rv = self.rv
        self.history.clear()

    def drop_watches(self) -> None:
        """End every open watch stream, as a restarting API server would."""
        for stream in self._streams:
            stream.queue.put_nowait(None)

    def bookmark(self) -> None:
        for stream in self._streams:
            stream.queue.put_nowait(
                {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": "Bookmark",
                        "metadata": {"resourceVersion": str(self.rv)},
                    },
                }
            )

    def send_raw(self, event: Obj) -> None:
        for stream in self._streams:
            stream.queue.put_nowait(event)

    def fail(
        self,
        method: str,
        plural: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.faults.append(Fault(method, plural, status, times, retry_after))

    def watching(self, plural: str) -> int:
        return sum(1 for s in self._streams if s.plural == plural)

    def watch_requests(self, plural: str) -> list[dict[str, str]]:
        return [q for m, p, q in self.requests if p.endswith(plural) and q.get("watch") == "true"]

    # --- internals ---------------------------------------------------------------------------
    def _store(self, key: Key, obj: Obj, kind: str) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        if kind != "DELETED":
            self.objects[key] = obj
        event = {"type": kind, "object": copy.deepcopy(obj)}
        self.history.append((self.rv, key, event))
        for stream in self._streams:
            if stream.matches(*key):
                stream.queue.put_nowait(event)

    def _fault(self, method: str, plural: str) -> web.Response | None:
        for fault in self.faults:
            if fault.method == method and fault.plural == plural and fault.times > 0:
                fault.times -= 1
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(int(fault.retry_after))
                return self._status(fault.status, "injected failure", headers)
        return None

    @staticmethod
    def _status(code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}
        body["code"] = code  # type: ignore[assignment]
        return web.json_response(body, status=code, headers=headers)

    def _resource(self, request: web.Request) -> tuple[str, str, str] | web.Response:
        info = request.match_info
        group = info.get("group", "")
        api_version = f"{group}/{info['version']}" if group else info["version"]
        if f"{group}/{info['plural']}" in self.not_installed:
            return self._status(404, "the server could not find the requested resource")
        return api_version, info["plural"], info["ns"]

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append(("GET", request.path, query))
        fault = self._fault(
            "WATCH" if query.get("watch") == "true" else "LIST", request.match_info["plural"]
        )
        if fault is not None:
            return fault
        resource = self._resource(request)
        if isinstance(resource, web.Response):
            return resource
        name = None
        selector = query.get("fieldSelector", "")
        if selector.startswith("metadata.name="):
            name = selector.removeprefix("metadata.name=")
        if query.get("watch") == "true":
            return await self._watch(request, *resource, name, query)
        api_version, plural, ns = resource
        items = [
            obj
            for (v, p, n, obj_name), obj in sorted(self.objects.items())
            if (v, p, n) == (api_version, plural, ns) and name in (None, obj_name)
        ]
        meta = {"resourceVersion": str(self.rv)}
        limit = int(query.get("limit") or 0)
        if limit and self.paginate:
            # The token is the offset; a real server's is opaque and pinned to one snapshot.
            start = int(query.get("continue") or 0)
            if start + limit < len(items):
                meta["continue"] = str(start + limit)
            items = items[start : start + limit]
        items = [copy.deepcopy(item) for item in items]
        if "/" not in api_version:
            for item in items:
                item.pop("apiVersion", None)
                item.pop("kind", None)
        return web.json_response({"kind": "List", "metadata": meta, "items": items})

    async def _watch(
        self,
        request: web.Request,
        api_version: str,
        plural: str,
        ns: str,
        name: str | None,
        query: dict[str, str],
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        since = int(query.get("resourceVersion") or 0)
        if since < self.oldest_rv:
            gone = {"kind": "Status", "code": 410, "reason": "Expired", "status": "Failure"}
            gone["message"] = f"too old resource version: {since} ({self.oldest_rv})"
            await response.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            return response
        stream = _Stream(api_version, plural, ns, name)
        for rv, key, event in self.history:
            if rv > since and stream.matches(*key):
                stream.queue.put_nowait(event)
        self._streams.append(stream)
        try:
            async with asyncio.timeout(float(query.get("timeoutSeconds") or 3600)):
                while (live := await stream.queue.get()) is not None:
                    await response.write(json.dumps(live).encode() + b"\n")
        except TimeoutError:
            pass
        finally:
            self._streams.remove(stream)
        return response

    async def _patch(self, request: web.Request) -> web.Response:
        self.requests.append(("PATCH", request.path, dict(request.query)))
        fault = self._fault("PATCH", request.match_info["plural"])
        if fault is not None:
            return fault
        resource = self._resource(request)
        if isinstance(resource, web.Response):
            return resource
        if request.content_type != "application/merge-patch+json":
            return self._status(415, f"unsupported patch type {request.content_type}")
        key = (*resource, request.match_info["name"])
        if key not in self.objects:
            return self._status(404, "not found")
        if self.before_patch:
            self.before_patch.pop(0)()
        body = await request.json()
        self.patches.append((key[3], body))
        sent_rv = (body.get("metadata") or {}).get("resourceVersion")
        if sent_rv is not None and sent_rv != self.objects[key]["metadata"]["resourceVersion"]:
            return self._status(409, "the object has been modified; please apply your changes")
        obj = copy.deepcopy(self.objects[key])
        obj["status"] = merge_patch(obj.get("status"), body.get("status"))
        self._store(key, obj, "MODIFIED")
        return web.json_response(obj)

    # --- single objects (Leases): GET, POST (create, 409 if it exists), PUT (409 if stale) ---
    def _key(self, request: web.Request) -> Key | web.Response:
        resource = self._resource(request)
        if isinstance(resource, web.Response):
            return resource
        return (*resource, request.match_info.get("name", ""))

    async def _get(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, dict(request.query)))
        fault = self._fault("GET", request.match_info["plural"])
        key = fault or self._key(request)
        if isinstance(key, web.Response):
            return key
        if key not in self.objects:
            return self._status(404, "not found")
        return web.json_response(self.objects[key])

    async def _create(self, request: web.Request) -> web.Response:
        self.requests.append(("POST", request.path, dict(request.query)))
        fault = self._fault("POST", request.match_info["plural"])
        resource = fault or self._resource(request)
        if isinstance(resource, web.Response):
            return resource
        body = await request.json()
        key = (*resource, body["metadata"]["name"])
        if key in self.objects:
            return self._status(409, "already exists")
        body["metadata"]["namespace"] = resource[2]
        return web.json_response(self.put(body), status=201)

    async def _replace(self, request: web.Request) -> web.Response:
        self.requests.append(("PUT", request.path, dict(request.query)))
        fault = self._fault("PUT", request.match_info["plural"])
        key = fault or self._key(request)
        if isinstance(key, web.Response):
            return key
        if key not in self.objects:
            return self._status(404, "not found")
        body = await request.json()
        sent_rv = (body.get("metadata") or {}).get("resourceVersion")
        if sent_rv != self.objects[key]["metadata"]["resourceVersion"]:
            return self._status(409, "the object has been modified; please apply your changes")
        return web.json_response(self.put(body))
