"""One HTTP reply from an ``http.server`` handler, for the loopback test servers."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def send(h: BaseHTTPRequestHandler, status: int, body: bytes,
         headers: dict[str, str] | None = None, ctype: str = "application/json") -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)
