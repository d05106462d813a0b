"""The pure metrics core: plain values in, plain values out, time passed in."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edged.config import HealthConfig
from edged.health.metrics import (
    LatencyWindow,
    Metrics,
    evaluate,
    format_duration,
    status_line,
)
from edged.health.proc import ProcSample

BUDGETS = HealthConfig()


def healthy(now: float = 600.0) -> dict[str, object]:
    m = Metrics(0.0)
    m.set_state("idle")
    m.set_link("up", 1.0)
    m.set_device("input", "ok")
    m.set_device("output", "ok")
    for ms in (5.0, 6.0, 7.0):
        m.uplink.record(ms)
        m.downlink.record(ms)
    return m.snapshot(now, ProcSample(rss_mb=31.0, peak_rss_mb=33.0, cpu_pct=0.4))


# --------------------------------------------------------------------------- latency window


def test_percentiles_are_nearest_rank() -> None:
    w = LatencyWindow(size=100)
    for ms in range(1, 101):
        w.record(float(ms))
    assert w.percentile(50) == 50.0
    assert w.percentile(95) == 95.0
    assert w.percentile(100) == 100.0


def test_empty_window_has_no_percentile() -> None:
    assert LatencyWindow().percentile(95) is None


def test_window_memory_is_bounded_and_keeps_the_latest_samples() -> None:
    w = LatencyWindow(size=8)
    for _ in range(1000):
        w.record(1000.0)  # an old spike ...
    for _ in range(8):
        w.record(2.0)  # ... pushed out by the latest samples
    assert w.count == 1008
    assert len(w._buf) == 8
    assert w.percentile(95) == 2.0


@given(st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), min_size=1,
                max_size=300), st.floats(min_value=0.1, max_value=100))
def test_percentile_is_a_held_sample_with_the_right_rank(samples: list[float], q: float) -> None:
    w = LatencyWindow(size=64)
    for s in samples:
        w.record(s)
    held = samples[-64:]
    p = w.percentile(q)
    assert p in held
    at_or_below = sum(1 for s in held if s <= p)
    assert at_or_below >= math.ceil(q * len(held) / 100)


# --------------------------------------------------------------------------- counters


def test_link_uptime_is_the_last_hour_less_the_outages_after_the_first_connect() -> None:
    m = Metrics(0.0)
    m.set_link("connecting", 0.0)
    assert m.link_uptime_pct(5.0) == 0.0  # never up yet
    m.set_link("up", 10.0)  # the first connection: waiting for it is no outage
    m.set_link("down", 100.0)
    m.set_link("connecting", 101.0)
    m.set_link("up", 136.0)  # 36 s down: 1 % of an hour
    assert m.link_uptime_pct(210.0) == pytest.approx(99.0)
    assert m.link_up_s(210.0) == 74.0
    assert (m.connects, m.reconnects) == (2, 1)
    snap = m.snapshot(210.0)
    assert snap["link"] == "up"
    assert snap["link_uptime_pct"] == 99.0


def test_an_outage_stops_counting_an_hour_after_it_ended() -> None:
    """Before: up-time since start, so one outage kept health critical for hours."""
    m = Metrics(0.0)
    m.set_link("up", 0.0)
    m.set_link("down", 1000.0)
    assert m.link_uptime_pct(1060.0) == pytest.approx(100 * (1 - 60 / 3600))  # still down
    m.set_link("up", 1060.0)
    assert m.link_uptime_pct(1060.0 + 1800) == pytest.approx(100 * (1 - 60 / 3600))
    assert m.link_uptime_pct(1030.0 + 3600) == pytest.approx(100 * (1 - 30 / 3600))  # half out
    assert m.link_uptime_pct(1060.0 + 3600) == 100.0
    m.set_link("down", 9000.0)  # an old outage is forgotten on the next one
    m.set_link("up", 9010.0)
    assert len(m._outages) == 1


def test_one_short_outage_is_a_warning_with_the_default_levels() -> None:
    m = Metrics(0.0)
    m.set_link("up", 0.0)
    m.set_link("down", 5000.0)
    m.set_link("up", 5060.0)  # a minute down
    snap = {**healthy(), "link_uptime_pct": m.link_uptime_pct(5100.0)}
    assert evaluate(snap, HealthConfig()).priority == "warning"
    assert evaluate({**snap, "link_uptime_pct": m.link_uptime_pct(9000.0)},
                    HealthConfig()).priority == "info"


def test_repeated_up_reports_do_not_count_as_reconnects() -> None:
    m = Metrics(0.0)
    m.set_link("up", 1.0)
    m.set_link("up", 2.0)
    assert m.connects == 1
    assert m.link_up_s(3.0) == 2.0


def test_failures_by_class_last_error_and_errors_in_the_last_hour() -> None:
    m = Metrics(0.0)
    m.fail("network", "connection reset", 10.0)
    m.fail("network", "timed out", 20.0)
    m.fail("auth", "401 unauthorized", 4000.0)
    snap = m.snapshot(4000.0)
    assert snap["failures"] == {"auth": 1, "network": 2}
    assert snap["failures_total"] == 3
    assert snap["last_error"] == "401 unauthorized"
    assert snap["last_error_age_s"] == 0.0
    assert snap["errors_last_hour"] == 1  # the two at 10 s and 20 s are older than an hour


def test_error_history_is_bounded() -> None:
    m = Metrics(0.0, error_history=10)
    for i in range(1000):
        m.fail("network", "x", float(i))
    assert m.errors_last_hour(1000.0) == 10
    assert m.failures["network"] == 1000


def test_xruns_from_portaudio_status_flags() -> None:
    m = Metrics(0.0)
    m.xruns(2)  # paInputOverflow
    m.xruns(4)  # paOutputUnderflow
    m.xruns(6)
    m.xruns(0)
    snap = m.snapshot(1.0)
    assert (snap["input_overflows"], snap["output_underflows"]) == (2, 2)


def test_snapshot_is_plain_json_with_every_figure() -> None:
    snap = healthy()
    assert json.loads(json.dumps(snap)) == snap
    for key in ("state", "link", "uptime_s", "link_uptime_pct", "connects", "reconnects",
                "failures", "last_error", "rss_mb", "peak_rss_mb", "cpu_pct",
                "input_overflows", "output_underflows", "devices", "answers", "barge_ins",
                "utterances_held", "utterances_delivered", "utterances_dropped",
                "uplink_p50_ms", "uplink_p95_ms", "downlink_p50_ms", "downlink_p95_ms",
                "errors_last_hour"):
        assert key in snap, key
    assert snap["rss_mb"] == 31.0
    assert snap["cpu_pct"] == 0.4
    assert snap["uplink_p95_ms"] == 7.0


# --------------------------------------------------------------------------- budgets


def test_healthy_record_is_info() -> None:
    ev = evaluate(healthy(), BUDGETS)
    assert ev.priority == "info"
    assert ev.reasons == ()


def test_memory_levels() -> None:
    snap = healthy()
    assert evaluate({**snap, "rss_mb": 79.9}, BUDGETS).priority == "info"
    warn = evaluate({**snap, "rss_mb": 85.0}, BUDGETS)
    assert warn.priority == "warning"
    assert warn.reasons == ("memory 85 MB ≥ warning 80 MB",)
    assert evaluate({**snap, "rss_mb": 100.0}, BUDGETS).priority == "critical"


def test_cpu_levels_are_percent_of_one_core() -> None:
    snap = healthy()
    assert evaluate({**snap, "cpu_pct": 25.0}, BUDGETS).priority == "warning"
    crit = evaluate({**snap, "cpu_pct": 31.0}, BUDGETS)
    assert crit.priority == "critical"
    assert "cpu" in crit.reasons[0]


def test_latency_p95_levels_in_either_direction() -> None:
    snap = healthy()
    assert evaluate({**snap, "uplink_p95_ms": 350.0}, BUDGETS).priority == "warning"
    crit = evaluate({**snap, "downlink_p95_ms": 600.0}, BUDGETS)
    assert crit.priority == "critical"
    assert crit.reasons == ("downlink latency p95 600 ms ≥ critical 500 ms",)


def test_link_uptime_levels_lower_is_worse() -> None:
    snap = healthy()
    assert evaluate({**snap, "link_uptime_pct": 99.5}, BUDGETS).priority == "info"
    assert evaluate({**snap, "link_uptime_pct": 98.0}, BUDGETS).priority == "warning"
    assert evaluate({**snap, "link_uptime_pct": 90.0}, BUDGETS).priority == "critical"


def test_lost_device_is_a_warning() -> None:
    snap = healthy()
    ev = evaluate({**snap, "devices": {"input": "lost", "output": "ok"}}, BUDGETS)
    assert ev.priority == "warning"
    assert ev.reasons == ("audio input device lost",)


def test_open_and_sleeping_devices_are_healthy() -> None:
    # what the PyAudio engine reports: "open" while running, "standby" while asleep
    snap = {**healthy(), "devices": {"both": "standby"}}
    assert evaluate(snap, BUDGETS).priority == "info"
    assert evaluate({**snap, "devices": {"both": "open"}}, BUDGETS).priority == "info"
    assert "standby" not in status_line(snap)


def test_worst_figure_wins_and_leads_the_reasons() -> None:
    snap = {**healthy(), "rss_mb": 85.0, "cpu_pct": 50.0}
    ev = evaluate(snap, BUDGETS)
    assert ev.priority == "critical"
    assert ev.reasons[0].startswith("cpu")
    assert ev.reasons[1].startswith("memory")


def test_configured_levels_are_used() -> None:
    tight = HealthConfig(memory_warning_mb=10, memory_critical_mb=20)
    assert evaluate(healthy(), tight).priority == "critical"


def test_missing_figures_are_not_judged() -> None:
    m = Metrics(0.0)
    m.set_link("up", 0.0)
    assert evaluate(m.snapshot(10.0), BUDGETS).priority == "info"


# --------------------------------------------------------------------------- summaries


def test_status_line() -> None:
    m = Metrics(0.0)
    m.set_state("listening")
    m.set_link("up", 100.0)
    snap = m.snapshot(100.0 + 2 * 3600 + 13 * 60, ProcSample(31.2, 32.0, 0.42))
    assert status_line(snap) == "listening · link up 2h13m · 31 MB · 0.4% CPU"


def test_status_line_says_what_is_wrong() -> None:
    m = Metrics(0.0)
    m.set_state("idle")
    m.set_link("connecting", 1.0)
    m.set_device("output", "lost")
    snap = m.snapshot(5.0, ProcSample(90.0, 90.0, 1.0))
    line = status_line(snap, evaluate(snap, BUDGETS))
    assert line.startswith("idle · link connecting · 90 MB · 1.0% CPU · output lost")
    assert "critical: link up-time 0 % < critical 95 %" in line


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 45, 725, 7980, 273600)] == [
        "0s", "45s", "12m05s", "2h13m", "3d04h"]
