"""A fleet token service on loopback: a real HTTP server (``http.server``) in a thread.

It checks the device token like a real one would, mints ``ek_`` secrets with an
expiry on its own clock (which can be set off from this machine's), and can be told
to refuse (401/403/429/5xx), to redirect, to answer garbage, or to answer slowly.
``on_mint`` sees every secret minted (the link tests hand it to the simulator as the
one key it accepts).
"""

from __future__ import annotations

import json
import secrets
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from tests.rigs.http_reply import send

Mode = Literal["ok", "expires_in", "401", "403", "429", "500", "503", "302", "garbage",
               "no_value", "expired", "slow", "huge"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the timeout tests) is expected; anything else is not."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Seen:
    """One request as the service saw it (the device token is compared, not kept)."""

    path: str
    token_ok: bool
    body: Any
    content_type: str | None


@dataclass
class TokenServiceRig:
    device_token: str
    lifetime_s: float = 600.0
    mode: Mode = "ok"
    send_date: bool = True  # a Date header (http.server always sends one; False drops it)
    clock_offset_s: float = 0.0  # the service's clock minus this machine's
    slow_s: float = 30.0  # how long "slow" holds the answer back
    on_mint: Callable[[str], None] | None = None
    tls: ssl.SSLContext | None = None
    requests: list[Seen] = field(default_factory=list)
    minted: list[str] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _release: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> TokenServiceRig:
        rig = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one answer per connection, then close

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line is enough noise in a test's output

            def date_time_string(self, timestamp: float | None = None) -> str:
                return formatdate(time.time() + rig.clock_offset_s, usegmt=True)

            def send_header(self, keyword: str, value: str) -> None:
                if keyword == "Date" and not rig.send_date:
                    return
                super().send_header(keyword, value)

            def do_POST(self) -> None:
                rig.answer(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        port = self._server.server_address[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}/v1/speaker-token"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="token-service-rig", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    @property
    def mints(self) -> int:
        return len(self.minted)

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        given = h.headers.get("Authorization") or ""
        token_ok = secrets.compare_digest(given.encode(),
                                          f"Bearer {self.device_token}".encode())
        self.requests.append(Seen(h.path, token_ok, body, h.headers.get("Content-Type")))
        mode = self.mode
        if mode == "slow":
            self._release.wait(self.slow_s)
            mode = "ok"
        if not token_ok or mode in ("401", "403"):
            status = 403 if mode == "403" else 401
            send(h, status, b'{"error": "unknown device"}')
            return
        if mode in ("429", "500", "503"):  # Retry-After where servers usually send one
            later = {"Retry-After": "7"} if mode != "500" else {}
            send(h, int(mode), b'{"error": "try later"}', later)
            return
        if mode == "302":
            send(h, 302, b"", {"Location": "https://elsewhere.example/token"})
            return
        if mode == "garbage":
            send(h, 200, b"<html>captive portal</html>", ctype="text/html")
            return
        if mode == "huge":
            send(h, 200, b'{"value": "' + b"x" * 200_000 + b'"}')
            return
        value = f"ek_rig{len(self.minted):03d}{secrets.token_hex(12)}"
        server_now = time.time() + self.clock_offset_s
        doc: dict[str, Any] = {"value": value, "expires_at": int(server_now + self.lifetime_s)}
        if mode == "expires_in":
            doc = {"value": value, "expires_in": self.lifetime_s}
        elif mode == "no_value":
            doc = {"expires_at": int(server_now + self.lifetime_s)}
        elif mode == "expired":
            doc["expires_at"] = int(server_now - 5)
        if mode in ("ok", "expires_in"):
            self.minted.append(value)
            if self.on_mint is not None:
                self.on_mint(value)
        send(h, 200, json.dumps({**doc, "session": {"type": "realtime"}}).encode())
