"""Event lines for people and shell loops."""

from __future__ import annotations

from datetime import datetime

from edged.control.render import (
    format_event,
    format_remaining,
    format_timers,
    timer_phrase,
    tools_lines,
    wake_word_lines,
)


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


def line_of(kind: str, data: dict[str, object], phase: str = "idle") -> str:
    return format_event({"event": kind, "phase": phase, "ts": 0.0, "data": data}).split(" ", 1)[1]


def test_tool_timer_and_volume_events_read_plainly() -> None:
    assert line_of("tool", {"tool": "set_timer", "call_id": "call_7", "ok": True,
                            "duration_ms": 1.4, "output_bytes": 52}, "tools") == (
        "tools tool tool=set_timer call_id=call_7 ok=true duration_ms=1.4 output_bytes=52")
    assert line_of("tool", {"tool": "get_time", "call_id": "c", "ok": False,
                            "duration_ms": 5000.0, "output_bytes": 60,
                            "error": "timed out after 5 s"}) == (
        'idle tool tool=get_time call_id=c ok=false duration_ms=5000 output_bytes=60 '
        'error="timed out after 5 s"')
    # the label's own quotes stay readable (no '\'' splicing), and still one shell word
    assert line_of("timer", {"event": "rang", "id": "t1", "what": "timer t1 'pasta'"}) == (
        "idle timer event=rang id=t1 what=\"timer t1 'pasta'\"")
    assert line_of("timer", {"event": "set", "id": "t2", "what": "alarm t2"}) == (
        'idle timer event=set id=t2 what="alarm t2"')
    assert line_of("volume", {"level": 60}) == "idle volume level=60"
    # what double quotes cannot hold safely is still quoted the shell's way
    assert line_of("timer", {"event": "set", "id": "t3", "what": "timer t3 '$HOME'"}) == (
        "idle timer event=set id=t3 what='timer t3 '\"'\"'$HOME'\"'\"''")


def test_remaining_time() -> None:
    assert [format_remaining(s) for s in (0, 0.4, 58, 59.6, 598, 3600, 5405, 86400)] == [
        "0s", "0s", "58s", "1m 0s", "9m 58s", "1h 0m 0s", "1h 30m 5s", "24h 0m 0s"]
    assert format_remaining(None) == "-"
    assert format_remaining(-3) == "0s"  # due: it rings any moment


def test_timer_phrases() -> None:
    assert timer_phrase({"id": "t1", "kind": "timer", "label": "pasta", "remaining_s": 598,
                         "rings_at": "12:09"}) == "pasta in 9m 58s (at 12:09)"
    assert timer_phrase({"id": "t2", "kind": "timer", "label": None, "remaining_s": 30,
                         "rings_at": None}) == "timer t2 in 30s"
    assert timer_phrase({"id": "t3", "kind": "alarm", "label": None, "remaining_s": None,
                         "rings_at": None}) == "alarm t3 (waiting for the clock to be set)"


def test_timers_table() -> None:
    rows = [
        {"id": "t2", "kind": "timer", "label": "pasta", "remaining_s": 598, "rings_at": "12:09"},
        {"id": "t10", "kind": "alarm", "label": None, "remaining_s": 70200,
         "rings_at": "07:30"},
        {"id": "t3", "kind": "alarm", "label": "bins\nout", "remaining_s": None,
         "rings_at": None},
    ]
    assert format_timers(rows).splitlines() == [
        "ID   KIND   LABEL      REMAINING          RINGS AT",
        "t2   timer  pasta      9m 58s             12:09",
        "t10  alarm  -          19h 30m 0s         07:30",
        "t3   alarm  bins\\nout  waiting for clock  -",
    ]
    assert format_timers([]) == "no timers"
    assert format_timers([], ["pasta", "t2"]) == "no timers\nringing: pasta, t2"
    assert format_timers(rows[:1], ["eggs"]).splitlines()[-1] == "ringing: eggs"


def test_tools_lines_of_a_status_reply() -> None:
    nxt = {"id": "t1", "kind": "timer", "label": "pasta", "remaining_s": 598, "rings_at": None}
    assert tools_lines({"volume": 60, "next_timer": nxt}) == [
        "volume 60", "next timer: pasta in 9m 58s"]
    assert tools_lines({"volume": 0, "next_timer": None}) == ["volume 0", "no timers"]
    # tools not running, or a daemon from before they existed: nothing to say
    assert tools_lines({"volume": None, "next_timer": None}) == []
    assert tools_lines({}) == []


def test_wake_word_lines_say_how_much_the_model_rested() -> None:
    wake = {"enabled": True, "listening": True, "phrase": "Okay Nabu", "model": "okay_nabu",
            "threshold": 0.85, "detections": 2, "rest_below_dbfs": -55.0, "resting": True,
            "rested_share": 0.934}
    first, rest = wake_word_lines(wake)
    assert "'Okay Nabu'" in first and "heard 2 times" in first
    assert rest == ("  the model rests while the microphone stays below -55 dBFS: resting "
                    "now, rested 93% of the time so far")
    assert wake_word_lines({**wake, "resting": False})[1].endswith(
        "running now, rested 93% of the time so far")
    assert wake_word_lines({**wake, "rest_below_dbfs": None})[1] == \
        "  the model never rests (wake_word.rest_below_dbfs: null)"
    # a daemon from before resting existed: only the first line
    old = {k: v for k, v in wake.items() if k not in ("rest_below_dbfs", "resting",
                                                       "rested_share")}
    assert wake_word_lines(old) == [first]
    assert wake_word_lines({"enabled": False}) == []
