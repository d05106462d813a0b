"""How results are shown: ✓/✗/⚠ lines with a one-line fix, a JSON document, an exit status.

Pure. Terminals that cannot print the marks (a C locale over a serial console)
get ASCII ones, so the output never turns into a UnicodeEncodeError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edged.doctor.result import CheckResult, Status

EXIT_OK = 0
EXIT_FAILED = 1

MARKS: dict[Status, str] = {"ok": "✓", "warn": "⚠", "fail": "✗", "skip": "–"}
ASCII_MARKS: dict[Status, str] = {"ok": "ok", "warn": "!!", "fail": "XX", "skip": "--"}
TITLE_WIDTH = 13


def marks_for(encoding: str | None) -> dict[Status, str]:
    """The marks this output encoding can carry."""
    try:
        "".join(MARKS.values()).encode(encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return ASCII_MARKS
    return MARKS


def lines(result: CheckResult, marks: dict[Status, str] = MARKS) -> list[str]:
    """The lines for one result: the verdict, its notes, and the fix."""
    mark = marks[result.status]
    indent = " " * (len(mark) + 1 + TITLE_WIDTH + 1)
    out = [f"{mark} {result.title:<{TITLE_WIDTH}} {result.summary}"]
    out.extend(f"{indent}{note}" for note in result.notes)
    if result.fix:
        out.append(f"{indent}→ fix: {result.fix}" if marks is MARKS
                   else f"{indent}-> fix: {result.fix}")
    return out


def counts(results: Sequence[CheckResult]) -> dict[Status, int]:
    found: dict[Status, int] = {"ok": 0, "warn": 0, "fail": 0, "skip": 0}
    for r in results:
        found[r.status] += 1
    return found


def tally(results: Sequence[CheckResult]) -> str:
    """The closing line: ``2 failed, 1 warning, 9 passed, 1 skipped``."""
    c = counts(results)
    parts = []
    if c["fail"]:
        parts.append(f"{c['fail']} failed")
    if c["warn"]:
        parts.append(f"{c['warn']} warning{'s' if c['warn'] != 1 else ''}")
    parts.append(f"{c['ok']} passed")
    if c["skip"]:
        parts.append(f"{c['skip']} skipped")
    verdict = "edged doctor: " + ", ".join(parts)
    return verdict + (" — fix the ✗ lines above, top first" if c["fail"] else "")


def render(results: Sequence[CheckResult], marks: dict[Status, str] = MARKS) -> str:
    out: list[str] = []
    for r in results:
        out.extend(lines(r, marks))
    summary = tally(results)
    if marks is not MARKS:
        summary = summary.replace("✗", "XX").replace("—", "-")
    out.append(summary)
    return "\n".join(out)


def exit_status(results: Sequence[CheckResult]) -> int:
    """Non-zero when any check failed; warnings and skips do not fail."""
    return EXIT_FAILED if any(r.failed for r in results) else EXIT_OK


def to_json(results: Sequence[CheckResult]) -> dict[str, Any]:
    """One JSON-ready document for scripts."""
    c = counts(results)
    return {
        "ok": not c["fail"],
        "counts": dict(c),
        "checks": [
            {
                "id": r.id,
                "title": r.title,
                "status": r.status,
                "summary": r.summary,
                "fix": r.fix,
                "notes": list(r.notes),
                "blocked_by": r.blocked_by,
                "details": dict(r.details),
            }
            for r in results
        ],
    }
