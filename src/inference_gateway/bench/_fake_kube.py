"""The ``bench pool-load`` child process: a Kubernetes API server holding one big pool.

It runs in its own process, as a real API server would, so encoding thousands of Pods costs
the measured loop nothing. It answers what the Kubernetes source asks: the InferencePool by
name, Pods as a LIST in ``limit``/``continue`` pages, watches that stay open and quiet, and
404 for the optional CRDs (as in a cluster without them). The Pods are shaped like what a
real cluster returns for a vLLM Deployment (labels, owner, managedFields, conditions,
container statuses), ~2 KB of JSON each.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

GA = "inference.networking.k8s.io/v1"
NAMESPACE = "default"
POOL_NAME = "bench"
_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


def pod_address(i: int) -> str:
    """Loopback addresses (refused at once if scraped): 127.1.0.11, 127.1.0.12, ..."""
    return f"127.{1 + i // 62500}.{(i // 250) % 250}.{11 + i % 250}"


def pool_object() -> dict[str, Any]:
    return {
        "apiVersion": GA,
        "kind": "InferencePool",
        "metadata": {"name": POOL_NAME, "namespace": NAMESPACE, "resourceVersion": "10"},
        "spec": {
            "selector": {"matchLabels": {"app": "vllm-llama"}},
            "targetPorts": [{"number": 8000}],
            "endpointPickerRef": {"name": "epp", "port": {"number": 9002}},
        },
    }


def pod_object(i: int, *, address: str | None = None) -> dict[str, Any]:
    stamp = "2026-01-01T00:00:00Z"
    managed: dict[str, Any] = {
        f'k:{{"type":"{t}"}}': {".": {}, "f:lastProbeTime": {}, "f:status": {}, "f:type": {}}
        for t in _CONDITIONS
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"vllm-llama-7d9f8c6b5-{i:05d}",
            "namespace": NAMESPACE,
            "uid": f"0b6a3f3e-5d1c-4c8e-9a53-{i:012d}",
            "resourceVersion": str(1000 + i),
            "creationTimestamp": stamp,
            "generateName": "vllm-llama-7d9f8c6b5-",
            "labels": {"app": "vllm-llama", "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "vllm-llama-7d9f8c6b5",
                    "uid": "5f0c1d7e-2b4a-4e8f-9c3d-6a7b8c9d0e1f",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": stamp,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:conditions": managed}},
                    "subresource": "status",
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "vllm",
                    "image": "vllm/vllm-openai:v0.8.5",
                    "args": ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000"],
                    "ports": [{"containerPort": 8000, "name": "http", "protocol": "TCP"}],
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
            "nodeName": f"gpu-node-{i % 400}",
            "restartPolicy": "Always",
        },
        "status": {
            "phase": "Running",
            "podIP": address or pod_address(i),
            "hostIP": f"192.168.{i % 400 // 250}.{i % 250 + 1}",
            "startTime": stamp,
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": stamp} for t in _CONDITIONS
            ],
            "containerStatuses": [
                {
                    "name": "vllm",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "image": "vllm/vllm-openai:v0.8.5",
                    "state": {"running": {"startedAt": stamp}},
                }
            ],
        },
    }


def serve_main() -> None:
    """Child entry point: argv = pods; prints the port; stops at EOF on stdin."""
    asyncio.run(_serve(int(sys.argv[1])))


async def _serve(pods: int) -> None:
    from aiohttp import web

    items = [pod_object(i) for i in range(pods)]
    for item in items:  # a real server drops these from the items of a core-group list
        del item["apiVersion"], item["kind"]
    pool = pool_object()

    def listing(found: list[dict[str, Any]], meta: dict[str, str]) -> web.Response:
        meta["resourceVersion"] = "20000"
        body = {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": found}
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    async def quiet_watch(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await asyncio.sleep(float(request.query.get("timeoutSeconds") or 300))
        return response

    async def pods_handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "true":
            return await quiet_watch(request)
        limit = int(request.query.get("limit") or len(items) or 1)
        start = int(request.query.get("continue") or 0)
        meta = {"continue": str(start + limit)} if start + limit < len(items) else {}
        return listing(items[start : start + limit], meta)

    async def pools_handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "true":
            return await quiet_watch(request)
        return listing([pool], {})

    async def missing(request: web.Request) -> web.Response:
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}
        return web.json_response(status, status=404)

    app = web.Application()
    app.router.add_get(f"/api/v1/namespaces/{NAMESPACE}/pods", pods_handler)
    app.router.add_get(f"/apis/{GA}/namespaces/{NAMESPACE}/inferencepools", pools_handler)
    app.router.add_route("*", "/{tail:.*}", missing)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    await runner.cleanup()
