"""The system trust store read lazily: real OpenSSL, a real handshake over loopback.

The "system store" here is a directory of our own (``SSL_CERT_DIR``, honoured by
OpenSSL as the system's hashed directory), holding the loopback certificate under
its hash name, as ``update-ca-certificates`` lays out ``/etc/ssl/certs``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from edged.realtime.trust import hashed_directory, system_context
from edged.rig.tls import HAVE_OPENSSL, LoopbackTLS, make_loopback_tls

pytestmark = pytest.mark.skipif(not HAVE_OPENSSL, reason="the loopback certificate is made "
                                "with the openssl tool (scripts/setup installs it)")


@pytest.fixture
def tls(tmp_path: Path) -> LoopbackTLS:
    return make_loopback_tls(tmp_path)


def hashed_store(tmp_path: Path, cert: Path) -> Path:
    store = tmp_path / "certs"
    store.mkdir()
    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(cert)],
                            capture_output=True, text=True, check=True).stdout.strip()
    (store / f"{digest}.0").symlink_to(cert)
    return store


def handshake(tls: LoopbackTLS, client: ssl.SSLContext) -> None:
    server = tls.server_context()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with conn, contextlib.suppress(ssl.SSLError, OSError), \
                    server.wrap_socket(conn, server_side=True) as tconn:
                tconn.recv(1)  # refused by the client: the handshake fails here too

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, \
                client.wrap_socket(sock, server_hostname="127.0.0.1") as tsock:
            tsock.sendall(b"x")
        thread.join(10)


def test_a_hashed_store_is_read_as_handshakes_need_it(
        tls: LoopbackTLS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed_store(tmp_path, tls.cert)))
    context = system_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # nothing parsed up front
    handshake(tls, context)  # verified against the store
    assert context.cert_store_stats()["x509_ca"] == 1  # the one issuer it looked up


def test_a_certificate_outside_the_store_is_refused(
        tls: LoopbackTLS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "other").mkdir()
    other = make_loopback_tls(tmp_path / "other")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed_store(tmp_path, other.cert)))
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(tls, system_context())


def test_ssl_cert_file_or_an_unhashed_directory_means_the_default(
        tls: LoopbackTLS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed_store(tmp_path, tls.cert)))
    context = system_context()
    assert context.cert_store_stats()["x509_ca"] == 1  # the bundle, parsed at once
    handshake(tls, context)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "cert.pem").write_bytes(tls.cert.read_bytes())
    assert not hashed_directory(str(plain)) and hashed_directory(str(tmp_path / "certs"))
    assert not hashed_directory(None) and not hashed_directory(str(tmp_path / "absent"))
