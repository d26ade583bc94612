"""The ``run``, ``epp`` and ``envoy-config`` commands as a user runs them."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp
import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from typer.testing import CliRunner

from inference_gateway.cli import build_app
from tests.integration.gateway.conftest import LLAMA, base_config
from tests.integration.gateway.pods import documents, run_pods


async def read_until(stream: asyncio.StreamReader, pattern: str) -> re.Match[str]:
    """Read lines until one matches; the caller bounds the wait with a timeout."""
    seen = []
    async with asyncio.timeout(20):
        while line := (await stream.readline()).decode():
            seen.append(line)
            if found := re.search(pattern, line):
                return found
    raise AssertionError("".join(seen))


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inference_gateway", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def start_run(config: Path, *extra: str) -> asyncio.subprocess.Process:
    """``run`` on ephemeral ports, logging warnings and worse to stderr."""
    return await start(
        "run", "-f", str(config), "--port", "0", "--admin-port", "0", "--grpc-port", "0",
        "--metrics-port", "0", "--log-level", "warning", *extra,
    )  # fmt: skip


async def stop(proc: asyncio.subprocess.Process, sig: signal.Signals) -> int:
    proc.send_signal(sig)
    async with asyncio.timeout(20):
        await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode


async def test_run_serves_until_interrupted(tmp_path: Path) -> None:
    async with (
        run_pods(["127.0.0.11", "127.0.0.12"]) as a,
        run_pods(["127.0.0.13", "127.0.0.14"]) as b,
    ):
        config = tmp_path / "gw.yaml"
        config.write_text(documents(*base_config(a, b)))
        proc = await start_run(config)
        try:
            assert proc.stderr is not None
            url = (await read_until(proc.stderr, r"(http://127\.0\.0\.1:\d+)/v1"))[1]
            body = {"model": LLAMA, "messages": [{"role": "user", "content": "hi"}]}
            async with (
                aiohttp.ClientSession() as session,
                session.post(url + "/v1/chat/completions", json=body) as resp,
            ):
                assert resp.status == 200
                assert (await resp.json())["model"] == LLAMA
        finally:
            code = await stop(proc, signal.SIGINT)
        assert code == 0


async def test_run_exits_non_zero_with_envoys_last_words_when_envoy_dies(
    tmp_path: Path,
) -> None:
    async with run_pods(["127.0.0.11"]) as a, run_pods(["127.0.0.13"]) as b:
        config = tmp_path / "gw.yaml"
        config.write_text(documents(*base_config(a, b)))
        proc = await start_run(config)
        assert proc.stderr is not None
        admin = (await read_until(proc.stderr, r"Envoy admin: (http://127\.0\.0\.1:\d+)"))[1]
        async with aiohttp.ClientSession() as session, session.post(admin + "/quitquitquit"):
            pass
        async with asyncio.timeout(20):
            _, err = await proc.communicate()
        assert proc.returncode == 1
        assert "Envoy exited" in err.decode()


@pytest.mark.parametrize("transport", ["inline", "grpcio"])
async def test_epp_serves_health_on_its_own_port(tmp_path: Path, transport: str) -> None:
    async with run_pods(["127.0.0.11"]) as a, run_pods(["127.0.0.13"]) as b:
        config = tmp_path / "gw.yaml"
        config.write_text(documents(*base_config(a, b)))
        proc = await start(
            "epp", "--pool-file", str(config), "--host", "127.0.0.1", "--grpc-port", "0",
            "--grpc-health-port", "0", "--metrics-port", "0", "--metrics-host", "127.0.0.1",
            "--transport", transport,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            found = await read_until(proc.stderr, r"ext_proc 127\.0\.0\.1:(\d+), health (\d+)")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{found[2]}") as channel:
                check = health_pb2_grpc.HealthStub(channel).Check
                reply = await check(health_pb2.HealthCheckRequest(service=""))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            code = await stop(proc, signal.SIGTERM)
        assert code == 0


def test_envoy_config_prints_a_bootstrap_for_the_file(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(Path("examples/standalone.yaml").read_text())
    eds = tmp_path / "eds"
    result = CliRunner().invoke(
        build_app(), ["envoy-config", "-f", str(config), "--eds-dir", str(eds)]
    )
    assert result.exit_code == 0, result.output
    bootstrap = yaml.safe_load(result.output)
    listener = bootstrap["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"]["port_value"] == 8081
    assert (eds / "fallback_eds.json").exists()


async def test_run_with_an_invalid_config_says_why_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferencePool\n"
        "metadata: {name: x}\n"
        "spec: {selector: {}, targetPortNumber: 99999, extensionRef: {name: e}}\n"
    )
    proc = await start("run", "-f", str(config), "--port", "0", "--admin-port", "0")
    async with asyncio.timeout(20):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "targetPortNumber" in err.decode()


async def test_run_takes_the_scrape_interval_and_warns_when_it_outgrows_staleness(
    tmp_path: Path,
) -> None:
    """A big pool needs a longer interval in standalone mode too (README); 150 ms against
    the detector's 200 ms threshold is named at startup."""
    async with run_pods(["127.0.0.11"]) as a, run_pods(["127.0.0.12"]) as b:
        config = tmp_path / "gw.yaml"
        config.write_text(documents(*base_config(a, b)))
        proc = await start_run(
            config, "--refresh-metrics-interval", "150ms", "--metrics-staleness-threshold", "3s"
        )
        try:
            assert proc.stderr is not None
            line = await read_until(proc.stderr, r"metrics are scraped every (\d+) ms.*")
            assert line[1] == "150" and "at least 300 ms" in line[0]
        finally:
            await stop(proc, signal.SIGINT)
