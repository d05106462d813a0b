"""Logging and health records through a REAL journald, read back with journalctl -o json.

Root only (the rig starts journald on /run/systemd/journal/socket); without root
these tests skip and say why. Entries are told apart by cursor and this process's PID.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from edged.health import journal as hj
from edged.health.metrics import Metrics, evaluate
from edged.health.proc import ProcSample
from edged.redact import register_secret
from tests.rigs.journald import Journal

from edged.config import HealthConfig  # isort: skip

FAKE_KEY = "sk-proj-T3stK3yN0tR3al_4b9Xq2Lm7Vw1Zc8Rn5Yp0"
ODD_KEY = "opaque-Credential-with-no-usual-shape-42"


@pytest.fixture
def to_journal(journald: Journal) -> Iterator[logging.Handler]:
    handler = hj.setup_logging(logging.DEBUG)
    assert isinstance(handler, hj.JournalHandler), "journald's socket should be there"
    try:
        yield handler
    finally:
        hj.reset_logging()


def snapshot(rss_mb: float = 31.0) -> dict[str, object]:
    m = Metrics(0.0)
    m.set_state("listening")
    m.set_link("up", 5.0)
    m.set_device("input", "ok")
    m.fail("network", "connection reset by peer", 100.0)
    m.uplink.record(14.0)
    m.downlink.record(22.0)
    m.answers = 3
    return m.snapshot(600.0, ProcSample(rss_mb, rss_mb + 2, 0.5))


def test_health_record_fields_read_back(to_journal: logging.Handler, journald: Journal,
                                        journal_cursor: str | None) -> None:
    snap = snapshot()
    ev = evaluate(snap, HealthConfig())
    hj.record_health(snap, ev.priority, ev.reasons)
    [entry] = journald.mine(journal_cursor, "EDGED_KIND=health")
    assert entry["SYSLOG_IDENTIFIER"] == "edged"
    assert entry["PRIORITY"] == "6"
    assert entry["MESSAGE"].startswith("health: listening, link up")
    assert entry["EDGED_STATE"] == "listening"
    assert entry["EDGED_LINK"] == "up"
    assert entry["EDGED_RSS_MB"] == "31"
    assert entry["EDGED_PEAK_RSS_MB"] == "33"
    assert entry["EDGED_CPU_PCT"] == "0.5"
    assert entry["EDGED_UPLINK_P95_MS"] == "14"
    assert entry["EDGED_DOWNLINK_P95_MS"] == "22"
    assert entry["EDGED_FAILURES_NETWORK"] == "1"
    assert entry["EDGED_LAST_ERROR"] == "connection reset by peer"
    assert entry["EDGED_DEVICES_INPUT"] == "ok"
    assert entry["EDGED_ANSWERS"] == "3"
    assert entry["EDGED_LINK_UPTIME_PCT"] == "100"
    assert json.loads(entry["EDGED_RECORD"])["health"] == snap


@pytest.mark.parametrize("rss_mb, priority", [(85.0, "4"), (120.0, "2")])
def test_over_budget_figure_raises_the_priority(to_journal: logging.Handler, journald: Journal,
                                                journal_cursor: str | None, rss_mb: float,
                                                priority: str) -> None:
    snap = snapshot(rss_mb)
    ev = evaluate(snap, HealthConfig())
    hj.record_health(snap, ev.priority, ev.reasons)
    [entry] = journald.mine(journal_cursor, "EDGED_KIND=health")
    assert entry["PRIORITY"] == priority
    assert entry["EDGED_LEVEL"] == ev.priority
    assert entry["EDGED_REASONS"].startswith("memory ")
    assert f"{ev.priority}: memory" in entry["MESSAGE"]


def test_state_changes_carry_edged_fields(to_journal: logging.Handler, journald: Journal,
                                          journal_cursor: str | None) -> None:
    hj.record_state("listening", link="up", source="ptt")
    hj.record_state("idle", link="connecting", level=logging.WARNING, reason="server closed")
    entries = journald.mine(journal_cursor, "EDGED_KIND=state", count=2)
    first, second = entries[-2:]
    assert (first["EDGED_STATE"], first["EDGED_LINK"], first["EDGED_SOURCE"]) == (
        "listening", "up", "ptt")
    assert first["PRIORITY"] == "6"
    assert first["MESSAGE"] == "state: listening, link up (source ptt)"
    assert (second["EDGED_STATE"], second["EDGED_LINK"], second["PRIORITY"]) == (
        "idle", "connecting", "4")


def test_log_levels_code_location_and_extra_fields(to_journal: logging.Handler,
                                                   journald: Journal,
                                                   journal_cursor: str | None) -> None:
    log = logging.getLogger("edged.audio")
    log.debug("debug line")
    log.info("info line")
    log.warning("device %s lost", "USB mic", extra={"fields": {"device": "input", "retry_s": 1.5}})
    log.error("error line")
    log.critical("critical line")
    entries = journald.mine(journal_cursor, "EDGED_LOGGER=edged.audio", count=5)
    by_message = {e["MESSAGE"]: e for e in entries}
    assert [by_message[m]["PRIORITY"] for m in (
        "debug line", "info line", "device USB mic lost", "error line", "critical line")] == [
        "7", "6", "4", "3", "2"]
    warn = by_message["device USB mic lost"]
    assert warn["EDGED_DEVICE"] == "input"
    assert warn["EDGED_RETRY_S"] == "1.5"
    assert warn["CODE_FILE"] == __file__
    assert warn["CODE_FUNC"] == "test_log_levels_code_location_and_extra_fields"
    assert int(warn["CODE_LINE"]) > 0


def test_api_key_never_reaches_any_journal_field(to_journal: logging.Handler,
                                                  journald: Journal,
                                                  journal_cursor: str | None) -> None:
    register_secret(ODD_KEY)  # as the daemon does once it has loaded the key
    log = logging.getLogger("edged.realtime.link")
    log.info("connecting with %s", FAKE_KEY)
    log.warning("handshake headers", extra={"fields": {
        "headers": {"Authorization": f"Bearer {FAKE_KEY}", "api-key": ODD_KEY}}})
    try:
        raise PermissionError(f"401: Incorrect API key provided: {FAKE_KEY} / {ODD_KEY}")
    except PermissionError:
        log.exception("connect failed")
    m = Metrics(0.0)
    m.fail("auth", f"server rejected key {FAKE_KEY}", 1.0)
    hj.record_health(m.snapshot(2.0), "warning", (f"auth with {ODD_KEY}",))
    hj.record_state("idle", link="auth-failed", detail=f"key {FAKE_KEY}")

    entries = journald.mine(journal_cursor, count=5)
    assert len(entries) == 5
    raw = json.dumps(entries)
    assert FAKE_KEY not in raw
    assert FAKE_KEY[10:30] not in raw  # not even a fragment
    assert ODD_KEY not in raw
    assert raw.count("[redacted]") >= 8
    traceback = next(e for e in entries if e["MESSAGE"] == "connect failed")["EDGED_TRACEBACK"]
    assert "PermissionError: 401: Incorrect API key provided: [redacted] / [redacted]" in traceback


def test_a_lone_surrogate_cannot_keep_a_record_out_of_the_journal(
        to_journal: logging.Handler, journald: Journal, journal_cursor: str | None,
        capsys: pytest.CaptureFixture[str]) -> None:
    # JSON carries "\ud800"; UTF-8 cannot, and journal.send encodes every field.
    m = Metrics(0.0)
    m.fail("server_error", "server_error message=bad \ud800 char", 1.0)
    hj.record_health(m.snapshot(2.0), "warning")
    logging.getLogger("edged.realtime").warning("server said %s", "bad \udfff",
                                                extra={"fields": {"detail\ud800": "x\udc00"}})
    health = journald.mine(journal_cursor, "EDGED_KIND=health")
    assert health[0]["EDGED_LAST_ERROR"] == "server_error message=bad \ufffd char"
    assert json.loads(health[0]["EDGED_RECORD"])["health"]["last_error"].endswith("\ufffd char")
    [said] = journald.mine(journal_cursor, "EDGED_LOGGER=edged.realtime")
    assert said["MESSAGE"] == "server said bad \ufffd"
    assert said["EDGED_DETAIL"] == "x\ufffd"
    assert "cannot write to the journal" not in capsys.readouterr().err


# --------------------------------------------------------------------------- without journald


def test_stderr_is_used_when_there_is_no_journal_socket(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setattr(hj, "JOURNAL_SOCKET", str(tmp_path / "no-socket"))
    out = io.StringIO()
    handler = hj.setup_logging(stream=out)
    try:
        assert not isinstance(handler, hj.JournalHandler)
        log = logging.getLogger("edged.x")
        log.warning("device %s lost\nretrying", "mic", extra={"fields": {"device": "input"}})
        try:
            raise ValueError(f"bad key {FAKE_KEY}")
        except ValueError:
            log.exception("reload failed")
        hj.record_health(snapshot(120.0), "critical", ("memory 120 MB ≥ critical 100 MB",))
    finally:
        hj.reset_logging()
    lines = out.getvalue().splitlines()
    assert lines[0] == "edged: warning: device mic lost ⏎ retrying"
    assert lines[1] == "edged: error: reload failed (ValueError: bad key [redacted])"
    assert lines[2].startswith("edged: critical: health: listening")
    assert len(lines) == 3  # one line each: no traceback
    assert FAKE_KEY not in out.getvalue()


def test_setup_is_idempotent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(hj, "JOURNAL_SOCKET", str(tmp_path / "no-socket"))
    root = logging.getLogger()
    before = len(root.handlers)
    try:
        hj.setup_logging(stream=io.StringIO())
        hj.setup_logging(stream=io.StringIO())
        assert len(root.handlers) == before + 1
    finally:
        hj.reset_logging()
    assert len(root.handlers) == before


def test_level_names_in_any_case(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(hj, "JOURNAL_SOCKET", str(tmp_path / "no-socket"))
    out = io.StringIO()
    hj.setup_logging("warning", stream=out)
    try:
        logging.getLogger("edged.x").info("hidden")
        logging.getLogger("edged.x").warning("shown")
    finally:
        hj.reset_logging()
    assert out.getvalue() == "edged: warning: shown\n"


def test_reset_restores_the_root_level(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(hj, "JOURNAL_SOCKET", str(tmp_path / "no-socket"))
    root = logging.getLogger()
    before = root.level
    hj.setup_logging("ERROR", stream=io.StringIO())
    assert root.level == logging.ERROR
    hj.reset_logging()
    assert root.level == before
