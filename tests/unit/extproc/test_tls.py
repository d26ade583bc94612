"""ext_proc over TLS: self-signed and mounted certificates, reload, both transports."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inference_gateway.app import EppSettings, KubernetesSourceSettings
from inference_gateway.extproc.server import ExtProcServer, ExtProcSettings
from inference_gateway.extproc.tls import (
    CERT_FILE,
    KEY_FILE,
    CertError,
    TlsSettings,
    read_pair,
    self_signed,
    server_context,
)
from tests.unit.extproc.test_server import ENDPOINT, ScriptedDirector, end, headers, set_headers

SERVING = health_pb2.HealthCheckResponse.SERVING
TRANSPORTS = pytest.mark.parametrize("transport", ["inline", "grpcio"])


def der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def write_pair(directory: Path, pair: tuple[bytes, bytes]) -> None:
    """Write both files and rename them in place, as a Secret update would swap them."""
    for name, data in zip((CERT_FILE, KEY_FILE), pair, strict=True):
        tmp = directory / f".{name}.new"
        tmp.write_bytes(data)
        tmp.replace(directory / name)


async def presented_cert(port: int) -> bytes:
    """The DER certificate a fresh TLS connection to ``port`` is shown."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        return bytes(peer)
    finally:
        # Abort: the server's HTTP/2 preface may cross a TLS close_notify, which ssl reports.
        writer.transport.abort()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


def test_self_signed_certificate_names_localhost_and_lasts_a_year() -> None:
    cert_pem, key_pem = self_signed(("epp-7d9f",))
    cert = x509.load_pem_x509_certificate(cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"epp-7d9f", "localhost"} <= set(sans.get_values_for_type(x509.DNSName))
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=364) < lifetime < datetime.timedelta(days=366)
    assert self_signed()[0] != cert_pem  # a new key and serial each start
    assert b"PRIVATE KEY" in key_pem


def test_mismatched_or_missing_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CertError, match="cannot read"):
        read_pair(tmp_path)
    write_pair(tmp_path, (self_signed()[0], self_signed()[1]))
    with pytest.raises(CertError, match="do not load"):
        read_pair(tmp_path)


@TRANSPORTS
async def test_a_client_trusting_the_self_signed_cert_calls_health_and_process(
    transport: str,
) -> None:
    director = ScriptedDirector()
    settings = ExtProcSettings(port=0, transport=transport, tls=TlsSettings())
    async with ExtProcServer(director, settings) as server:
        assert server.certs is not None
        await server.set_serving(True)
        creds = grpc.ssl_channel_credentials(root_certificates=server.certs.cert)
        async with grpc.aio.secure_channel(f"127.0.0.1:{server.port}", creds) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="")
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            call = pb_grpc.ExternalProcessorStub(channel).Process()
            await call.write(headers(eos=True))
            answer = await call.read()
            assert set_headers(answer)["x-gateway-destination-endpoint"] == ENDPOINT
            await end(call)
        if transport != "grpcio":
            # asyncio (3.11, selector loop) leaves the socket of a failed handshake for the
            # GC, which filterwarnings=error turns into a failure; grpcio is checked below.
            return
        # Plaintext gets nowhere on a TLS port.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=2
                )
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE


@TRANSPORTS
async def test_replaced_files_are_presented_to_new_connections(
    transport: str, tmp_path: Path
) -> None:
    first, second = self_signed(), self_signed()
    write_pair(tmp_path, first)
    tls = TlsSettings(cert_path=tmp_path, reload=True, reload_debounce_ms=50)
    settings = ExtProcSettings(port=0, transport=transport, tls=tls)
    async with ExtProcServer(ScriptedDirector(), settings) as server:
        assert server.certs is not None
        await server.set_serving(True)
        assert await presented_cert(server.port) == der(first[0])
        creds = grpc.ssl_channel_credentials(root_certificates=first[0])
        async with grpc.aio.secure_channel(f"127.0.0.1:{server.port}", creds) as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            assert (await check(health_pb2.HealthCheckRequest())).status == SERVING
            write_pair(tmp_path, second)
            async with asyncio.timeout(10):
                await server.certs.reloaded.wait()
            assert server.certs.cert == second[0]
            assert await presented_cert(server.port) == der(second[0])
            # The connection opened before the reload carries on with the first certificate.
            assert (await check(health_pb2.HealthCheckRequest())).status == SERVING
        # A torn update (new certificate, old key) is skipped; the good pair stays.
        server.certs.reloaded.clear()
        write_pair(tmp_path, (self_signed()[0], second[1]))
        write_pair(tmp_path, first)
        async with asyncio.timeout(10):
            await server.certs.reloaded.wait()
        assert await presented_cert(server.port) == der(first[0])


async def test_without_reload_the_mounted_pair_is_served(tmp_path: Path) -> None:
    pair = self_signed()
    write_pair(tmp_path, pair)
    settings = ExtProcSettings(port=0, tls=TlsSettings(cert_path=tmp_path))
    async with ExtProcServer(ScriptedDirector(), settings) as server:
        assert await presented_cert(server.port) == der(pair[0])


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.42", "::1", "localhost"])
def test_plaintext_on_loopback_is_fine_in_file_mode(host: str) -> None:
    settings = EppSettings(pool_file=Path("x.yaml"), grpc=ExtProcSettings(host=host))
    assert settings.grpc.tls is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.7", "epp.example"])
def test_plaintext_beyond_loopback_needs_tls_or_the_explicit_flag(host: str) -> None:
    with pytest.raises(ValueError, match="refusing plaintext ext_proc on"):
        EppSettings(pool_file=Path("x.yaml"), grpc=ExtProcSettings(host=host))
    tls = ExtProcSettings(host=host, tls=TlsSettings())
    assert EppSettings(pool_file=Path("x.yaml"), grpc=tls).grpc.tls is not None
    allowed = EppSettings(
        pool_file=Path("x.yaml"), grpc=ExtProcSettings(host=host), allow_plaintext=True
    )
    assert allowed.allow_plaintext
    # Kubernetes mode may turn TLS off (--no-secure-serving), as upstream's EPP may.
    kube = KubernetesSourceSettings(pool_name="pool")
    assert EppSettings(kubernetes=kube, grpc=ExtProcSettings(host=host)).kubernetes == kube


def test_the_pair_loads_from_memory_and_without_memfd_from_a_private_temp_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """memfd first (nothing on disk: the read-only root's way, proven end to end in
    tests/integration/k8s/test_read_only_root.py); where the OS has no memfd_create, a
    private temporary directory, removed once loaded."""
    cert, key = self_signed()
    assert server_context(cert, key).get_ca_certs() == []  # loaded (a server cert, no CAs)
    monkeypatch.delattr("os.memfd_create")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    server_context(cert, key)
    assert list(tmp_path.iterdir()) == []
