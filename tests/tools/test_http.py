"""The ``http`` tool against real servers on 127.0.0.1: the Home Assistant rig (a
separate process, tests/rigs/home_assistant.py) and, where a test needs to see the raw
request or shape an odd answer, a plain ``http.server`` in a thread. TLS uses a
throwaway certificate made by ``openssl`` (edged/rig/tls.py). Nothing is mocked."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edged import config
from edged.config import HttpToolConfig, ParameterConfig, ToolsConfig
from edged.redact import REDACTOR
from edged.rig.tls import HAVE_OPENSSL, make_loopback_tls
from edged.tools import configured
from edged.tools.http import (
    TEXT_CHARS,
    HttpError,
    build_request,
    call_http,
    fill_body,
    fill_url,
    load_token,
)
from edged.tools.registry import Registry
from tests.leaks import secret_runs
from tests.rigs.home_assistant import HomeAssistantRig

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ha-llat-Qm7Xw2Rt9Kp4Vn6Zb8Lc1Yd3"  # never a real token
WRONG = "ha-llat-wrong-0000-1111-2222-3333"
CREDENTIAL = "home-assistant-token"


def run(cfg: HttpToolConfig, arguments: dict[str, Any], token: str | None = TOKEN) -> Any:
    return asyncio.run(call_http(cfg, arguments, token=token))


def failed(cfg: HttpToolConfig, arguments: dict[str, Any], token: str | None = TOKEN) -> HttpError:
    with pytest.raises(HttpError) as err:
        run(cfg, arguments, token)
    return err.value


def example() -> dict[str, HttpToolConfig]:
    """The worked example's tools, as the loader reads them."""
    cfg = config.load(ROOT / "config/examples/home-assistant.yaml")
    return {t.name or "": t for t in cfg.tools.http}


def pointed(tool: HttpToolConfig, base: str, **changes: Any) -> HttpToolConfig:
    """``tool`` with its URL moved from homeassistant.local to ``base``."""
    url = (tool.url or "").replace("http://homeassistant.local:8123", base)
    return dataclasses.replace(tool, url=url, **changes)


@pytest.fixture
def ha(tmp_path: Path) -> Iterator[HomeAssistantRig]:
    with HomeAssistantRig(TOKEN, tmp_path) as rig:
        yield rig


# --------------------------------------------------------------------------- a plain server


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = Callable[[BaseHTTPRequestHandler, Seen], None]


@dataclasses.dataclass
class Plain:
    """``http.server`` in a thread: records each request, answers with ``reply``."""

    reply: Reply
    seen: list[Seen] = dataclasses.field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def send(h: BaseHTTPRequestHandler, status: int, body: bytes,
         ctype: str = "application/json", length: bool = True) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    if length:
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@pytest.fixture
def plain() -> Iterator[Callable[[Reply], Plain]]:
    servers: list[ThreadingHTTPServer] = []

    def start(reply: Reply) -> Plain:
        rig = Plain(reply)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers.items()),
                            self.rfile.read(length))
                rig.seen.append(seen)
                rig.reply(self, seen)

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        rig.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return rig

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def echo(h: BaseHTTPRequestHandler, seen: Seen) -> None:
    send(h, 200, json.dumps({"path": seen.path}).encode())


def tool(url: str, **fields: Any) -> HttpToolConfig:
    return HttpToolConfig(name="probe", description="d", url=url, **fields)


# --------------------------------------------------------------------------- the request


def test_each_argument_is_percent_encoded_whole_in_the_url() -> None:
    url = fill_url("http://h:1/api/states/{entity}?q={text}&n={n}&flag={on}&opt={missing}",
                   {"entity": "light/kitchen ../x", "text": "a b&c=d?é", "n": 3, "on": True})
    assert url == ("http://h:1/api/states/light%2Fkitchen%20..%2Fx?q=a%20b%26c%3Dd%3F%C3%A9"
                   "&n=3&flag=true&opt=")


def test_the_encoded_url_is_what_the_server_receives(
        plain: Callable[[Reply], Plain]) -> None:
    server = plain(echo)
    cfg = tool(server.url + "/api/states/{entity}?q={text}",
               parameters={"entity": ParameterConfig(), "text": ParameterConfig()})
    out = run(cfg, {"entity": "light.a/b c", "text": "Küche & Bad"})
    assert out == {"path": "/api/states/light.a%2Fb%20c?q=K%C3%BCche%20%26%20Bad",
                   "status": 200}
    [seen] = server.seen
    assert seen.method == "GET" and seen.body == b""
    assert "Content-Type" not in seen.headers  # no body, no content type
    assert seen.headers["Host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_lone_placeholder_keeps_its_type_and_an_absent_one_is_left_out() -> None:
    template = {"entity_id": "{e}", "brightness_pct": "{b}", "on": "{flag}",
                "say": "set {e} to {b} %", "list": ["{b}", "{gone}"], "fixed": 2,
                "nested": {"gone": "{gone}", "keep": None}}
    assert fill_body(template, {"e": "light.kitchen", "b": 30, "flag": False}) == {
        "entity_id": "light.kitchen", "brightness_pct": 30, "on": False,
        "say": "set light.kitchen to 30 %", "list": [30, None], "fixed": 2,
        "nested": {"keep": None}}
    assert fill_body("{gone}", {}) is None


def test_a_post_without_a_body_template_sends_the_arguments(
        plain: Callable[[Reply], Plain]) -> None:
    server = plain(lambda h, seen: send(h, 204, b""))
    cfg = tool(server.url + "/hook", method="POST",
               parameters={"room": ParameterConfig(), "level": ParameterConfig(type="integer")},
               headers={"X-Speaker": "kitchen"})
    assert run(cfg, {"room": "hall", "level": 4}, token=None) == {"status": 204}
    [seen] = server.seen
    assert json.loads(seen.body) == {"room": "hall", "level": 4}
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["X-Speaker"] == "kitchen"
    assert "Authorization" not in seen.headers


def test_a_header_that_would_split_the_request_is_refused() -> None:
    for headers in ({"X-A": "1\r\nX-Injected: 2"}, {"X-A": "5 €"}, {"X A": "1"}):
        with pytest.raises(HttpError, match=r"is not a valid HTTP header \(plain ASCII"):
            build_request(tool("http://127.0.0.1:9/", headers=headers), {}, None)


# --------------------------------------------------------------------------- Home Assistant


def test_the_worked_example_is_a_valid_config() -> None:
    """It loads with the daemon's own loader, and `edged check-config` passes it."""
    tools = example()
    assert list(tools) == ["light_control", "ask_home_assistant"]
    light, ask = tools["light_control"], tools["ask_home_assistant"]
    assert light.parameters["action"].enum == ("turn_on", "turn_off")
    assert light.parameters["brightness_pct"].required is False
    assert ask.body == {"text": "{text}", "language": "en"}
    for t in (light, ask):
        assert (t.method, t.token_credential) == ("POST", CREDENTIAL)
    assert light.doctor_arguments is None and ask.doctor_arguments == {"text": "what time is it"}
    done = subprocess.run([sys.executable, "-m", "edged", "check-config",
                           str(ROOT / "config/examples/home-assistant.yaml")],
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_light_control_turns_a_light_off_with_the_token(ha: HomeAssistantRig) -> None:
    light = pointed(example()["light_control"], ha.url)
    out = run(light, {"action": "turn_off", "entity_id": "light.kitchen"})
    assert out["status"] == 200
    [state] = out["result"]
    assert (state["entity_id"], state["state"]) == ("light.kitchen", "off")
    [seen] = ha.requests()
    assert seen["method"] == "POST" and seen["path"] == "/api/services/light/turn_off"
    assert seen["body"] == {"entity_id": "light.kitchen"}  # no brightness_pct: null refused
    assert seen["token_ok"] and seen["content_type"] == "application/json"


def test_light_control_keeps_the_brightness_a_number(ha: HomeAssistantRig) -> None:
    light = pointed(example()["light_control"], ha.url)
    out = run(light, {"action": "turn_on", "entity_id": "light.kitchen", "brightness_pct": 30})
    assert out["result"][0]["attributes"]["brightness"] == 76
    assert ha.requests()[0]["body"] == {"entity_id": "light.kitchen", "brightness_pct": 30}


def test_a_refused_call_tells_the_model_what_home_assistant_said(
        ha: HomeAssistantRig) -> None:
    light = pointed(example()["light_control"], ha.url)
    err = failed(light, {"action": "turn_off", "entity_id": "light.kitchen",
                         "brightness_pct": 30})
    assert err.status == 400
    assert str(err).startswith(f"127.0.0.1:{ha.port} answered HTTP 400: ")
    assert "extra keys not allowed" in str(err)


def test_ask_home_assistant_returns_its_spoken_answer(ha: HomeAssistantRig) -> None:
    ask = pointed(example()["ask_home_assistant"], ha.url)
    out = run(ask, {"text": "turn off the kitchen lights"})
    assert out["status"] == 200
    assert out["response"]["speech"]["plain"]["speech"] == "Turned off the lights"
    assert out["response"]["response_type"] == "action_done"
    assert ha.requests()[0]["body"] == {"text": "turn off the kitchen lights",
                                        "language": "en"}


def test_a_wrong_token_is_a_401_naming_the_credential_never_the_token(
        ha: HomeAssistantRig, caplog: pytest.LogCaptureFixture) -> None:
    light = pointed(example()["light_control"], ha.url)
    with caplog.at_level(logging.DEBUG, logger="edged.tools"):
        err = failed(light, {"action": "turn_off", "entity_id": "light.kitchen"}, token=WRONG)
    assert err.status == 401
    assert str(err) == (f"127.0.0.1:{ha.port} refused the token (HTTP 401): check the systemd "
                        f"credential '{CREDENTIAL}' or the token file "
                        "/etc/edged/home-assistant-token")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and CREDENTIAL in warnings[0].getMessage()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert secret_runs(WRONG, logged) == [] and secret_runs(WRONG, str(err)) == []
    assert ha.requests()[0]["token_ok"] is False


def test_without_a_token_the_401_says_the_tool_sends_none(ha: HomeAssistantRig) -> None:
    ask = pointed(example()["ask_home_assistant"], ha.url, token_credential=None,
                  token_file=None)
    err = failed(ask, {"text": "hi"}, token=None)
    assert "refused the request (HTTP 401): the tool sends no token" in str(err)
    assert ha.requests()[0]["authorization"] is False


def test_a_redirect_is_not_followed_and_the_other_host_never_sees_the_token(
        tmp_path: Path) -> None:
    with HomeAssistantRig(TOKEN, tmp_path) as elsewhere, \
            HomeAssistantRig(TOKEN, tmp_path, mode="redirect",
                             redirect_to=elsewhere.url) as ha:
        ask = pointed(example()["ask_home_assistant"], ha.url)
        err = failed(ask, {"text": "turn off the lights"})
        assert err.status == 307
        assert str(err) == (
            f"127.0.0.1:{ha.port} redirected the request to {elsewhere.url}/api/conversation/"
            "process (HTTP 307); redirects are not followed: the tool's url must be the final "
            "address")
        assert [r["token_ok"] for r in ha.requests()] == [True]
        assert elsewhere.requests() == []


def test_a_token_echoed_back_by_a_server_is_masked_before_the_model_sees_it(
        plain: Callable[[Reply], Plain]) -> None:
    def mirror(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        send(h, 200, json.dumps({"you_sent": seen.headers.get("Authorization")}).encode())

    server = plain(mirror)
    token = "echoed-Hx4Vq9Lm2Rt7Wn1Kc5Zp8"
    REDACTOR.register(token, "http_token:probe")  # load_token does this as it reads one
    out = run(tool(server.url + "/"), {}, token=token)
    assert out["you_sent"] == "Bearer [redacted]"
    assert secret_runs(token, json.dumps(out)) == []
    server.reply = lambda h, seen: send(
        h, 400, f"refused {seen.headers.get('Authorization')}".encode(), "text/plain")
    err = failed(tool(server.url + "/"), {}, token=token)
    assert str(err) == f"127.0.0.1:{server.port} answered HTTP 400: refused Bearer [redacted]"
    assert secret_runs(token, str(err)) == []


# --------------------------------------------------------------------------- the token


def token_cfg(**fields: Any) -> HttpToolConfig:
    return tool("http://127.0.0.1:9/", **fields)


def test_the_token_comes_from_the_credential_first_then_the_file(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / CREDENTIAL).write_text(TOKEN + "\n")
    key_file = tmp_path / "ha-token"
    key_file.write_text("from-the-file-Kq3Wz8Xv1Mn5Bt7")
    key_file.chmod(0o600)
    cfg = token_cfg(token_credential=CREDENTIAL, token_file=str(key_file))
    assert load_token(cfg, {"CREDENTIALS_DIRECTORY": str(creds)}) == TOKEN
    assert load_token(cfg, {}) == "from-the-file-Kq3Wz8Xv1Mn5Bt7"
    assert load_token(token_cfg(), {}) is None
    # registered as it was read: any log line holding it is masked from now on
    assert TOKEN not in REDACTOR.redact(f"header Bearer {TOKEN}")


def test_an_unreadable_token_names_where_it_looked_never_a_value(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key_file = tmp_path / "ha-token"
    cfg = token_cfg(token_credential=CREDENTIAL, token_file=str(key_file))
    with caplog.at_level(logging.WARNING, logger="edged.tools"), \
            pytest.raises(HttpError) as err:
        load_token(cfg, {})
    assert str(err.value) == (f"its token could not be read (systemd credential '{CREDENTIAL}' "
                              f"($CREDENTIALS_DIRECTORY is not set); token file {key_file} (no "
                              "such file))")
    assert CREDENTIAL in caplog.records[0].getMessage()
    key_file.write_text(TOKEN)
    key_file.chmod(0o644)
    with pytest.raises(HttpError) as err:
        load_token(token_cfg(token_file=str(key_file)), {})
    assert "readable by its group or others (mode 0644); run: chmod 600" in str(err.value)
    assert secret_runs(TOKEN, str(err.value)) == []


def test_through_the_registry_a_failure_is_an_error_sentence_for_the_model(
        ha: HomeAssistantRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / CREDENTIAL).write_text(WRONG)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    light = pointed(example()["light_control"], ha.url)
    tools = configured.configured_tools(ToolsConfig(http=(light,)), confirm=_no_press,
                                        slots=asyncio.Semaphore(1))
    out = asyncio.run(Registry(tools).call(
        "light_control", '{"action": "turn_off", "entity_id": "light.kitchen"}', 5.0))
    assert not out.ok
    assert json.loads(out.output) == {"error": f"127.0.0.1:{ha.port} refused the token "
                                      f"(HTTP 401): check the systemd credential "
                                      f"'{CREDENTIAL}' or the token file "
                                      "/etc/edged/home-assistant-token"}


async def _no_press(name: str) -> bool:
    return False


# --------------------------------------------------------------------------- no answer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_closed_port_is_connection_refused() -> None:
    port = closed_port()
    err = failed(tool(f"http://127.0.0.1:{port}/api/"), {})
    assert str(err) == f"could not reach 127.0.0.1:{port}: connection refused"
    assert err.status is None


def test_a_name_that_does_not_resolve_says_so() -> None:
    err = failed(tool("http://no-such-host.invalid:8123/api/"), {})
    assert str(err).startswith("could not reach no-such-host.invalid:8123: the name "
                               "no-such-host.invalid ")


@pytest.mark.timeout(30)
def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with HomeAssistantRig(TOKEN, tmp_path, mode="slow") as ha:
        ask = pointed(example()["ask_home_assistant"], ha.url, timeout_s=1.0)
        err = failed(ask, {"text": "hello"})
        assert str(err) == f"127.0.0.1:{ha.port} did not answer within 1 s"
        assert len(ha.requests()) == 1  # it was sent, and never answered


# --------------------------------------------------------------------------- the cap


@pytest.mark.timeout(30)
def test_an_endless_answer_is_cut_at_the_cap(tmp_path: Path) -> None:
    with HomeAssistantRig(TOKEN, tmp_path, mode="flood") as ha:
        out = run(tool(ha.url + "/api/", max_response_kb=2, timeout_s=10), {})
    assert out["status"] == 200 and out["truncated"] is True
    assert out["text"].startswith("all work and no play")
    assert len(out["text"]) <= 2048


def test_a_long_json_answer_is_cut_and_not_parsed(plain: Callable[[Reply], Plain]) -> None:
    big = json.dumps({"states": ["x" * 100] * 400}).encode()  # about 41 KiB
    server = plain(lambda h, seen: send(h, 200, big))
    out = run(tool(server.url + "/", max_response_kb=4), {})
    assert out["truncated"] is True and out["text"].startswith('{"states": ["xxx')
    assert len(out["text"]) <= TEXT_CHARS
    whole = run(tool(server.url + "/", max_response_kb=64), {})
    assert len(whole["states"]) == 400 and "truncated" not in whole


def test_a_chunked_answer_is_read_and_cut_alike(plain: Callable[[Reply], Plain]) -> None:
    def chunked(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        h.protocol_version = "HTTP/1.1"
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for part in (b'{"speech": ', b'"' + b"y" * 3000 + b'"', b"}"):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        h.wfile.write(b"0\r\n\r\n")

    server = plain(chunked)
    assert len(run(tool(server.url + "/"), {})["speech"]) == 3000
    cut = run(tool(server.url + "/", max_response_kb=1), {})
    assert cut["truncated"] is True and len(cut["text"]) <= 1024


def test_a_text_answer_comes_back_as_text(plain: Callable[[Reply], Plain]) -> None:
    server = plain(lambda h, seen: send(h, 200, b"OK, done\n", "text/plain"))
    assert run(tool(server.url + "/"), {}) == {"text": "OK, done", "status": 200}


# --------------------------------------------------------------------------- TLS


@pytest.mark.skipif(not HAVE_OPENSSL, reason="the openssl command makes the certificate")
def test_https_with_the_configured_ca_works_and_without_it_fails_clearly(
        tmp_path: Path) -> None:
    tls = make_loopback_tls(tmp_path)
    with HomeAssistantRig(TOKEN, tmp_path, cert=tls.cert, key=tls.key) as ha:
        assert ha.url.startswith("https://")
        ask = pointed(example()["ask_home_assistant"], ha.url)
        trusted = dataclasses.replace(ask, ca_file=str(tls.cert))
        out = run(trusted, {"text": "turn on the lights"})
        assert out["response"]["speech"]["plain"]["speech"] == "Turned on the lights"
        err = failed(ask, {"text": "turn on the lights"})
        assert str(err).startswith(f"could not reach 127.0.0.1:{ha.port}: its TLS "
                                   "certificate is not trusted (self-signed certificate")
        assert [r["token_ok"] for r in ha.requests()] == [True]  # only the trusted one
    missing = dataclasses.replace(trusted, ca_file=str(tmp_path / "nope.pem"))
    with pytest.raises(HttpError, match=r"its CA file .*nope\.pem cannot be used: no such "
                                        "file or directory"):
        run(missing, {"text": "x"})
