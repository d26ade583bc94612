"""``x-gateway-debug: true`` answers with why an endpoint was chosen: the one that served."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.scheduling.conftest import cluster, specs

HOSTS = ("127.0.0.61", "127.0.0.62", "127.0.0.63")


def fields(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split("; "))


@pytest.mark.parametrize("plugins", ["default", "scorer-mix", "predicted"])
async def test_debug_header_names_the_endpoint_that_served(tmp_path: Path, plugins: str) -> None:
    async with cluster(tmp_path, specs(HOSTS), plugins=plugins) as c:
        served = set()
        for _ in range(12):
            reply = await c.chat(headers={"x-gateway-debug": "true"})
            assert reply.status == 200, reply.body
            explained = fields(reply.headers["x-gateway-debug"])
            assert explained["pick"] == reply.served_by
            assert explained["n"] == "3" and explained["stale"] == "0"
            if plugins == "default":
                assert "lora-affinity-filter:" in explained["filters"]
                assert "least-queue-filter:" in explained["filters"]
            else:
                top = explained["scores"].split("|")
                assert top[0].startswith(f"{reply.served_by}:")
                assert len(top) == 3
                if plugins == "predicted":  # each candidate's predicted TTFT and TPOT
                    assert all("latency-predictor=" in t and "ttft=" in t for t in top)
                    assert all("tpot=" in t and t.endswith("ms)") for t in top)
                else:
                    assert "queue-scorer=" in top[0]
            served.add(reply.served_by)
        assert len(served) >= 2, "idle equal pods should share the traffic"
        plain = await c.chat()
        assert plain.status == 200 and "x-gateway-debug" not in plain.headers
