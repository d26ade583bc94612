"""The EPP starts as upstream's Deployment runs it: read-only root, non-root user, no /tmp.

A private mount namespace (``unshare -m``, root only) remounts every writable filesystem the
process could use (``/``, ``/dev/shm``, ``/tmp`` if separate) read-only, and ``setpriv``
drops to uid/gid 65532 as the image does; ``TMPDIR`` and ``HOME`` point nowhere. The script
first proves that nothing is writable, then runs the real ``epp`` in Kubernetes mode with
its self-signed TLS pair, which must serve a TLS handshake and become ready.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.gateway.test_cli import read_until, stop
from tests.integration.sources.conftest import make_pool
from tests.integration.sources.fakeapi import FakeApiServer
from tests.unit.extproc.test_tls import presented_cert

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare(1) for a private read-only mount namespace",
)

# If the interpreter sits under a directory other users cannot enter (a pyenv in /root), a
# tmpfs over that directory exposes just the interpreter's subtree (bound from an open fd),
# the image's layout in miniature. Then every writable mount goes read-only, and the script
# checks as the unprivileged user that no write gets through.
SCRIPT = r"""
set -e
mount --make-rprivate /
if [ -n "$PRIVATE_DIR" ]; then
  exec 9<"$EXPOSE_DIR"
  mount -t tmpfs -o mode=0755,size=1m tmpfs "$PRIVATE_DIR"
  mkdir -p "$EXPOSE_DIR"
  mount -c --bind "/proc/$$/fd/9" "$EXPOSE_DIR"
  exec 9<&-
fi
for m in / /dev/shm /tmp /var/tmp "$PRIVATE_DIR" "$EXPOSE_DIR"; do
  if [ -n "$m" ] && mountpoint -q "$m"; then mount -o remount,bind,ro "$m"; fi
done
for probe in /tmp/igw-probe /igw-probe /dev/shm/igw-probe "$WORK/igw-probe"; do
  if setpriv --reuid 65532 --regid 65532 --clear-groups touch "$probe" 2>/dev/null; then
    echo "WRITABLE $probe" >&2; exit 3
  fi
done
exec setpriv --reuid 65532 --regid 65532 --clear-groups \
  env TMPDIR=/nonexistent HOME=/nonexistent "$@"
"""


def _expose(executable: str) -> dict[str, str]:
    """The first ancestor of the interpreter others cannot enter, and its child to expose."""
    parts = Path(os.path.realpath(executable)).parts
    for i in range(1, len(parts) - 1):
        directory = Path(*parts[: i + 1])
        if not directory.stat().st_mode & 0o001:
            return {"PRIVATE_DIR": str(directory), "EXPOSE_DIR": str(Path(*parts[: i + 2]))}
    return {"PRIVATE_DIR": "", "EXPOSE_DIR": ""}


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """pytest's tmp_path is private to root; the unprivileged EPP must read its kubeconfig."""
    path = Path(tempfile.mkdtemp(prefix="igw-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


async def test_epp_serves_tls_on_a_read_only_root_as_non_root(world_readable_dir: Path) -> None:
    async with FakeApiServer() as api:
        api.put(make_pool(ports=(8000,)))
        kubeconfig = api.kubeconfig(world_readable_dir / "kubeconfig")
        kubeconfig.chmod(0o644)
        env = {**os.environ, "WORK": str(world_readable_dir), **_expose(sys.executable)}
        proc = await asyncio.create_subprocess_exec(
            "unshare", "-m", "sh", "-c", SCRIPT, "sh",
            sys.executable, "-m", "inference_gateway", "epp", "--pool-name", "pool",
            "--kubeconfig", str(kubeconfig), "--host", "127.0.0.1", "--grpc-port", "0",
            "--grpc-health-port", "0", "--metrics-port", "0", "--metrics-host", "127.0.0.1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            found = await read_until(
                proc.stderr, r"ext_proc 127\.0\.0\.1:(\d+), health (\d+).*\(kubernetes, TLS\)"
            )
            cert = await presented_cert(int(found[1]))
            assert ssl.DER_cert_to_PEM_cert(cert).startswith("-----BEGIN CERTIFICATE-----")
            request = health_pb2.HealthCheckRequest(service="readiness")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{found[2]}") as channel:
                check = health_pb2_grpc.HealthStub(channel).Check
                async with asyncio.timeout(15):  # another process: polling is all there is
                    while (await check(request)).status != health_pb2.HealthCheckResponse.SERVING:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
        finally:
            code = await stop(proc, signal.SIGTERM)
        assert code == 0
