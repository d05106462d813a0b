"""The doctor's HTTP tools check against the Home Assistant rig (a real server process on
127.0.0.1, tests/rigs/home_assistant.py): name, connection, TLS with the tool's CA, the
token, and one request only where doctor_arguments allow it. No token is ever shown."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edged.doctor import report
from edged.doctor.http_tools import NOT_SENT, Probe, Step, check_http_tools, verdict
from edged.doctor.result import CheckResult
from edged.rig.tls import HAVE_OPENSSL, make_loopback_tls
from tests.doctor.helpers import context, custom, write_config
from tests.leaks import secret_runs
from tests.rigs.home_assistant import HomeAssistantRig

TOKEN = "ha-doctor-Wq8Zr3Xm6Lt1Vp9Kb4"
CREDENTIAL = "home-assistant-token"
ROOT = Path(__file__).resolve().parents[2]


def ask_tool(base: str, token_file: Path | None, **more: Any) -> dict[str, Any]:
    """The worked example's ask_home_assistant, pointed at ``base``."""
    tool: dict[str, Any] = {
        "name": "ask_home_assistant", "description": "Ask Home Assistant.", "method": "POST",
        "url": base + "/api/conversation/process",
        "parameters": {"text": {"type": "string"}},
        "body": {"text": "{text}", "language": "en"},
        "token_credential": CREDENTIAL,
        "token_file": str(token_file) if token_file else None,
        "timeout_s": 5,
    }
    return {**tool, **more}


def doc(*tools: dict[str, Any]) -> dict[str, Any]:
    return custom("ws://127.0.0.1:9/", tools={"http": list(tools)})


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "ha-token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def ha(tmp_path: Path) -> Any:
    with HomeAssistantRig(TOKEN, tmp_path) as rig:
        yield rig


def check(tmp_path: Path, *tools: dict[str, Any], environ: dict[str, str] | None = None,
          timeout_s: float | None = None) -> CheckResult:
    ctx = context(tmp_path, doc(*tools), environ=environ or {}, timeout_s=timeout_s)
    result = check_http_tools(ctx)
    shown = (" ".join([result.summary, result.fix or "", *result.notes])
             + report.render([result]) + json.dumps(report.to_json([result])))
    assert secret_runs(TOKEN, shown) == []
    return result


def test_no_http_tools_is_skipped(tmp_path: Path) -> None:
    result = check_http_tools(context(tmp_path, custom("ws://127.0.0.1:9/")))
    assert (result.status, result.summary) == ("skip", "skipped: no tools.http configured")


def test_without_doctor_arguments_no_request_is_sent(
        tmp_path: Path, ha: HomeAssistantRig, token_file: Path) -> None:
    result = check(tmp_path, ask_tool(ha.url, token_file))
    assert result.status == "ok", result
    assert result.summary == (f"ask_home_assistant: 127.0.0.1 is an address; 127.0.0.1:"
                              f"{ha.port} accepts connections; token in token file "
                              f"{token_file}, not shown; {NOT_SENT}")
    assert ha.requests() == []


def test_with_doctor_arguments_one_real_request_is_sent_with_the_token(
        tmp_path: Path, ha: HomeAssistantRig, token_file: Path) -> None:
    result = check(tmp_path, ask_tool(ha.url, token_file,
                                      doctor_arguments={"text": "what time is it"}))
    assert result.status == "ok", result
    assert "request answered HTTP 200 in " in result.summary
    [seen] = ha.requests()
    assert seen["token_ok"] and seen["body"] == {"text": "what time is it", "language": "en"}


def test_a_refused_token_fails_naming_where_it_came_from(
        tmp_path: Path, ha: HomeAssistantRig, token_file: Path) -> None:
    token_file.write_text("ha-doctor-stale-token-00000000")
    result = check(tmp_path, ask_tool(ha.url, token_file, doctor_arguments={"text": "hi"}))
    assert result.status == "fail"
    assert (f"request: 127.0.0.1:{ha.port} refused the token (HTTP 401): check the systemd "
            f"credential '{CREDENTIAL}' or the token file {token_file}") in result.summary
    assert result.fix is not None and result.fix.startswith(
        f"ask_home_assistant: the token in systemd credential '{CREDENTIAL}' or the token "
        f"file {token_file} is wrong, revoked or lacks access")
    assert secret_runs("ha-doctor-stale-token-00000000", result.summary + result.fix) == []


def test_the_credential_is_read_as_the_service_reads_it(
        tmp_path: Path, ha: HomeAssistantRig) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / CREDENTIAL).write_text(TOKEN)
    result = check(tmp_path, ask_tool(ha.url, None, doctor_arguments={"text": "hi"}),
                   environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert result.status == "ok", result
    assert f"token in systemd credential '{CREDENTIAL}', not shown" in result.summary
    assert ha.requests()[0]["token_ok"]


def test_a_credential_only_the_service_can_read_is_a_warning_and_no_request(
        tmp_path: Path, ha: HomeAssistantRig) -> None:
    result = check(tmp_path, ask_tool(ha.url, None, doctor_arguments={"text": "hi"}))
    assert result.status == "warn"
    assert "token not readable here" in result.summary and "request not sent" in result.summary
    assert result.fix == (f"ask_home_assistant: the credential is the service's alone; also "
                          f"set token_file (the file LoadCredential= reads, e.g. /etc/edged/"
                          f"{CREDENTIAL}) so sudo edged doctor can read it")
    assert ha.requests() == []


def test_a_token_file_others_can_read_fails_with_chmod(
        tmp_path: Path, ha: HomeAssistantRig, token_file: Path) -> None:
    token_file.chmod(0o644)
    result = check(tmp_path, ask_tool(ha.url, token_file))
    assert result.status == "fail"
    assert result.fix == f"ask_home_assistant: chmod 600 {token_file}"


def test_arguments_that_do_not_fit_the_parameters_are_not_sent(
        tmp_path: Path, ha: HomeAssistantRig, token_file: Path) -> None:
    # the keys are the tool's own (the config checks that much), a value is not
    result = check(tmp_path, ask_tool(ha.url, token_file, doctor_arguments={"text": 42}))
    assert result.status == "fail"
    assert "doctor_arguments do not fit the tool's parameters" in result.summary
    assert ha.requests() == []


def test_a_closed_port_fails_before_any_token_is_read(tmp_path: Path, token_file: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = check(tmp_path, ask_tool(f"http://127.0.0.1:{port}", token_file))
    assert result.status == "fail"
    assert result.summary == (f"ask_home_assistant: 127.0.0.1 is an address; could not reach "
                              f"127.0.0.1:{port}: connection refused")
    assert result.fix is not None and "nothing listens there" in result.fix


def test_a_name_that_does_not_resolve_fails_at_dns(tmp_path: Path, token_file: Path) -> None:
    result = check(tmp_path, ask_tool("http://no-such-host.invalid:8123", token_file),
                   timeout_s=5)
    assert result.status == "fail"
    [step] = result.details["tools"][0]["steps"]  # nothing after it was tried
    assert "no-such-host.invalid" in step and "resolve" in step


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_fails_within_the_timeout(
        tmp_path: Path, token_file: Path) -> None:
    with HomeAssistantRig(TOKEN, tmp_path, mode="slow") as ha:
        result = check(tmp_path, ask_tool(ha.url, token_file, doctor_arguments={"text": "x"}),
                       timeout_s=1)
    assert result.status == "fail"
    assert result.summary.endswith(f"request: 127.0.0.1:{ha.port} did not answer within 1 s")


@pytest.mark.skipif(not HAVE_OPENSSL, reason="the openssl command makes the certificate")
def test_tls_is_checked_with_the_tools_own_ca(tmp_path: Path, token_file: Path) -> None:
    tls = make_loopback_tls(tmp_path)
    with HomeAssistantRig(TOKEN, tmp_path, cert=tls.cert, key=tls.key) as ha:
        good = check(tmp_path, ask_tool(ha.url, token_file, ca_file=str(tls.cert),
                                        doctor_arguments={"text": "hi"}))
        bad = check(tmp_path, ask_tool(ha.url, token_file))
    assert good.status == "ok", good
    assert f"with 127.0.0.1:{ha.port} (CA {tls.cert}, " in good.summary
    assert "request answered HTTP 200" in good.summary
    assert bad.status == "fail"
    assert "its TLS certificate is not trusted" in bad.summary
    assert bad.fix == ("ask_home_assistant: for a server with its own CA (a self-signed Home "
                       "Assistant), set the tool's ca_file to that CA's certificate")


def test_several_tools_are_one_line_each_and_the_worst_decides() -> None:
    fine = Probe("lights", "ha", 8123, (Step("ok", "ha → 10.0.0.2"), Step("ok", NOT_SENT)))
    broken = Probe("weather", "w", 443, (Step("fail", "w does not resolve", "check the host"),))
    result = verdict([fine, broken])
    assert (result.status, result.summary) == ("fail", "2 tools, 1 ok; look at weather")
    assert result.notes == ("lights: ha → 10.0.0.2; " + NOT_SENT, "weather: w does not resolve")
    assert result.fix == "weather: check the host"
    assert verdict([fine]).fix is None


def test_edged_doctor_runs_the_check(tmp_path: Path, ha: HomeAssistantRig,
                                     token_file: Path) -> None:
    path = write_config(tmp_path, doc(ask_tool(ha.url, token_file,
                                               doctor_arguments={"text": "hi"})))
    done = subprocess.run([sys.executable, "-m", "edged", "doctor", "--config", str(path),
                           "--only", "http_tools", "--json"], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {c["id"]: c for c in json.loads(done.stdout)["checks"]}
    assert list(checks) == ["config", "http_tools"]
    assert checks["http_tools"]["status"] == "ok"
    assert TOKEN not in done.stdout + done.stderr
    assert ha.requests()[0]["token_ok"]


def test_a_token_sent_over_plain_http_to_another_machine_is_pointed_out(
        token_file: Path) -> None:
    from edged.config import HttpToolConfig
    from edged.doctor.http_tools import _token

    cfg = HttpToolConfig(name="ask", description="d", url="http://10.0.0.2:8123/api/",
                         token_file=str(token_file))
    lan, _ = _token(cfg, {}, False, "10.0.0.2")
    assert lan.text == f"token in token file {token_file}, not shown (sent unencrypted over " \
        "http://)"
    assert "unencrypted" not in _token(cfg, {}, True, "10.0.0.2")[0].text
    assert "unencrypted" not in _token(cfg, {}, False, "127.0.0.1")[0].text
