"""TLS for the ext_proc port: a self-signed certificate or ``tls.crt``/``tls.key`` from a
directory, optionally reloaded when the files change.

As upstream's EPP: in Kubernetes mode the gateway talks to the EPP over TLS without
verifying it (the certificate only encrypts), so a certificate made at start is enough
unless the operator mounts one (cert-manager, a Secret). ``CertStore`` holds the current
pair; both transports read it for each new connection, so a reload never touches
connections already open.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import watchfiles
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
_VALIDITY = datetime.timedelta(days=365)


class TlsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cert_path: Path | None = None
    """Directory holding ``tls.crt`` and ``tls.key``; None: self-signed at start."""
    reload: bool = False
    """Watch ``cert_path`` and serve changed files to new connections."""
    hostnames: tuple[str, ...] = ()
    """Extra SANs of the self-signed certificate (the host name and localhost always)."""
    reload_debounce_ms: int = 500


class CertError(ValueError):
    """The certificate files are missing, unreadable or do not match."""


def self_signed(hostnames: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 certificate and key (PEM), valid a year, for ``hostnames``."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = dict.fromkeys((*hostnames, socket.gethostname(), "localhost"))
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "inference-gateway")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def read_pair(directory: Path) -> tuple[bytes, bytes]:
    """``tls.crt`` and ``tls.key`` from ``directory``, checked to belong together."""
    try:
        cert, key = (directory / CERT_FILE).read_bytes(), (directory / KEY_FILE).read_bytes()
    except OSError as e:
        raise CertError(f"cannot read {CERT_FILE}/{KEY_FILE} in {directory}: {e}") from e
    server_context(cert, key)
    return cert, key


def server_context(
    cert: bytes, key: bytes, *, into: ssl.SSLContext | None = None
) -> ssl.SSLContext:
    """A TLS 1.2+ server context offering only ALPN ``h2`` (gRPC), loaded with the pair.

    With ``into``, the pair replaces the certificate of that context (new handshakes only).
    """
    context = into or ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if into is None:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["h2"])
    with _pair_files(cert, key) as (cert_file, key_file):
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as e:
            raise CertError(f"certificate and key do not load: {e}") from e
    return context


@contextlib.contextmanager
def _pair_files(cert: bytes, key: bytes) -> Iterator[tuple[str, str]]:
    """Paths ``load_cert_chain`` can open, holding the pair, without touching a disk.

    ``ssl`` only loads certificates from files. The EPP runs on a read-only root as a
    non-root user (upstream's securityContext), where ``tempfile`` finds no usable
    directory, so the pair goes into anonymous memory files (``memfd_create``, opened
    through ``/proc/self/fd``). Where that is unavailable (not Linux, no ``/proc``), a
    private temporary directory is the fallback, and a clear ``CertError`` says what to
    mount when there is none.
    """
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None and Path("/proc/self/fd").is_dir():
        fds = [memfd(f"igw-{CERT_FILE}", 0), memfd(f"igw-{KEY_FILE}", 0)]
        try:
            for fd, data in zip(fds, (cert, key), strict=True):
                os.write(fd, data)
            yield f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}"
        finally:
            for fd in fds:
                os.close(fd)
        return
    try:
        tmp = tempfile.TemporaryDirectory(prefix="igw-tls-")
    except OSError as e:
        raise CertError(
            f"cannot hold the TLS pair for loading: no memfd_create and no writable temporary "
            f"directory ({e}); mount an emptyDir and set TMPDIR to it, or give --cert-path"
        ) from e
    with tmp:
        cert_file, key_file = Path(tmp.name) / CERT_FILE, Path(tmp.name) / KEY_FILE
        cert_file.write_bytes(cert)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key)
        yield str(cert_file), str(key_file)


def plaintext_problem(host: str) -> str | None:
    """Why plaintext ext_proc on ``host`` would leave this machine, or None on loopback."""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"refusing plaintext ext_proc on {host} (not loopback): listen on 127.0.0.1, "
        "turn on --secure-serving, or pass --insecure-allow-plaintext"
    )


class CertStore:
    """The pair in use; ``watch`` (when asked to reload) swaps it when the files change."""

    def __init__(self, settings: TlsSettings) -> None:
        self.settings = settings
        if settings.cert_path is None:
            self.cert, self.key = self_signed(settings.hostnames)
        else:
            self.cert, self.key = read_pair(settings.cert_path)
        self._listeners: list[Callable[[bytes, bytes], None]] = []
        self.reloaded = asyncio.Event()
        """Set after each successful reload (tests wait on it)."""

    def on_change(self, listener: Callable[[bytes, bytes], None]) -> None:
        self._listeners.append(listener)

    async def watch(self) -> None:
        """Reload on every change under ``cert_path`` until cancelled; bad files are logged
        and the previous pair stays (a Secret update is two writes, not one)."""
        directory = self.settings.cert_path
        if directory is None or not self.settings.reload:
            return
        async for _changes in watchfiles.awatch(
            directory, debounce=self.settings.reload_debounce_ms, step=50
        ):
            try:
                pair = await asyncio.to_thread(read_pair, directory)
            except CertError as e:
                log.warning("certificate reload skipped: %s", e)
                continue
            if pair == (self.cert, self.key):
                continue
            self.cert, self.key = pair
            for listener in self._listeners:
                listener(*pair)
            log.info("ext_proc certificate reloaded from %s", directory)
            self.reloaded.set()


__all__ = [
    "CertError",
    "CertStore",
    "TlsSettings",
    "plaintext_problem",
    "read_pair",
    "self_signed",
    "server_context",
]
