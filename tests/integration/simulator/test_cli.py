"""``inference-gateway sim --replicas 4`` as a real subprocess, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp


async def test_sim_cli_serves_four_pods_and_exits_cleanly() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inference_gateway", "sim", "--replicas", "4",
        "--host", "127.0.0.11", "--port", "0", "--name", "cli", "--model", "m",
        "--time-scale", "0.05",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        async with asyncio.timeout(15):
            while (line := (await proc.stdout.readline()).decode().strip()) != "ready":
                assert line, "sim exited before it was ready"
                lines.append(line)
        names = [line.split()[0] for line in lines]
        urls = [line.split()[1] for line in lines]
        assert names == ["cli-0", "cli-1", "cli-2", "cli-3"]
        assert [u.split(":")[1] for u in urls] == [f"//127.0.0.{i}" for i in range(11, 15)]
        async with aiohttp.ClientSession() as http:
            for name, url in zip(names, urls, strict=True):
                async with http.get(f"{url}/health") as resp:
                    assert resp.status == 200 and resp.headers["x-served-by"] == name
            body = {"model": "m", "prompt": "hi", "max_tokens": 3}
            async with http.post(f"{urls[2]}/v1/completions", json=body) as resp:
                assert resp.status == 200 and (await resp.json())["model"] == "m"
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
