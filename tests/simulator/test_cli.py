"""``edged simulator`` as a user runs it: a real process, real signals, real sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.rigs.realtime_client import PTT_GA


@contextmanager
def simulator(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([sys.executable, "-m", "edged", "simulator", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(30)
        assert line and line[0].strip(), f"no URL printed; stderr: {proc.stderr.read()}"  # type: ignore[union-attr]
        yield proc, line[0].strip()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edged", "simulator", *args],
                          check=False, capture_output=True, text=True, timeout=60, env=env)


def test_starts_prints_its_url_serves_faults_and_stops_on_sigterm() -> None:
    with simulator("--port", "0", "--answer", "tone", "--answer-s", "0.5", "--pace", "inf",
                   "--chunk-ms", "50", "--fault", "refuse:503:1") as (proc, url):
        assert url.startswith("ws://127.0.0.1:")
        with pytest.raises(InvalidStatus) as info:
            connect(url, open_timeout=10).close()
        assert info.value.response.status_code == 503
        assert info.value.response.headers["Retry-After"] == "1"
        with connect(url + "/v1/realtime?model=m", open_timeout=10) as ws:
            assert json.loads(ws.recv(10))["type"] == "session.created"
            ws.send(json.dumps({"type": "response.create"}))
            deltas = 0
            while (event := json.loads(ws.recv(10)))["type"] != "response.done":
                deltas += event["type"] == "response.output_audio.delta"
            assert event["response"]["status"] == "completed"
            assert deltas == 10  # 0.5 s in 50 ms chunks
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert "stopped after 1 connection(s), 2 handshake(s)" in err
        assert "Traceback" not in err


def test_key_quoting_and_surrogate_faults_are_spelled_on_the_command_line() -> None:
    key = "Hq3Rt8Wm1Zx6Vn4Pb2LyQ7"
    with simulator("--port", "0", "-v", "--fault", "quotekey", "--fault", "surrogate:0.1") as (
            proc, url):
        messages = []
        for _ in range(2):
            with connect(url, additional_headers={"api-key": key}, open_timeout=10) as ws:
                assert json.loads(ws.recv(10))["type"] == "session.created"
                ws.send(json.dumps({"type": "session.update", "session": PTT_GA}))
                while (event := json.loads(ws.recv(10)))["type"] != "error":
                    pass
                messages.append(event["error"]["message"])
        assert key in messages[0] and "\ud800" in messages[1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert "fault quotekey:0" in err and "fault surrogate:0.1" in err
        assert key[3:11] not in err  # its log names the fault, never the key


def test_turn_faults_are_spelled_on_the_command_line_even_with_an_x_inside() -> None:
    with simulator("--port", "0", "-v", "--answer", "tone", "--pace", "inf", "--fault",
                   "incomplete:1:max_output_tokensx2", "--fault",
                   "reject:response.create:invalid_value:noecho") as (proc, url):
        for _ in range(2):
            with connect(url, open_timeout=10) as ws:
                assert json.loads(ws.recv(10))["type"] == "session.created"
                ws.send(json.dumps({"type": "response.create"}))
                while (event := json.loads(ws.recv(10)))["type"] != "response.done":
                    pass
                assert event["response"]["status"] == "incomplete"
                assert event["response"]["status_details"]["reason"] == "max_output_tokens"
        with connect(url, open_timeout=10) as ws:
            assert json.loads(ws.recv(10))["type"] == "session.created"
            ws.send(json.dumps({"type": "response.create", "event_id": "r1"}))
            error = json.loads(ws.recv(10))
            assert error["error"]["code"] == "invalid_value"
            assert error["error"]["event_id"] is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert err.count("fault incomplete:1:max_output_tokens") == 2
        assert "fault reject:response.create:invalid_value:noecho" in err


def test_call_faults_script_function_calls_from_the_command_line() -> None:
    with simulator("--port", "0", "--answer", "tone", "--pace", "inf", "--fault",
                   'call:set_timer:{"Seconds": 90}x2', "--fault", "call:get_time:{}") as (
            proc, url):
        with connect(url, open_timeout=10) as ws:
            assert json.loads(ws.recv(10))["type"] == "session.created"
            calls = []
            for _ in range(3):
                ws.send(json.dumps({"type": "response.create"}))
                while (event := json.loads(ws.recv(10)))["type"] != "response.done":
                    pass
                calls += [(i["name"], i["arguments"]) for i in event["response"]["output"]
                          if i["type"] == "function_call"]
        # verbatim (the capitals and the "x2" are the arguments' own), one response each;
        # the third response is the usual spoken answer, with no call
        assert calls == [("set_timer", '{"Seconds": 90}x2'), ("get_time", "{}")]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert 'faults: call:set_timer:{"Seconds": 90}x2, call:get_time:{};' in err


def test_sigint_stops_it_too() -> None:
    with simulator("--port", "0") as (proc, _url):
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--host", "0.0.0.0"], "not a loopback address"),
    (["--fault", "refuse:99"], "from 200 to 599"),
    (["--fault", "nonsense"], "unknown fault kind"),
    (["--fault", "reject:response.creat:invalid_value"], "client event type"),
    (["--fault", "call:set_timer"], "call needs a name and the arguments"),
    (["--fault", "call:set timer:{}"], "function name of 1–64"),
    (["--pace", "0"], "must be above 0"),
    (["--port", "70000"], "must be 0–65535"),
    (["--answer-s", "0"], "must be 0.1–600 seconds"),
    (["--chunk-ms", "5"], "must be 10–1000"),
    (["--tls-cert", "/nonexistent/cert.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"],
     "cannot load the TLS certificate"),
    (["--require-key-env", "EDGED_TEST_UNSET_VAR"], "is not set"),
])
def test_bad_arguments_get_a_clear_message_and_exit_2(args: list[str], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EDGED_TEST_UNSET_VAR"}
    result = run(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_busy_port_is_reported_without_a_traceback() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_require_key_env_refuses_other_keys_and_never_prints_the_key() -> None:
    env = {**os.environ, "EDGED_SIM_KEY": "sk-simulated-secret-123"}
    proc = subprocess.Popen([sys.executable, "-m", "edged", "simulator", "--port", "0", "-v",
                             "--require-key-env", "EDGED_SIM_KEY"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        with pytest.raises(InvalidStatus) as info:
            connect(url, additional_headers={"Authorization": "Bearer wrong"},
                    open_timeout=10).close()
        assert info.value.response.status_code == 401
        with connect(url, additional_headers={"api-key": "sk-simulated-secret-123"},
                     open_timeout=10) as ws:
            assert json.loads(ws.recv(10))["type"] == "session.created"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert "→ 401" in err and "→ 101" in err  # verbose handshake log
        assert "sk-simulated-secret-123" not in err and "wrong" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_the_help_names_every_fault_the_parser_knows() -> None:
    from edged.simulator.faults import _BUILD

    done = run("--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    missing = [kind for kind in _BUILD if f"{kind}:" not in text and f"{kind}[" not in text]
    assert not missing, f"edged simulator --help does not name: {missing}"
