"""A throwaway self-signed certificate for wss:// on loopback (tests and benchmarks).

Made with the ``openssl`` command line tool, which every Debian system with
``ca-certificates`` has; tests that use it skip with that reason when it is absent.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

HAVE_OPENSSL = shutil.which("openssl") is not None


@dataclass(frozen=True, slots=True)
class LoopbackTLS:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Verifies the server against this certificate only (hostname checked too)."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_loopback_tls(directory: Path) -> LoopbackTLS:
    """A P-256 certificate for 127.0.0.1, ::1 and localhost, valid for one day."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out",
         str(cert), "-addext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    return LoopbackTLS(cert, key)
