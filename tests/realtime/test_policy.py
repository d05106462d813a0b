"""Reconnect policy with injected time and randomness: no sleeps anywhere."""

from __future__ import annotations

import importlib.util
import itertools
import json
import random
import sys
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from edged.config import LinkConfig
from edged.realtime.policy import (
    Cause,
    Circuit,
    Failure,
    Policy,
    Wait,
    classify_close,
    classify_error_code,
    classify_status,
    parse_retry_after,
)

CFG = LinkConfig(backoff_base_s=0.5, backoff_cap_s=30.0, healthy_after_s=30.0,
                 circuit_threshold=8, circuit_reset_s=60.0, auth_retry_s=900.0,
                 session_renew_min=55.0)
NET = Failure(Cause.NETWORK, "reset")


def _circuit(p: Policy) -> Circuit:
    """Read afresh (a plain attribute read would be narrowed by the type checker)."""
    return p.circuit


def _policy(rng_value: float | None = None, cfg: LinkConfig = CFG) -> Policy:
    if rng_value is None:
        return Policy(cfg, random.Random(7).random)
    return Policy(cfg, lambda: rng_value)


# --------------------------------------------------------------------------- backoff


def test_full_jitter_ceiling_doubles_per_failure_up_to_the_cap() -> None:
    p = _policy(rng_value=0.999999)
    ceilings = [round(p.backoff(n), 3) for n in range(1, 10)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert _policy(rng_value=0.0).backoff(5) == 0.0


def test_backoff_delays_stay_within_zero_and_the_ceiling_and_use_the_whole_range() -> None:
    p = _policy()
    for n in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (n - 1))
        delays = [p.backoff(n) for _ in range(2000)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert min(delays) < 0.05 * ceiling and max(delays) > 0.95 * ceiling


def test_huge_failure_counts_do_not_overflow() -> None:
    assert _policy(rng_value=0.5).backoff(10**6) == 15.0


def test_consecutive_failures_grow_the_wait() -> None:
    p = _policy(rng_value=1.0)
    now = 0.0
    waits = []
    for _ in range(4):
        p.attempt(now)
        plan = p.failed(NET, now)
        waits.append(plan.at - now)
        assert plan.wait is Wait.BACKOFF
        now = plan.at
    assert waits == [0.5, 1.0, 2.0, 4.0]


def test_a_connection_that_stayed_healthy_resets_the_backoff() -> None:
    p = _policy(rng_value=1.0)
    for i in range(5):
        p.attempt(i)
        p.failed(NET, i)
    assert p.failures == 5
    p.attempt(100.0)
    p.up(100.0)
    plan = p.failed(NET, 100.0 + 30.0)  # up exactly healthy_after_s
    assert p.failures == 1
    assert plan.at - 130.0 == 0.5


def test_a_short_lived_connection_does_not_reset_the_backoff() -> None:
    p = _policy(rng_value=1.0)
    for i in range(3):
        p.attempt(i)
        p.failed(NET, i)
    p.attempt(10.0)
    p.up(10.0)
    plan = p.failed(NET, 10.0 + 29.0)
    assert p.failures == 4
    assert plan.at - 39.0 == 4.0


# --------------------------------------------------------------------------- circuit


def test_circuit_opens_at_the_threshold_and_probes_once_per_reset_period() -> None:
    p = _policy(rng_value=0.0)  # no stretch, no backoff: exact timing
    now = 0.0
    for _ in range(7):
        p.attempt(now)
        plan = p.failed(NET, now)
        assert _circuit(p) is Circuit.CLOSED and plan.wait is Wait.BACKOFF
    p.attempt(now)
    plan = p.failed(NET, now)
    assert _circuit(p) is Circuit.OPEN
    assert plan.wait is Wait.CIRCUIT_OPEN and plan.at == 60.0
    # a long outage: every probe fails, exactly one attempt per reset period
    attempts = []
    for _ in range(10):
        now = p.plan.at
        p.attempt(now)
        assert _circuit(p) is Circuit.HALF_OPEN
        attempts.append(now)
        p.failed(NET, now)
        assert _circuit(p) is Circuit.OPEN
    assert [b - a for a, b in itertools.pairwise(attempts)] == [60.0] * 9


def test_circuit_probe_spread_is_at_least_the_reset_period() -> None:
    p = _policy()
    for i in range(8):
        p.attempt(float(i))
        p.failed(NET, float(i))
    for _ in range(200):
        start = p.plan.at
        p.attempt(start)
        plan = p.failed(NET, start)
        assert 60.0 <= plan.at - start <= 72.0


def test_a_successful_probe_closes_the_circuit_but_a_quick_drop_reopens_it() -> None:
    p = _policy(rng_value=0.0)
    for i in range(8):
        p.attempt(float(i))
        p.failed(NET, float(i))
    assert _circuit(p) is Circuit.OPEN
    p.attempt(100.0)
    p.up(100.0)
    assert _circuit(p) is Circuit.CLOSED
    plan = p.failed(NET, 101.0)  # flapping server: back to one probe per period
    assert _circuit(p) is Circuit.OPEN and plan.wait is Wait.CIRCUIT_OPEN
    p.attempt(plan.at)
    p.up(plan.at)
    plan = p.failed(NET, plan.at + 31.0)  # this one stayed healthy
    assert _circuit(p) is Circuit.CLOSED and p.failures == 1 and plan.wait is Wait.BACKOFF


# --------------------------------------------------------------------------- classes


@pytest.mark.parametrize(("status", "cause"), [
    (401, Cause.CREDENTIALS), (403, Cause.CREDENTIALS), (400, Cause.CONFIGURATION),
    (404, Cause.CONFIGURATION), (429, Cause.RATE_LIMITED), (500, Cause.NETWORK),
    (502, Cause.NETWORK), (503, Cause.NETWORK), (504, Cause.NETWORK), (408, Cause.NETWORK),
    (410, Cause.CONFIGURATION), (302, Cause.NETWORK),
])
def test_handshake_statuses_are_classified(status: int, cause: Cause) -> None:
    failure = classify_status(status)
    assert failure.cause is cause
    assert f"HTTP {status}" in failure.detail


@pytest.mark.parametrize(("code", "error", "cause"), [
    (None, None, Cause.NETWORK), (1006, None, Cause.NETWORK), (1011, None, Cause.NETWORK),
    (1000, None, Cause.NETWORK), (1001, None, Cause.SESSION_END),
    (1000, "session_expired", Cause.SESSION_END), (None, "session_expired", Cause.SESSION_END),
    (4000, "beta_api_shape_disabled", Cause.CONFIGURATION),
    (1008, "invalid_api_key", Cause.CREDENTIALS),
    (1011, "conversation_already_has_active_response", Cause.NETWORK),
])
def test_closes_are_classified(code: int | None, error: str | None, cause: Cause) -> None:
    assert classify_close(code, "r", error).cause is cause


def test_error_codes_alone() -> None:
    assert classify_error_code("response_cancel_not_active") is None
    assert classify_error_code(None) is None
    assert classify_error_code("SESSION_EXPIRED") is Cause.SESSION_END


@pytest.mark.parametrize(("cause", "wait"), [(Cause.CREDENTIALS, Wait.AUTH_FAILED),
                                             (Cause.CONFIGURATION, Wait.CONFIG_FAILED)])
def test_credentials_and_configuration_failures_wait_long(cause: Cause, wait: Wait) -> None:
    p = _policy()
    p.attempt(0.0)
    plan = p.failed(Failure(cause, "x"), 0.0)
    assert plan.wait is wait
    assert 900.0 <= plan.at <= 900.0 * 1.2
    assert p.blocked is cause


def test_a_new_key_retries_at_once_but_only_after_a_credentials_failure() -> None:
    p = _policy()
    p.attempt(0.0)
    p.failed(Failure(Cause.CREDENTIALS, "401"), 0.0)
    assert p.config_changed(5.0).at >= 900.0  # a config change does not lift a key block
    plan = p.credentials_changed(5.0)
    assert plan.at == 5.0 and plan.wait is Wait.NONE
    assert p.blocked is None and p.failures == 0
    q = _policy(rng_value=1.0)
    q.attempt(0.0)
    before = q.failed(NET, 0.0)
    assert q.credentials_changed(0.1) == before  # network backoff is not shortened


def test_a_config_change_retries_at_once_after_a_configuration_failure() -> None:
    p = _policy()
    p.attempt(0.0)
    p.failed(Failure(Cause.CONFIGURATION, "404"), 0.0)
    assert p.credentials_changed(1.0).at >= 900.0
    assert p.config_changed(2.0).at == 2.0


def test_reset_forgets_every_wait() -> None:
    p = _policy(rng_value=0.0)
    for i in range(8):
        p.attempt(float(i))
        p.failed(NET, float(i))
    assert _circuit(p) is Circuit.OPEN
    plan = p.reset(10.0)
    assert plan.at == 10.0
    assert (_circuit(p), p.failures) == (Circuit.CLOSED, 0)


def test_429_honours_retry_after() -> None:
    p = _policy(rng_value=1.0)
    p.attempt(0.0)
    plan = p.failed(classify_status(429, retry_after=12.0), 0.0)
    assert plan.at == 12.0 and plan.wait is Wait.RETRY_AFTER
    # backoff longer than Retry-After wins; absurd Retry-After is capped at an hour
    q = _policy(rng_value=1.0)
    for _i in range(6):
        q.attempt(0.0)
        q.failed(NET, 0.0)
    assert q.failed(classify_status(429, retry_after=1.0), 0.0).at == 30.0
    r = _policy(rng_value=1.0)
    assert r.failed(classify_status(503, retry_after=1e9), 0.0).at == 3600.0


def test_retry_after_header_forms() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 2.5 ", now) == 2.5
    later = format_datetime(datetime(2025, 1, 1, 12, 0, 42, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now) == 42.0
    past = format_datetime(datetime(2024, 1, 1, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(past, now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-3", now) is None


def test_session_end_reconnects_at_once_without_counting_as_a_failure() -> None:
    p = _policy(rng_value=1.0)
    p.attempt(0.0)
    p.up(0.0)
    plan = p.failed(Failure(Cause.SESSION_END, "1001"), 3600.0)
    assert plan.at == 3600.0 and plan.wait is Wait.NONE
    assert p.failures == 0


def test_session_end_right_after_connecting_never_loops_tightly() -> None:
    p = _policy(rng_value=1.0)
    ends = Failure(Cause.SESSION_END, "1001")
    p.attempt(0.0)
    p.up(0.0)
    assert p.failed(ends, 0.1).wait is Wait.NONE  # the first one is free
    p.attempt(0.1)
    p.up(0.1)
    plan = p.failed(ends, 0.2)  # again at once: now it is trouble
    assert plan.wait is Wait.BACKOFF and plan.at > 0.2
    p.attempt(plan.at)
    p.up(plan.at)
    assert p.failed(ends, plan.at + 0.1).wait is Wait.BACKOFF
    # a healthy connection earns the free rejoin back
    p.attempt(10.0)
    p.up(10.0)
    assert p.failed(ends, 50.0).wait is Wait.NONE


def test_renewal_is_due_only_after_the_limit_and_only_when_idle() -> None:
    p = _policy()
    assert p.renewal_due(10_000.0, idle=True) is False  # not up
    p.attempt(100.0)
    p.up(100.0)
    assert p.renew_at() == 100.0 + 55 * 60
    assert p.renewal_due(100.0 + 55 * 60 - 1, idle=True) is False
    assert p.renewal_due(100.0 + 55 * 60, idle=False) is False
    assert p.renewal_due(100.0 + 55 * 60 + 300, idle=False) is False
    assert p.renewal_due(100.0 + 55 * 60, idle=True) is True
    plan = p.failed(Failure(Cause.RENEWAL, "renewal"), 100.0 + 55 * 60)
    assert plan.wait is Wait.NONE and p.failures == 0


# --------------------------------------------------------------------------- the herd


def _herd(clients: int, jitter: bool) -> list[float]:
    """Every client loses the server at t=0; it comes back at t=120 s.

    Returns each client's first attempt time after the server is back.
    """
    back_at = 120.0
    firsts = []
    for i in range(clients):
        rng = random.Random(i).random if jitter else (lambda: 1.0)
        p = Policy(CFG, rng)
        p.attempt(0.0)
        p.up(0.0)
        plan = p.failed(NET, 0.0)
        while plan.at < back_at:
            p.attempt(plan.at)
            plan = p.failed(NET, plan.at)
        firsts.append(plan.at)
    return firsts


def test_a_thousand_clients_spread_their_retries_after_an_outage() -> None:
    firsts = _herd(1000, jitter=True)
    buckets = Counter(int(t * 10) for t in firsts)  # 100 ms buckets
    assert max(buckets.values()) <= 20  # no 100 ms slot holds more than 2 % of the fleet
    spread = max(firsts) - min(firsts)
    assert spread > 30.0
    # the first minute after recovery sees a trickle, not a wall
    per_second = Counter(int(t) for t in firsts)
    assert max(per_second.values()) <= 60


def test_the_herd_measure_detects_synchronised_clients() -> None:
    # Control: without jitter the same fleet retries in lock-step, and the
    # bucket assertion above would fail.
    firsts = _herd(1000, jitter=False)
    assert max(Counter(int(t * 10) for t in firsts).values()) == 1000


# ------------------------------------------------------------------ the herd at fleet scale


def _herd_script() -> ModuleType:
    """``scripts/herd.py``, imported (its dataclasses need it in sys.modules)."""
    name = "edged_scripts_herd"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[2] / "scripts" / "herd.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _recovery_shape(summary: dict[str, Any], cfg: LinkConfig) -> list[str]:
    """What is wrong with a fleet's recovery ([] when nothing): attempts at the server
    after it is back stay near what open circuits already allow, and every speaker is
    back within the longest wait the policy can give a network failure."""
    ceiling = summary["speakers"] / cfg.circuit_reset_s  # probes/s with every circuit open
    wrong = []
    if summary["recovery_peak_per_s"] > 3 * ceiling:
        wrong.append(f"a second with {summary['recovery_peak_per_s']} attempts")
    if max(b["per_s"] for b in summary["recovery_buckets"]) > 2 * ceiling:
        wrong.append("a 10-s bucket over twice the probe rate")
    if summary["last_back_s"] is not None and summary["last_back_s"] > \
            max(cfg.backoff_cap_s, 1.2 * cfg.circuit_reset_s) + 0.3:
        wrong.append(f"the last speaker back only after {summary['last_back_s']} s")
    return wrong


def test_a_thousand_speakers_come_back_from_a_ten_minute_endpoint_outage_spread_out() -> None:
    herd, cfg = _herd_script(), LinkConfig()  # the defaults a fleet runs with
    summary = herd.summary(herd.simulate("endpoint", 1000, 600.0, cfg, seed=1))
    assert summary["offline"] == 1000
    assert _recovery_shape(summary, cfg) == []
    assert summary["recovery_buckets"][-1]["back"] == 1000
    # during the outage the open circuits hold the fleet near one probe per reset period
    assert summary["outage_last_minute_per_s"] <= 1000 / cfg.circuit_reset_s


def test_the_recovery_shape_catches_a_synchronised_fleet() -> None:
    # Control: speakers with no jitter all probe in the same second, and the shape
    # check above fails on them.
    herd, cfg = _herd_script(), LinkConfig()
    summary = herd.summary(herd.simulate("endpoint", 1000, 600.0, cfg, jitter=False))
    assert summary["recovery_peak_per_s"] == 1000
    assert _recovery_shape(summary, cfg) != []


def test_a_token_service_outage_takes_only_sessions_at_their_limit_offline() -> None:
    herd, cfg = _herd_script(), LinkConfig()
    cap_s, renew_s = 3600.0, cfg.session_renew_min * 60.0
    out = herd.simulate("token_service", 1000, 600.0, cfg, seed=1, session_cap_s=cap_s)
    # renewals that came due waited for a secret; only a session the server ended at
    # its limit, within the outage, went offline (some 9 % of the fleet)
    assert 0 < len(out.offline) < 1000 * (600.0 - (cap_s - renew_s)) / renew_s * 1.5
    assert all(0.0 <= down < 600.0 <= up for down, up in out.offline.values())
    summary = herd.summary(out)
    assert _recovery_shape(summary, cfg) == []
    assert summary["outage_peak_per_s"] <= 1000 / cfg.circuit_reset_s
    # an outage shorter than the gap between renewal and the limit takes no one offline
    short = herd.simulate("token_service", 1000, cap_s - renew_s - 1.0, cfg, seed=1)
    assert short.offline == {}


def test_scripts_herd_prints_both_outages(capsys: pytest.CaptureFixture[str]) -> None:
    assert _herd_script().main(["--speakers", "100", "--outage-s", "300", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["kind"] for s in doc["scenarios"]] == ["endpoint", "token_service"]
    assert doc["scenarios"][0]["offline"] == 100
    assert _herd_script().main(["--speakers", "100"]) == 0
    assert "last speaker back" in capsys.readouterr().out
