"""Event lines for people and shell loops."""

from __future__ import annotations

from datetime import datetime

from edged.control.render import format_event


def test_phase_is_the_second_column() -> None:
    ts = datetime(2024, 5, 1, 12, 3, 4, 567000).timestamp()
    line = format_event({"event": "transition", "phase": "listening", "ts": ts,
                         "data": {"from": "idle", "to": "listening", "cause": "ptt_down"}})
    assert line == "12:03:04.567 listening transition from=idle to=listening cause=ptt_down"


def test_values_stay_on_one_line_and_split_cleanly() -> None:
    line = format_event({"event": "link", "phase": "idle", "ts": 0.0, "data": {
        "state": "down", "error": "HTTP 401\nbad key", "retry_in_s": 2.5, "up": False,
        "why": None, "empty": ""}})
    assert "\n" not in line
    fields = line.split(" ", 3)
    assert fields[1:3] == ["idle", "link"]
    assert "error='HTTP 401\\nbad key'" in line
    assert "retry_in_s=2.5 up=false why=- empty=''" in line


def test_missing_or_absurd_times_do_not_break_it() -> None:
    assert format_event({"event": "x", "phase": "idle"}).startswith("--:--:--.--- idle x")
    assert format_event({"event": "x", "phase": "idle", "ts": 1e300}).startswith("--:--:--")
