"""The datastore: derived endpoints, oldest-wins models, listeners and counters."""

from __future__ import annotations

from inference_gateway.datastore import (
    Datastore,
    DesiredState,
    Endpoint,
    Metrics,
    ModelInfo,
    PodInfo,
    PoolInfo,
)


class Recorder:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.removed: list[str] = []

    def endpoint_added(self, endpoint: Endpoint) -> None:
        self.added.append(endpoint.hostport)

    def endpoint_removed(self, endpoint: Endpoint) -> None:
        self.removed.append(endpoint.hostport)


POOL = PoolInfo(name="pool", namespace="ns", selector={"app": "vllm"}, target_ports=(8000,))


def pod(name: str, ip: str, **kw: object) -> PodInfo:
    fields: dict[str, object] = {"labels": {"app": "vllm"}, "ready": True}
    fields.update(kw)
    return PodInfo(name=name, namespace="ns", address=ip, **fields)  # type: ignore[arg-type]


def test_pods_join_when_ready_matching_and_in_namespace() -> None:
    ds = Datastore()
    ds.upsert_pool(POOL)
    ds.upsert_pod(pod("a", "127.0.0.11"))
    ds.upsert_pod(pod("b", "127.0.0.12", ready=False))
    ds.upsert_pod(pod("c", "127.0.0.13", labels={"app": "other"}))
    ds.upsert_pod(pod("d", "127.0.0.14", terminating=True))
    ds.upsert_pod(
        PodInfo(name="e", namespace="elsewhere", address="127.0.0.15", labels={"app": "vllm"})
    )
    assert [e.hostport for e in ds.endpoints(POOL.key)] == ["127.0.0.11:8000"]


def test_readiness_flip_notifies_listeners_and_drops_metrics() -> None:
    rec = Recorder()
    ds = Datastore(listeners=[rec])
    ds.upsert_pool(POOL)
    ds.upsert_pod(pod("a", "127.0.0.11"))
    ds.set_metrics("127.0.0.11:8000", Metrics(waiting=3, updated_at=1.0))
    assert ds.endpoints(POOL.key)[0].metrics.waiting == 3
    ds.upsert_pod(pod("a", "127.0.0.11", ready=False))
    assert ds.endpoints(POOL.key) == ()
    assert rec.added == ["127.0.0.11:8000"] and rec.removed == ["127.0.0.11:8000"]
    ds.upsert_pod(pod("a", "127.0.0.11"))
    assert ds.endpoints(POOL.key)[0].metrics.updated_at == float("-inf")


def test_metrics_for_unknown_endpoints_are_ignored() -> None:
    ds = Datastore()
    ds.set_metrics("127.0.0.99:8000", Metrics(waiting=1))
    assert ds.metrics("127.0.0.99:8000") is None


def test_multiple_target_ports_make_ranked_endpoints_honouring_active_ports() -> None:
    ds = Datastore()
    ds.upsert_pool(
        PoolInfo(name="dp", namespace="ns", selector={"app": "vllm"}, target_ports=(8000, 8002))
    )
    ds.upsert_pod(pod("a", "127.0.0.11"))
    ds.upsert_pod(
        pod("b", "127.0.0.12", annotations={"inference.networking.k8s.io/active-ports": "8002"})
    )
    names = [(e.name, e.port) for e in ds.endpoints("ns/dp")]
    assert names == [("a-rank-0", 8000), ("a-rank-1", 8002), ("b-rank-1", 8002)]


def test_oldest_model_claim_wins_and_the_loser_takes_over_when_it_goes() -> None:
    ds = Datastore()
    young = ModelInfo(name="young", namespace="ns", model_name="m", pool="pool", created=20.0)
    old = ModelInfo(name="old", namespace="ns", model_name="m", pool="pool", created=10.0)
    ds.upsert_model(young)
    ds.upsert_model(old)
    assert ds.model("m") == old
    assert ds.model_accepted(old.key) and not ds.model_accepted(young.key)
    ds.delete_model(old.key)
    assert ds.model("m") == young


def test_in_flight_counts_never_go_negative() -> None:
    ds = Datastore()
    ds.upsert_pool(POOL)
    ds.upsert_pod(pod("a", "127.0.0.11"))
    ds.acquire("127.0.0.11:8000")
    ds.acquire("127.0.0.11:8000")
    assert ds.endpoints(POOL.key)[0].in_flight == 2
    for _ in range(3):
        ds.release("127.0.0.11:8000")
    assert ds.in_flight("127.0.0.11:8000") == 0


def test_sync_replaces_everything_and_reports_the_difference() -> None:
    rec = Recorder()
    ds = Datastore(listeners=[rec])
    ds.sync(DesiredState(pools=(POOL,), pods=(pod("a", "127.0.0.11"), pod("b", "127.0.0.12"))))
    ds.sync(DesiredState(pools=(POOL,), pods=(pod("b", "127.0.0.12"), pod("c", "127.0.0.13"))))
    assert [e.name for e in ds.endpoints(POOL.key)] == ["b", "c"]
    assert rec.added == ["127.0.0.11:8000", "127.0.0.12:8000", "127.0.0.13:8000"]
    assert rec.removed == ["127.0.0.11:8000"]


def test_a_late_listener_hears_about_existing_endpoints() -> None:
    ds = Datastore()
    ds.upsert_pool(POOL)
    ds.upsert_pod(pod("a", "127.0.0.11"))
    rec = Recorder()
    ds.add_listener(rec)
    assert rec.added == ["127.0.0.11:8000"]
