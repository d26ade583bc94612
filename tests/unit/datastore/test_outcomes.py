"""Passive health records: consecutive failures per endpoint, cleared by one success."""

from __future__ import annotations

from inference_gateway.datastore import Datastore, PodInfo, PoolInfo

POOL = PoolInfo(name="pool", namespace="ns", selector={"app": "vllm"}, target_ports=(8000,))
A, B = "127.0.0.11:8000", "127.0.0.12:8000"


def store() -> Datastore:
    ds = Datastore()
    ds.upsert_pool(POOL)
    for name, ip in (("a", "127.0.0.11"), ("b", "127.0.0.12")):
        ds.upsert_pod(PodInfo(name=name, namespace="ns", address=ip, labels={"app": "vllm"}))
    return ds


def snapshot(ds: Datastore) -> dict[str, tuple[int, float]]:
    return {e.hostport: (e.consecutive_failures, e.last_failure_at) for e in ds.endpoints(POOL.key)}


def test_failures_count_up_per_endpoint_and_one_success_clears_them() -> None:
    ds = store()
    assert snapshot(ds) == {A: (0, float("-inf")), B: (0, float("-inf"))}
    ds.record_outcome(A, ok=False, now=1.0)
    ds.record_outcome(A, ok=False, now=2.5)
    ds.record_outcome(B, ok=True, now=2.6)
    assert snapshot(ds) == {A: (2, 2.5), B: (0, float("-inf"))}
    assert ds.failures(A) == 2
    ds.record_outcome(A, ok=True, now=3.0)
    assert snapshot(ds)[A] == (0, float("-inf"))


def test_unknown_endpoints_are_not_tracked_and_a_leaving_pod_takes_its_record() -> None:
    ds = store()
    ds.record_outcome("127.0.0.99:8000", ok=False, now=1.0)
    assert ds.failures("127.0.0.99:8000") == 0
    ds.record_outcome(A, ok=False, now=1.0)
    ds.delete_pod("ns/a")
    ds.upsert_pod(PodInfo(name="a", namespace="ns", address="127.0.0.11", labels={"app": "vllm"}))
    assert snapshot(ds)[A] == (0, float("-inf"))
