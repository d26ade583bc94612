"""Flow control in the virtual-time harness, the ``service`` baseline, ``multi-tenant``."""

from __future__ import annotations

import pytest

from inference_gateway.bench import harness, policies, workloads
from inference_gateway.bench.flow_bench import jain, max_min_shares, run_experiment
from inference_gateway.bench.service import CONNECTIONS_PER_POD, ConnectionScheduler
from inference_gateway.bench.stats import Status
from inference_gateway.bench.sweep import SweepConfig
from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.types import LLMRequest


def test_fc_variant_of_any_policy() -> None:
    p = policies.resolve("default+fc")
    assert p.flow_control and p.name == "default+fc"
    config = policies.load(p)  # the EPP's config, with the feature gate and section
    assert "flowControl" in config.feature_gates and config.flow_control is not None
    assert config.flow_control["priorityBands"][0]["maxRequests"] == 2
    assert policies.resolve("oracle:scorer-mix+fc").oracle
    assert not policies.resolve("service").admission


def test_service_pins_connections_not_requests() -> None:
    import random

    eps = [Endpoint(f"p{i}", f"10.0.0.{i}", 8000) for i in range(4)]
    s = ConnectionScheduler(random.Random(3))
    llm = LLMRequest("r", "m", "m")
    picks = [s.schedule(llm, eps, 0.0).primary.name for _ in range(8 * CONNECTIONS_PER_POD)]
    cycle = len(eps) * CONNECTIONS_PER_POD
    assert picks[:cycle] == picks[cycle : 2 * cycle]  # the same connections, in turn


def test_multi_tenant_workload_has_a_heavy_and_a_light_tenant_and_critical_trickle() -> None:
    reqs = workloads.generate(workloads.WORKLOADS["multi-tenant"], 200.0, 20.0, 0)
    tenants = [r.tenant for r in reqs]
    heavy, light = tenants.count("tenant-0"), tenants.count("tenant-1")
    critical = [r for r in reqs if r.criticality.value == "Critical"]
    assert 7 < heavy / light < 14
    assert critical and all(r.tenant == "interactive" for r in critical)
    plain = workloads.generate(workloads.WORKLOADS["mixed-criticality"], 50.0, 5.0, 0)
    assert all(r.tenant == "" for r in plain)


def test_flow_control_run_keeps_every_request_accounted_for() -> None:
    config = SweepConfig("mixed-criticality", pods=2, stage_seconds=6.0)
    setup = config.setup()
    stream = workloads.generate(config.spec(), 150.0, 8.0, 0)
    res = harness.run(
        setup, policies.resolve("default+fc"), stream, warmup=2.0, duration=6.0, seed=0
    )
    assert len(res.outcomes) == len(stream)
    by = {s: sum(1 for o in res.outcomes if o.status is s) for s in Status}
    assert by[Status.OK] > 0 and by[Status.SHED] > 0  # overloaded: the Sheddable band fills
    shed = [o for o in res.outcomes if o.status is Status.SHED]
    assert {o.criticality for o in shed} == {"Sheddable"}
    assert res.contended is not None


def test_overload_puts_critical_ahead_with_flow_control() -> None:
    _, rows = run_experiment(
        "mixed-criticality", [1.4], ["default", "default+fc"], pods=2, stage_seconds=8.0
    )
    plain, fc = rows
    assert fc.by_class["Critical"]["ttft_p90"] < plain.by_class["Critical"]["ttft_p90"]
    shed_p90 = fc.by_class["Sheddable"]["ttft_p90"]  # NaN: none completed at all
    assert not fc.by_class["Standard"]["ttft_p90"] >= shed_p90


@pytest.mark.parametrize(
    ("demands", "capacity", "shares"),
    [([10, 1], 6, [5, 1]), ([10, 1], 20, [10, 1]), ([3, 3], 4, [2, 2])],
)
def test_max_min_shares(demands: list[float], capacity: float, shares: list[float]) -> None:
    assert max_min_shares(demands, capacity) == shares


def test_jain() -> None:
    assert jain([1, 1]) == 1.0 and jain([1, 0]) == 0.5


def test_flow_overhead_measures_three_real_directors() -> None:
    import random

    from inference_gateway.bench import flow_overhead as fo

    store = fo._store(3, random.Random(0))
    off, on, plain = (fo._director(store, f) for f in ("off", "on", "plain"))
    assert off.flow is None and on.flow is not None and plain.flow is not None
    assert type(on.flow.flow.gate).__name__ == "ConcurrencyGate" and on.flow.flow.usage.gates
    assert type(plain.flow.flow.gate).__name__ == "SaturationGate"
    (row,) = fo.run(pod_counts=(3,), rounds=1)
    assert row.off_us > 0 and row.on_us > 0 and row.plain_us > 0
    assert "| 3 |" in fo.table([row])
