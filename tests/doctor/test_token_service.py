"""The doctor with credentials.token_url: the device token, the token service (a real
HTTP server on loopback, tests/rigs/token_service.py) and the WebSocket handshake with
the secret it minted (the real simulator). Nothing secret is ever shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edged.doctor import report, runner
from edged.doctor.context import Options
from edged.doctor.credentials import check_credentials, check_token_service, token_verdict
from edged.doctor.result import CheckResult
from edged.realtime.client_secret import Minted
from edged.simulator import SimulatorThread
from tests.doctor.helpers import context, write_config
from tests.leaks import secret_runs
from tests.rigs.token_service import TokenServiceRig

DEVICE_TOKEN = "dt-doctor-7Hq2Wm9Xr4Lp0042"


def doc(token_url: str, token_file: Path, url: str = "ws://127.0.0.1:9/") -> dict[str, Any]:
    return {"controls": {"enabled": False},
            "realtime": {"provider": "custom", "url": url},
            "credentials": {"credential": None, "key_file": None, "env": None,
                            "token_url": token_url, "device_token_credential": None,
                            "device_token_file": str(token_file)}}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "device-token"
    path.write_text(DEVICE_TOKEN)
    path.chmod(0o600)
    return path


def everything(result: CheckResult) -> str:
    return (" ".join([result.summary, result.fix or "", *result.notes])
            + report.render([result]) + json.dumps(report.to_json([result])))


def check(tmp_path: Path, rig: TokenServiceRig, token_file: Path,
          timeout_s: float | None = None) -> CheckResult:
    ctx = context(tmp_path, doc(rig.url, token_file), environ={}, timeout_s=timeout_s)
    result = check_token_service(ctx)
    shown = everything(result)
    for secret in [DEVICE_TOKEN, *rig.minted]:
        assert secret_runs(secret, shown) == []
    return result


def test_the_device_token_is_checked_instead_of_an_api_key(tmp_path: Path,
                                                           token_file: Path) -> None:
    ctx = context(tmp_path, doc("https://tokens.example.org/t", token_file), environ={})
    result = check_credentials(ctx)
    assert (result.status, result.title) == ("ok", "device token")
    assert result.details["source"] == f"device token file {token_file}"
    assert "no API key on this speaker" in result.summary
    assert DEVICE_TOKEN not in everything(result)
    token_file.unlink()
    result = check_credentials(ctx)
    assert result.status == "fail" and result.summary == "no device token found"
    assert result.fix == (f"put this speaker's device token (from your token service) in "
                          f"{token_file} (one line; sudo chmod 600 {token_file})")


def test_a_working_service_is_ok_and_the_secret_is_not_shown(tmp_path: Path,
                                                             token_file: Path) -> None:
    with TokenServiceRig(DEVICE_TOKEN, lifetime_s=600) as rig:
        result = check(tmp_path, rig, token_file)
    assert result.status == "ok", result
    assert rig.mints == 1
    assert "valid 600 s, timed by the service's Date header" in result.summary
    assert result.details["lifetime_s"] == 600.0 and result.details["basis"] == "service clock"


def test_no_token_url_skips_without_blocking(tmp_path: Path) -> None:
    ctx = context(tmp_path, {"controls": {"enabled": False}}, environ={})
    result = check_token_service(ctx)
    assert result.status == "skip" and "token_url is not set" in result.summary


@pytest.mark.parametrize(("mode", "summary", "fix"), [
    ("401", "refused this speaker's device token", "does not accept this speaker's device"),
    ("500", "HTTP 500: server trouble", "is the token service up and reachable"),
    ("garbage", "the answer is malformed: the answer is not JSON", '{"value": "<client secret>"'),
    ("302", "a redirect, which edged does not follow", "check credentials.token_url"),
    ("slow", "no answer within 0.5 s", "is the token service up and reachable"),
])
def test_each_failure_says_what_and_what_to_do(tmp_path: Path, token_file: Path, mode: str,
                                               summary: str, fix: str) -> None:
    with TokenServiceRig(DEVICE_TOKEN, mode=mode, slow_s=5.0) as rig:  # type: ignore[arg-type]
        result = check(tmp_path, rig, token_file, timeout_s=0.5)
    assert result.status == "fail"
    assert summary in result.summary
    assert result.fix is not None and fix in result.fix


def test_a_clock_an_hour_off_is_flagged_but_the_secret_still_times_right(
        tmp_path: Path, token_file: Path) -> None:
    with TokenServiceRig(DEVICE_TOKEN, lifetime_s=600, clock_offset_s=-3600.0) as rig:
        result = check(tmp_path, rig, token_file)
    assert result.status == "warn"
    assert "valid 600 s" in result.summary
    assert "this clock is 60 min ahead of the service's" in result.summary
    assert result.fix is not None and "timedatectl set-ntp true" in result.fix


def test_short_lived_or_untimed_secrets_are_warned_about() -> None:
    assert token_verdict(Minted("ek_x1234567", 30.0, "service clock", 0.0), 5.0)[0] == "warn"
    status, _, fix = token_verdict(Minted("ek_x1234567", 0.0, "this clock"), 5.0)
    assert status == "warn" and fix is not None and "Date header" in fix
    assert token_verdict(Minted("ek_x1234567", 600.0, "service clock", 2.0), 5.0)[0] == "ok"


def test_the_handshake_uses_a_minted_secret(tmp_path: Path, token_file: Path) -> None:
    with SimulatorThread(require_key="sk-nothing-matches-yet-0000") as sim:
        def accept(value: str) -> None:
            sim.sim.require_key = value

        with TokenServiceRig(DEVICE_TOKEN, on_mint=accept) as rig:
            path = write_config(tmp_path, doc(rig.url, token_file, sim.url))
            results = runner.run(Options(config_path=str(path), environ={}, timeout_s=5.0),
                                 only={"handshake"})
            auth = sim.read(lambda s: [r.auth for r in s.requests])
    status = {r.id: r.status for r in results}
    assert status == {"config": "ok", "credentials": "ok", "token_service": "ok",
                      "dns": "ok", "tls": "skip", "handshake": "ok"}, results
    assert rig.mints == 2 and auth == ["bearer"]  # the handshake took the second, fresh one
    text = report.render(results) + json.dumps(report.to_json(results))
    for secret in [DEVICE_TOKEN, *rig.minted]:
        assert secret_runs(secret, text) == []


def test_a_failing_token_service_blocks_the_handshake(tmp_path: Path, token_file: Path) -> None:
    with TokenServiceRig(DEVICE_TOKEN, mode="503") as rig:
        path = write_config(tmp_path, doc(rig.url, token_file))
        results = runner.run(Options(config_path=str(path), environ={}, timeout_s=5.0),
                             only={"handshake"})
    by_id = {r.id: r for r in results}
    assert by_id["token_service"].status == "fail"
    assert by_id["handshake"].status == "skip"
    assert by_id["handshake"].summary == "skipped: fix the token service check first"


def test_the_refused_secret_fix_points_at_the_service(tmp_path: Path, token_file: Path) -> None:
    with SimulatorThread(require_key="sk-the-service-mints-bad-ones-0") as sim, \
            TokenServiceRig(DEVICE_TOKEN) as rig:
        path = write_config(tmp_path, doc(rig.url, token_file, sim.url))
        results = runner.run(Options(config_path=str(path), environ={}, timeout_s=5.0),
                             only={"handshake"})
    handshake = next(r for r in results if r.id == "handshake")
    assert handshake.status == "fail"
    assert handshake.summary == ("the server refused the client secret the token service "
                                 "minted (HTTP 401)")
    assert handshake.fix is not None and "device token was accepted" in handshake.fix
