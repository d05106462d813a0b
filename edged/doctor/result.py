"""What one check found: a status, one line for a person, one line of fix, plain details.

Checks return these instead of printing or raising, so the order, the rendering
and the exit status are decided in one pure place (``plan`` and ``report``), and
``--json`` carries exactly what the text shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "warn", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail", "skip")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict.

    ``summary`` is one line and never holds a secret; ``fix`` is the one thing to do
    (None when nothing is wrong); ``notes`` are extra lines worth showing (the
    config's ``file:line`` problems); ``details`` are plain values for ``--json``.
    ``blocked_by`` names the check whose failure made this one skip.
    """

    id: str
    title: str
    status: Status
    summary: str
    fix: str | None = None
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    blocked_by: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def ok(id: str, title: str, summary: str, **details: Any) -> CheckResult:
    return CheckResult(id, title, "ok", summary, details=details)


def warn(id: str, title: str, summary: str, fix: str, **details: Any) -> CheckResult:
    return CheckResult(id, title, "warn", summary, fix, details=details)


def fail(id: str, title: str, summary: str, fix: str, *, notes: tuple[str, ...] = (),
         **details: Any) -> CheckResult:
    return CheckResult(id, title, "fail", summary, fix, notes=notes, details=details)


def skip(id: str, title: str, summary: str, **details: Any) -> CheckResult:
    return CheckResult(id, title, "skip", summary, details=details)
