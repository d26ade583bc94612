"""``inference-gateway demo`` as a user runs it: a subprocess, a short schedule, a clean end.

The demo puts its working files (Envoy's bootstrap among them) under ``TMPDIR``, which the
tests point at their own ``tmp_path``; a process whose command line still names that
directory after the demo exits is something the demo started and failed to stop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inference_gateway.demo.settings import POD_NAMES

DEMO = [sys.executable, "-m", "inference_gateway", "demo", "--plain"]
pytestmark = pytest.mark.slow


def processes_mentioning(path: Path) -> list[str]:
    """Command lines of live processes that name ``path`` (Envoy's ``-c <workdir>/...``)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def demo_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp_path), "GRPC_VERBOSITY": "ERROR"}


@pytest.mark.timeout(90)
def test_short_demo_runs_end_to_end_and_stops_everything(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    args = [*DEMO, "--seconds", "3", "--rate", "50", "--json", str(out)]
    proc = subprocess.run(
        args, env=demo_env(tmp_path), capture_output=True, text=True, timeout=80, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for pod in POD_NAMES:
        assert pod in proc.stdout
    assert "Same requests, same seed" in proc.stdout
    summaries = json.loads(out.read_text())
    assert [s["policy"] for s in summaries] == ["scorer-mix", "round-robin"]
    for s in summaries:
        assert s["errors"] == 0
        assert s["shed"]["Critical"] == 0 and s["shed"]["Standard"] == 0
        assert s["ok"] + sum(s["shed"].values()) + s["unfinished"] == s["requests"] > 100
        assert sorted(s["per_pod"]) == sorted(POD_NAMES)
        assert all(n > 0 for n in s["per_pod"].values())
        assert sum(s["per_pod"].values()) == s["ok"]
        split = s["per_target"]
        assert split["support -> sql-lora-v1"] > split.get("support -> sql-lora-v2", 0)
        assert split["chat -> chat-lora"] > 0
    # 50 req/s (100 in the burst) against a pool that answers ~33/s saturates it.
    assert summaries[0]["shed"]["Sheddable"] > 0  # flow control: its band holds only 4
    assert set(summaries[0]["ttft_ms_by_criticality"]) == {"Critical", "Standard", "Sheddable"}
    assert processes_mentioning(tmp_path) == []


@pytest.mark.timeout(60)
def test_ctrl_c_stops_envoy_and_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*DEMO, "--seconds", "30", "--no-compare"],
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not processes_mentioning(tmp_path / "igw-demo-") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)  # polling /proc for the Envoy child; there is no event to wait on
        assert processes_mentioning(tmp_path / "igw-demo-"), "Envoy never started"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stdout[-3000:] + stderr[-3000:]
    assert "interrupted" in stdout
    assert processes_mentioning(tmp_path) == []
