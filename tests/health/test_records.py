"""Health records as journal fields and back (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from edged.health.metrics import Metrics
from edged.health.proc import ProcSample
from edged.health.records import (
    HealthRecord,
    RecordError,
    field_name,
    field_value,
    health_fields,
    health_message,
    journal_fields,
    record_from_entry,
    table,
)


def snapshot() -> dict[str, object]:
    m = Metrics(0.0)
    m.set_state("listening")
    m.set_link("up", 10.0)
    m.fail("network", "connection reset", 50.0)
    m.fail("auth-failed", "401", 60.0)
    m.set_device("input", "ok")
    m.uplink.record(12.0)
    m.answers = 7
    return m.snapshot(3600.0, ProcSample(31.25, 35.0, 0.375))


def test_field_names_are_valid_journal_fields() -> None:
    assert field_name("state") == "EDGED_STATE"
    assert field_name("failures_auth-failed") == "EDGED_FAILURES_AUTH_FAILED"
    assert field_name("EDGED_KIND") == "EDGED_KIND"
    assert field_name("2nd try!") == "EDGED_2ND_TRY"
    assert len(field_name("x" * 200)) == 64


def test_field_values() -> None:
    assert [field_value(v) for v in (True, 3, 0.1 + 0.2, 100.0, -0.0001, "a")] == [
        "true", "3", "0.3", "100", "0", "a"]


def test_nested_values_flatten_and_none_is_left_out() -> None:
    assert journal_fields({"failures": {"network": 2}, "last_error": None, "r": ["a", "b"]}) == {
        "EDGED_FAILURES_NETWORK": "2", "EDGED_R": "a; b"}


def test_health_fields_hold_every_figure_and_the_whole_record() -> None:
    snap = snapshot()
    fields = health_fields(snap, "warning", ("memory 85 MB ≥ warning 80 MB",))
    assert fields["EDGED_KIND"] == "health"
    assert fields["EDGED_LEVEL"] == "warning"
    assert fields["EDGED_STATE"] == "listening"
    assert fields["EDGED_RSS_MB"] == "31.2"
    assert fields["EDGED_CPU_PCT"] == "0.38"
    assert fields["EDGED_FAILURES_AUTH_FAILED"] == "1"
    assert fields["EDGED_ANSWERS"] == "7"
    assert fields["EDGED_REASONS"] == "memory 85 MB ≥ warning 80 MB"
    assert json.loads(fields["EDGED_RECORD"])["health"] == snap


def test_message_is_a_short_summary() -> None:
    msg = health_message(snapshot(), "critical", ("cpu 50 % ≥ critical 30 %",))
    assert msg.startswith("health: listening, link up, up-time 100.0%, 31.2 MB, 0.38% CPU")
    assert msg.endswith("— critical: cpu 50 % ≥ critical 30 %")


def test_round_trip_through_a_journal_entry() -> None:
    snap = snapshot()
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    entry = {**health_fields(snap, "info"), "__REALTIME_TIMESTAMP": when, "_PID": 4321}
    record = record_from_entry(entry)
    assert record == HealthRecord(snap, "info", [], when, 4321)
    assert record.as_json()["recorded_at"] == "2025-01-02T03:04:05+00:00"


@pytest.mark.parametrize("entry", [{}, {"EDGED_RECORD": "{nope"}, {"EDGED_RECORD": "[1]"}])
def test_unreadable_entries_raise_record_error(entry: dict[str, object]) -> None:
    with pytest.raises(RecordError):
        record_from_entry(entry)


def test_table_shows_the_figures() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = HealthRecord(snapshot(), "warning", ["memory 85 MB ≥ warning 80 MB"], when, 42)
    text = table(record, now=when + timedelta(seconds=12))
    lines = text.splitlines()
    assert lines[0].endswith("(12s ago), pid 42: warning")
    rows = {line.split("  ")[1].strip(): line for line in lines[1:]}
    assert "up for 59m50s" in rows["link"]
    assert "31.2 MB (peak 35.0 MB)" in rows["memory"]
    assert "auth-failed 1, network 1" in rows["failures"]
    assert "p50 12 ms, p95 12 ms" in rows["uplink latency"]
    assert "memory 85 MB ≥ warning 80 MB" in rows["why"]
