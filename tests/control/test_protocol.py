"""The wire format, with plain values: requests, replies, limits, events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edged.redact
from edged.control import protocol as p
from edged.redact import Redactor

LIMIT = 65536


REQUIRED: dict[str, dict[str, Any]] = {
    "say": {"text": "hello"},
    "timers.cancel": {"which": "t1"},
    "timers.set": {"seconds": 90},
}
"""The fields a command cannot go without."""


@pytest.mark.parametrize("cmd", p.COMMANDS)
def test_every_command_parses(cmd: str) -> None:
    fields = REQUIRED.get(cmd, {})
    req = p.parse_request(json.dumps({"cmd": cmd, "id": 7, **fields}).encode() + b"\n", LIMIT)
    assert isinstance(req, p.Request)
    assert (req.cmd, req.id) == (cmd, 7)
    assert req == p.Request(cmd, 7, **{k: float(v) if k == "seconds" else v
                                       for k, v in fields.items()})


def test_every_command_lists_its_fields() -> None:
    assert set(p.FIELDS) == set(p.COMMANDS)
    for cmd in ("stop", "timers"):
        assert p.FIELDS[cmd] == {"cmd", "id"}
    assert p.FIELDS["volume"] == {"cmd", "id", "level", "change"}
    assert p.FIELDS["timers.cancel"] == {"cmd", "id", "which"}
    assert p.FIELDS["timers.set"] == {"cmd", "id", "seconds", "label"}


def parsed(obj: dict[str, object]) -> p.Request | p.Invalid:
    return p.parse_request(json.dumps(obj).encode(), LIMIT)


@pytest.mark.parametrize(("fields", "level", "change"), [
    ({}, None, None),  # just read it
    ({"level": 0}, 0, None),
    ({"level": 100}, 100, None),
    ({"level": 60.0}, 60, None),  # a whole number, however it is written
    ({"change": 5}, None, 5),
    ({"change": -100}, None, -100),
    ({"change": 0}, None, 0),
    ({"change": "up"}, None, "up"),
    ({"change": "down"}, None, "down"),
])
def test_volume_reads_sets_or_changes(fields: dict[str, object], level: int | None,
                                      change: int | str | None) -> None:
    assert parsed({"cmd": "volume", **fields}) == p.Request("volume", level=level,
                                                            change=change)


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"level": 101}, '"level" must be a whole number from 0 to 100'),
    ({"level": -1}, '"level" must be a whole number from 0 to 100'),
    ({"level": 50.5}, '"level" must be a whole number'),
    ({"level": "60"}, '"level" must be a whole number'),
    ({"level": True}, '"level" must be a whole number'),
    ({"level": None}, '"level" must be a whole number'),
    ({"change": 101}, '"change" must be a whole number from -100 to 100, or "up" or "down"'),
    ({"change": -101}, '"change" must be a whole number from -100 to 100'),
    ({"change": "+5"}, '"change" must be'),
    ({"change": "sideways"}, '"change" must be'),
    ({"change": 1.5}, '"change" must be'),
    ({"change": False}, '"change" must be'),
    ({"level": 50, "change": 5}, 'volume takes "level" or "change", not both'),
    ({"step": 5}, "unknown field 'step' for volume; it takes: change, cmd, id, level"),
])
def test_bad_volume_requests_say_why(fields: dict[str, object], fragment: str) -> None:
    got = parsed({"cmd": "volume", "id": 3, **fields})
    assert isinstance(got, p.Invalid)
    assert (got.code, got.id) == (p.BAD_REQUEST, 3)
    assert fragment in got.reason


def test_timers_cancel_takes_an_id_a_label_or_all() -> None:
    assert parsed({"cmd": "timers.cancel", "which": "t1"}) == p.Request("timers.cancel",
                                                                        which="t1")
    assert parsed({"cmd": "timers.cancel", "which": "  Pasta \t sauce "}) == p.Request(
        "timers.cancel", which="Pasta sauce")
    assert parsed({"cmd": "timers.cancel", "which": "all"}) == p.Request("timers.cancel",
                                                                         which="all")
    assert parsed({"cmd": "timers.cancel", "which": "x" * 40}) == p.Request("timers.cancel",
                                                                            which="x" * 40)
    for bad in ({}, {"which": ""}, {"which": "   "}, {"which": 1}, {"which": None},
                {"which": "x" * 41}):
        got = parsed({"cmd": "timers.cancel", **bad})
        assert isinstance(got, p.Invalid) and got.code == p.BAD_REQUEST, bad
        assert got.reason == ('timers.cancel needs "which": a timer id such as "t1", a label, '
                              'or "all" (1 to 40 characters)')


def test_timers_set_takes_seconds_and_maybe_a_label() -> None:
    assert parsed({"cmd": "timers.set", "seconds": 600, "label": " pasta "}) == p.Request(
        "timers.set", seconds=600.0, label="pasta")
    assert parsed({"cmd": "timers.set", "seconds": 1}) == p.Request("timers.set", seconds=1.0)
    assert parsed({"cmd": "timers.set", "seconds": 86400, "label": None}) == p.Request(
        "timers.set", seconds=86400.0)
    assert parsed({"cmd": "timers.set", "seconds": 90.5, "label": "  "}) == p.Request(
        "timers.set", seconds=90.5)
    assert parsed({"cmd": "timers.set", "seconds": 9, "label": "y" * 40}) == p.Request(
        "timers.set", seconds=9.0, label="y" * 40)


@pytest.mark.parametrize(("fields", "fragment"), [
    ({}, 'timers.set needs "seconds": a number from 1 to 86400 (a day)'),
    ({"seconds": 0}, 'needs "seconds": a number from 1 to 86400'),
    ({"seconds": 0.5}, 'needs "seconds"'),
    ({"seconds": -60}, 'needs "seconds"'),
    ({"seconds": 86401}, 'needs "seconds"'),
    ({"seconds": 1e308}, 'needs "seconds"'),
    ({"seconds": "90"}, 'needs "seconds"'),
    ({"seconds": True}, 'needs "seconds"'),
    ({"seconds": 60, "label": 5}, '"label" must be a string'),
    ({"seconds": 60, "label": "z" * 41}, '"label" longer than 40 characters'),
    ({"seconds": 60, "which": "t1"}, "unknown field 'which' for timers.set"),
])
def test_bad_timer_settings_say_why(fields: dict[str, object], fragment: str) -> None:
    got = parsed({"cmd": "timers.set", **fields})
    assert isinstance(got, p.Invalid) and got.code == p.BAD_REQUEST
    assert fragment in got.reason


def test_stop_and_timers_take_no_fields() -> None:
    assert parsed({"cmd": "stop", "id": "s"}) == p.Request("stop", "s")
    for cmd in ("stop", "timers"):
        got = parsed({"cmd": cmd, "which": "t1"})
        assert isinstance(got, p.Invalid) and f"unknown field 'which' for {cmd}" in got.reason


def test_say_text_is_stripped_and_press_may_keep() -> None:
    assert p.parse_request(b'{"cmd":"say","text":"  hi there \\n"}', LIMIT) == p.Request(
        "say", None, "hi there")
    assert p.parse_request(b'{"cmd":"ptt.press","keep":true}', LIMIT) == p.Request(
        "ptt.press", None, "", True)


@pytest.mark.parametrize(("line", "code", "fragment"), [
    (b"\xff\xfe{}", p.BAD_JSON, "UTF-8"),
    (b"   \r\n", p.BAD_JSON, "empty line"),
    (b"status", p.BAD_JSON, "not valid JSON"),
    (b'{"cmd": "status"', p.BAD_JSON, "not valid JSON"),
    (b'{"cmd": NaN}', p.BAD_JSON, "not valid JSON"),
    (b"[" * 50000 + b"]" * 50000, p.BAD_JSON, "not valid JSON"),  # nesting bomb
    (b'["status"]', p.BAD_REQUEST, "JSON object"),
    (b'"status"', p.BAD_REQUEST, "JSON object"),
    (b"{}", p.BAD_REQUEST, 'missing "cmd"'),
    (b'{"cmd": 3}', p.BAD_REQUEST, 'missing "cmd"'),
    (b'{"cmd": "reboot"}', p.UNKNOWN_COMMAND, "unknown command 'reboot'"),
    (b'{"cmd": "say", "txt": "hi"}', p.BAD_REQUEST, "unknown field 'txt' for say"),
    (b'{"cmd": "status", "keep": true}', p.BAD_REQUEST, "unknown field 'keep'"),
    (b'{"cmd": "say"}', p.BAD_REQUEST, "non-empty string"),
    (b'{"cmd": "say", "text": "   "}', p.BAD_REQUEST, "non-empty string"),
    (b'{"cmd": "say", "text": 5}', p.BAD_REQUEST, "non-empty string"),
    (b'{"cmd": "ptt.press", "keep": "yes"}', p.BAD_REQUEST, "keep must be"),
    (b'{"cmd": "status", "id": true}', p.BAD_REQUEST, "id must be"),
    (b'{"cmd": "status", "id": [1]}', p.BAD_REQUEST, "id must be"),
])
def test_bad_lines_get_a_reason(line: bytes, code: str, fragment: str) -> None:
    got = p.parse_request(line, 200_000)
    assert isinstance(got, p.Invalid)
    assert got.code == code
    assert fragment in got.reason
    reply = got.reply()
    assert reply["ok"] is False and reply["code"] == code and fragment in reply["error"]


def test_id_is_echoed_even_in_errors() -> None:
    got = p.parse_request(b'{"cmd": "nope", "id": "abc"}', LIMIT)
    assert isinstance(got, p.Invalid)
    assert got.reply()["id"] == "abc"


def test_say_text_length_is_bounded() -> None:
    line = json.dumps({"cmd": "say", "text": "x" * (p.MAX_SAY_CHARS + 1)}).encode()
    got = p.parse_request(line, LIMIT)
    assert isinstance(got, p.Invalid) and "longer than" in got.reason
    ok = json.dumps({"cmd": "say", "text": "x" * p.MAX_SAY_CHARS}).encode()
    assert isinstance(p.parse_request(ok, LIMIT), p.Request)


def test_line_limit_counts_bytes_without_the_newline() -> None:
    pad = 100 - len(b'{"cmd":"say","text":""}')
    line = b'{"cmd":"say","text":"' + b"a" * pad + b'"}'
    assert len(line) == 100
    assert isinstance(p.parse_request(line + b"\n", 100), p.Request)
    over = p.parse_request(line[:-2] + b'a"}', 100)
    assert isinstance(over, p.Invalid) and over.code == p.LINE_TOO_LONG


def test_a_long_unknown_command_is_shown_shortened() -> None:
    got = p.parse_request(json.dumps({"cmd": "z" * 500}).encode(), LIMIT)
    assert isinstance(got, p.Invalid)
    assert len(got.reason) < 200 and "..." in got.reason


def test_replies() -> None:
    req = p.Request("mute", "r1")
    assert p.ok(req, phase="muted") == {"ok": True, "cmd": "mute", "id": "r1", "phase": "muted"}
    assert p.error(p.REFUSED, "muted", request=req, phase="muted") == {
        "ok": False, "code": "refused", "error": "muted", "cmd": "mute", "id": "r1",
        "phase": "muted"}
    assert p.ok(p.Request("status")) == {"ok": True, "cmd": "status"}


def test_encode_is_one_strict_json_line() -> None:
    line = p.encode({"a": float("nan"), "b": [float("inf")], "c": "multi\nline", "d": object})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    data = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} on the wire"))
    assert data["a"] is None and data["b"] == [None] and data["c"] == "multi\nline"
    assert "class" in data["d"]


def test_events_carry_the_phase_they_leave() -> None:
    tr = {"from": "idle", "to": "listening", "cause": "ptt_down"}
    assert p.phase_after("transition", tr, "idle") == "listening"
    assert p.phase_after("link", {"state": "down"}, "speaking") == "speaking"
    assert p.phase_after("transition", {}, "idle") == "idle"
    ev = p.event("transition", "listening", 1700000000.12345, tr)
    assert ev == {"event": "transition", "phase": "listening", "ts": 1700000000.123, "data": tr}
    assert p.dropped_event(5, "idle", 1.0)["data"] == {"count": 5}


def test_client_decode() -> None:
    assert p.decode(b'{"ok": true}\n') == {"ok": True}
    for bad in (b"nope\n", b"[1]\n", b"\xff\n"):
        with pytest.raises(ValueError, match="daemon sent"):
            p.decode(bad)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_request_or_a_reason(line: bytes) -> None:
    got = p.parse_request(line, 200)
    assert isinstance(got, p.Request | p.Invalid)
    if isinstance(got, p.Invalid):
        assert got.reason and got.code
        assert p.decode(p.encode(got.reply()))["ok"] is False


TEXT = st.text(st.characters(categories=["L", "N", "P", "Z", "Cc", "Cs"]), max_size=20)
"""Any text, lone surrogates included: valid in JSON from a server, not in UTF-8."""


@given(st.dictionaries(TEXT, st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=10), max_size=5))
@settings(suppress_health_check=[HealthCheck.too_slow])  # nested text: slow on a busy host
def test_any_reply_content_encodes_to_one_decodable_line(message: dict[str, object]) -> None:
    line = p.encode(message)
    assert line.count(b"\n") == 1
    assert isinstance(p.decode(line), dict)


def test_encode_replaces_lone_surrogates_instead_of_raising() -> None:
    line = p.encode({"ok": True, "health": {"last_error": "server_error message=\ud800!",
                                             "k\udfff": ["\udc00"]}})
    assert p.decode(line)["health"] == {"last_error": "server_error message=\ufffd!",
                                        "k\ufffd": ["\ufffd"]}


def test_encode_masks_every_string_with_the_process_redactor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    key = "Zq7Wm2Xr9Lp4Tn6Vb8Yc1Ud3"
    fresh = Redactor()
    fresh.register(key)
    monkeypatch.setattr(edged.redact, "REDACTOR", fresh)
    line = p.encode(p.event("server_error", "idle", 1.0, {
        "message": f"Incorrect API key provided: {key}", "cut": key[3:],
        "bearer": "Authorization: Bearer sk-unregistered-0123456789abcdef", "n": 3}))
    data = p.decode(line)["data"]
    assert data == {"message": "Incorrect API key provided: [redacted]", "cut": "[redacted]",
                    "bearer": "Authorization: Bearer [redacted]", "n": 3}
    for i in range(len(key) - 7):
        assert key[i:i + 8].encode() not in line
