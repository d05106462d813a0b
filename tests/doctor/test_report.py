"""The pure parts: check order and blocking, ✓/✗ lines, JSON and the exit status."""

from __future__ import annotations

import json

from edged.doctor import plan, report
from edged.doctor.result import CheckResult, fail, ok, skip, warn


def test_every_check_needs_only_checks_that_run_before_it() -> None:
    seen: set[str] = set()
    for spec in plan.CHECKS:
        assert set(spec.needs) <= seen, spec
        seen.add(spec.id)
    assert [s.id for s in plan.CHECKS][:3] == ["config", "input_device", "output_device"]
    assert plan.CHECKS[-1].id == "systemd"


def test_a_failed_prerequisite_blocks_and_the_block_names_the_root_cause() -> None:
    by_id = {s.id: s for s in plan.CHECKS}
    done = {"config": fail("config", "config", "bad", "edit it")}
    stop = plan.blocker(by_id["input_device"], done)
    assert stop is not None
    mic = plan.blocked(by_id["input_device"], stop)
    assert (mic.status, mic.blocked_by) == ("skip", "config")
    done["input_device"] = mic
    # a check blocked by a blocked check still names the first failure
    level_stop = plan.blocker(by_id["mic_level"], done)
    assert level_stop is not None
    level = plan.blocked(by_id["mic_level"], level_stop)
    assert level.blocked_by == "config"
    assert "config" in level.summary


def test_a_check_that_does_not_apply_does_not_block() -> None:
    by_id = {s.id: s for s in plan.CHECKS}
    done = {"credentials": ok("credentials", "API key", "found"),
            "dns": ok("dns", "DNS", "fine"),
            "tls": skip("tls", "TLS", "skipped: ws:// to loopback")}
    assert plan.blocker(by_id["handshake"], done) is None
    done["tls"] = warn("tls", "TLS", "expires soon", "renew")
    assert plan.blocker(by_id["handshake"], done) is None


def test_lines_show_mark_title_summary_notes_and_fix() -> None:
    result = fail("config", "config", "2 problems in x.yaml:", "edit x.yaml",
                  notes=("x.yaml:3: audio.frame_ms: too small", "x.yaml:5: bad"))
    out = report.lines(result)
    assert out[0].startswith("✗ config")
    assert out[0].endswith("2 problems in x.yaml:")
    assert out[1].strip() == "x.yaml:3: audio.frame_ms: too small"
    assert out[-1].strip() == "→ fix: edit x.yaml"
    assert report.lines(ok("dns", "DNS", "fine"))[0].startswith("✓ DNS")
    assert report.lines(warn("mic_level", "mic level", "quiet", "speak"))[0].startswith("⚠")
    assert len(report.lines(ok("dns", "DNS", "fine"))) == 1  # no fix line when all is well


def test_a_terminal_that_cannot_print_the_marks_gets_ascii() -> None:
    marks = report.marks_for("ascii")
    assert marks is report.ASCII_MARKS
    text = report.render([fail("x", "x", "broken", "mend it")], marks)
    text.encode("ascii")  # would raise if a mark or an arrow slipped through
    assert "XX x" in text and "-> fix: mend it" in text
    assert report.marks_for("utf-8") is report.MARKS


def test_exit_status_fails_only_on_a_failure() -> None:
    fine = [ok("a", "a", "x"), warn("b", "b", "y", "z"), skip("c", "c", "n/a")]
    assert report.exit_status(fine) == report.EXIT_OK
    assert report.exit_status([*fine, fail("d", "d", "no", "yes")]) == report.EXIT_FAILED
    assert "1 warning" in report.tally(fine) and "failed" not in report.tally(fine)


def test_json_carries_every_result_in_order() -> None:
    results: list[CheckResult] = [ok("config", "config", "fine", path="/x"),
                                  fail("dns", "DNS", "nope", "fix dns", error=-2)]
    doc = report.to_json(results)
    json.dumps(doc)  # plain values only
    assert doc["ok"] is False
    assert doc["counts"] == {"ok": 1, "warn": 0, "fail": 1, "skip": 0}
    assert [c["id"] for c in doc["checks"]] == ["config", "dns"]
    assert doc["checks"][1]["fix"] == "fix dns"
    assert doc["checks"][0]["details"] == {"path": "/x"}
