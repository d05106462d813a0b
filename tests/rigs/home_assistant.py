"""A stand-in for Home Assistant's REST API, run as a real separate process on 127.0.0.1.

``python -m tests.rigs.home_assistant --port 0 --token T --log FILE`` prints its port
on the first line of stdout, then serves until it is stopped. It answers the two
endpoints the worked example (config/examples/home-assistant.yaml) calls, in the
shapes Home Assistant's REST API documents:

* ``POST /api/services/light/turn_on|turn_off``: ``{"entity_id": ..., "brightness_pct":
  ...}`` in, a JSON list of the states that changed out;
* ``POST /api/conversation/process``: ``{"text": ..., "language": ...}`` in, the
  conversation response (``response.speech.plain.speech``) out;

and ``GET /api/`` (``{"message": "API running."}``). Every request needs
``Authorization: Bearer <token>`` (401 otherwise, as Home Assistant answers), and is
recorded as one JSON line in the log file (whether the token matched, never the
token itself) before it is answered. ``--mode slow`` never answers, ``--mode
redirect`` sends every request elsewhere (``--redirect-to``), ``--mode flood`` sends
an endless body; ``--cert``/``--key`` serve HTTPS.

:class:`HomeAssistantRig` starts and stops one from a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import select
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.rigs.http_reply import send

ROOT = Path(__file__).resolve().parents[2]
MODES = ("ok", "slow", "redirect", "flood")
LIGHT_SERVICES = ("turn_on", "turn_off")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the timeout and size tests) is expected."""
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def light_states(entity_ids: list[str], service: str, body: dict[str, Any]) -> list[Any]:
    """What Home Assistant answers a light service call with: the states it changed."""
    on = service == "turn_on"
    attributes: dict[str, Any] = {"friendly_name": "Kitchen", "supported_color_modes": [
        "brightness"], "color_mode": "brightness" if on else None}
    if on:
        attributes["brightness"] = round(255 * float(body.get("brightness_pct", 100)) / 100)
    stamp = _now()
    return [{"entity_id": e, "state": "on" if on else "off", "attributes": attributes,
             "last_changed": stamp, "last_updated": stamp,
             "context": {"id": secrets.token_hex(13).upper(), "parent_id": None,
                         "user_id": secrets.token_hex(16)}} for e in entity_ids]


def conversation_answer(text: str, language: str) -> dict[str, Any]:
    """Home Assistant's conversation response for ``text`` (a couple of light intents)."""
    said = text.lower()
    if "light" in said and ("off" in said or "on" in said):
        off = "off" in said
        response: dict[str, Any] = {
            "speech": {"plain": {"speech": f"Turned {'off' if off else 'on'} the lights",
                                 "extra_data": None}},
            "card": {}, "language": language, "response_type": "action_done",
            "data": {"targets": [], "success": [{"name": "Kitchen", "type": "area",
                                                 "id": "kitchen"}], "failed": []}}
    else:
        response = {
            "speech": {"plain": {"speech": "Sorry, I couldn't understand that",
                                 "extra_data": None}},
            "card": {}, "language": language, "response_type": "error",
            "data": {"code": "no_intent_match"}}
    return {"response": response, "conversation_id": secrets.token_hex(13).upper(),
            "continue_conversation": False}


@dataclass
class Rig:
    """The server's settings and its request log (one JSON object a line)."""

    token: str
    log: Path
    mode: str = "ok"
    redirect_to: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock, self.log.open("a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()

    def answer(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        given = h.headers.get("Authorization")
        token_ok = given is not None and secrets.compare_digest(
            given.encode(), f"Bearer {self.token}".encode())
        self.record({"method": method, "path": h.path, "body": body, "token_ok": token_ok,
                     "authorization": given is not None,
                     "content_type": h.headers.get("Content-Type"),
                     "host": h.headers.get("Host")})
        if self.mode == "slow":
            time.sleep(3600)  # never answers; the process is stopped under it
            return
        if self.mode == "redirect":
            send(h, 307, b"", {"Location": self.redirect_to + h.path}, ctype="text/plain")
            return
        if self.mode == "flood":
            self._flood(h)
            return
        if not token_ok:
            send(h, 401, b"401: Unauthorized", ctype="text/plain")
            return
        self._route(h, method, body)

    def _route(self, h: BaseHTTPRequestHandler, method: str, body: Any) -> None:
        path = h.path.split("?")[0]
        if method == "GET" and path == "/api/":
            _json(h, 200, {"message": "API running."})
        elif method == "POST" and path.startswith("/api/services/light/"):
            self._light(h, path.rsplit("/", 1)[1], body)
        elif method == "POST" and path == "/api/conversation/process":
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                _json(h, 400, {"message": "Message format incorrect: required key not "
                               "provided @ data['text']"})
                return
            _json(h, 200, conversation_answer(body["text"], body.get("language") or "en"))
        else:
            send(h, 404, b"404: Not Found", ctype="text/plain")

    def _light(self, h: BaseHTTPRequestHandler, service: str, body: Any) -> None:
        if service not in LIGHT_SERVICES:
            _json(h, 400, {"message": f"Service light.{service} not found."})
            return
        entity = body.get("entity_id") if isinstance(body, dict) else None
        entities = [entity] if isinstance(entity, str) else entity
        if not isinstance(entities, list) or not entities or not all(
                isinstance(e, str) and e.startswith("light.") for e in entities):
            _json(h, 400, {"message": "Invalid data: entity_id is required"})
            return
        extra = set(body) - {"entity_id"} - ({"brightness_pct"} if service == "turn_on" else set())
        pct = body.get("brightness_pct", 100)
        if extra or isinstance(pct, bool) or not isinstance(pct, int | float) \
                or not 0 <= pct <= 100:
            _json(h, 400, {"message": f"Invalid data for call_service at pos 1: extra keys "
                           f"not allowed @ data['{sorted(extra)[0]}']" if extra else
                           "Invalid data: expected float for dictionary value @ "
                           "data['brightness_pct']"})
            return
        _json(h, 200, light_states(entities, service, body))

    def _flood(self, h: BaseHTTPRequestHandler) -> None:
        """200 with an endless body, until the client goes away."""
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.end_headers()
        line = b"all work and no play makes a speaker a dull speaker\n" * 20
        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
            while True:
                h.wfile.write(line)
                h.wfile.flush()
                time.sleep(0.01)


def _json(h: BaseHTTPRequestHandler, status: int, doc: Any) -> None:
    send(h, status, json.dumps(doc).encode())


def serve(rig: Rig, port: int, cert: str | None, key: str | None) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Python/3 aiohttp/3.9"  # what Home Assistant's answers say

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            rig.answer(self, "GET")

        def do_POST(self) -> None:
            rig.answer(self, "POST")

    server = _Server(("127.0.0.1", port), Handler)
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tests.rigs.home_assistant")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--mode", choices=MODES, default="ok")
    p.add_argument("--redirect-to", default="")
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args(argv)
    serve(Rig(a.token, Path(a.log), a.mode, a.redirect_to), a.port, a.cert, a.key)


@dataclass
class HomeAssistantRig:
    """One rig process: ``with HomeAssistantRig(token, tmp_path) as ha: ha.url ...``."""

    token: str
    directory: Path
    mode: str = "ok"
    redirect_to: str = ""
    cert: Path | None = None
    key: Path | None = None
    port: int = 0
    proc: subprocess.Popen[str] | None = None

    @property
    def log(self) -> Path:
        return self.directory / f"home-assistant-{id(self):x}.jsonl"

    @property
    def url(self) -> str:
        return f"{'https' if self.cert else 'http'}://127.0.0.1:{self.port}"

    def requests(self) -> list[dict[str, Any]]:
        """Every request received so far, oldest first."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def start(self) -> HomeAssistantRig:
        argv = [sys.executable, "-m", "tests.rigs.home_assistant", "--port", "0", "--token",
                self.token, "--log", str(self.log), "--mode", self.mode]
        if self.redirect_to:
            argv += ["--redirect-to", self.redirect_to]
        if self.cert and self.key:
            argv += ["--cert", str(self.cert), "--key", str(self.key)]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the Home Assistant rig did not start (said {line!r})")
        self.port = int(line)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> HomeAssistantRig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
