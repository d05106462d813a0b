"""The daemon's health figures and the budgets they are judged by.

Pure: the daemon updates a :class:`Metrics` from its event loop, passing the time in;
``snapshot(now)`` turns it into a plain dict (the health record) and ``evaluate``
judges a record against :class:`~edged.config.HealthConfig`. Memory is bounded: the
latency windows are fixed rings and the error history a fixed deque, however long
the daemon runs.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from edged.config import HealthConfig
    from edged.health.proc import ProcSample

Priority = Literal["info", "warning", "critical"]
_RANK: dict[Priority, int] = {"info": 0, "warning": 1, "critical": 2}

ERROR_WINDOW_S = 3600.0
UPTIME_WINDOW_S = 3600.0
"""Link up-time is judged over the last hour: an outage that is over stops counting
against the health record an hour later, instead of for the rest of the run."""
# audio device states that need no attention (the engine's "open", and its idle "standby")
HEALTHY_DEVICE = frozenset({"ok", "open", "standby"})


class LatencyWindow:
    """The last ``size`` latency samples in a fixed ring.

    Recording is one store; percentiles sort a copy of at most ``size`` floats, which
    happens once per health interval, not per frame.
    """

    __slots__ = ("_buf", "_n", "size")

    def __init__(self, size: int = 512) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._buf = array("d", bytes(8 * size))
        self._n = 0

    def record(self, ms: float) -> None:
        self._buf[self._n % self.size] = ms
        self._n += 1

    @property
    def count(self) -> int:
        """Samples recorded since the start (not only those still held)."""
        return self._n

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (0 < q ≤ 100) of the samples held; None when empty."""
        held = min(self._n, self.size)
        if held == 0:
            return None
        ordered = sorted(self._buf[:held])
        rank = min(held, max(1, math.ceil(q * held / 100)))
        return ordered[rank - 1]


class Metrics:
    """Counters and gauges the daemon updates as things happen (time passed in)."""

    def __init__(self, now: float, *, latency_window: int = 512, error_history: int = 1000) -> None:
        self.started = now
        #: which edged, and the SHA-256 of the config file it applied (None: not known)
        self.version: str | None = None
        self.config_sha256: str | None = None
        self.state = "starting"
        self.link = "down"
        self.connects = 0
        self.failures: dict[str, int] = {}
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.answers = 0
        self.barge_ins = 0
        self.utterances_held = 0
        self.utterances_delivered = 0
        self.utterances_dropped = 0
        self.input_overflows = 0
        self.output_underflows = 0
        self.devices: dict[str, str] = {}
        self.uplink = LatencyWindow(latency_window)
        self.downlink = LatencyWindow(latency_window)
        self._errors: deque[float] = deque(maxlen=error_history)
        self._up_since: float | None = None
        self._first_up: float | None = None
        self._down_since: float | None = None  # after the first up: the current outage
        self._outages: deque[tuple[float, float]] = deque()  # ended outages, oldest first

    # -- events

    def count_notice(self, kind: str) -> None:
        """Count a conversation notice that is also a health figure (others are ignored)."""
        if kind == "answer_started":
            self.answers += 1
        elif kind == "barge_in":
            self.barge_ins += 1
        elif kind == "utterance_held":
            self.utterances_held += 1
        elif kind == "utterance_delivered":
            self.utterances_delivered += 1
        elif kind == "utterance_dropped":
            self.utterances_dropped += 1

    def set_state(self, state: str) -> None:
        self.state = state

    def set_link(self, link: str, now: float) -> None:
        """Link state as the link reports it; ``"up"`` is the one that counts as up."""
        up = link == "up"
        if up and self._up_since is None:
            self._up_since = now
            self.connects += 1
            if self._first_up is None:
                self._first_up = now
            if self._down_since is not None:
                self._outages.append((self._down_since, now))
                self._down_since = None
            while self._outages and now - self._outages[0][1] > UPTIME_WINDOW_S:
                self._outages.popleft()
        elif not up and self._up_since is not None:
            self._up_since = None
            self._down_since = now
        self.link = link

    def fail(self, kind: str, message: str, now: float) -> None:
        """One failure of class ``kind`` (network, auth, server, audio, ...)."""
        self.failures[kind] = self.failures.get(kind, 0) + 1
        self.last_error = message
        self.last_error_at = now
        self._errors.append(now)

    def set_device(self, name: str, status: str) -> None:
        self.devices[name] = status

    def xruns(self, status_flags: int) -> None:
        """Count PortAudio status flags: input overflow (2), output underflow (4)."""
        if status_flags & 2:
            self.input_overflows += 1
        if status_flags & 4:
            self.output_underflows += 1

    # -- derived figures

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)

    def link_up_s(self, now: float) -> float:
        """How long the link has been up without a break (0 when it is not up)."""
        return max(0.0, now - self._up_since) if self._up_since is not None else 0.0

    def link_uptime_pct(self, now: float) -> float:
        """100 less the share of the last hour the link was down after it first came
        up; 0 if it never was. A whole hour, even just after start, so that one short
        outage weighs the same whenever it happens (60 s down: 98.3 %, a warning)."""
        if self._first_up is None:
            return 0.0
        start = now - UPTIME_WINDOW_S
        span = UPTIME_WINDOW_S
        outages = [*self._outages]
        if self._down_since is not None:
            outages.append((self._down_since, now))
        down = sum(max(0.0, min(end, now) - max(begin, start)) for begin, end in outages)
        return max(0.0, min(100.0, 100.0 * (1.0 - down / span)))

    def errors_last_hour(self, now: float) -> int:
        return sum(1 for t in self._errors if now - t <= ERROR_WINDOW_S)

    def snapshot(self, now: float, proc: ProcSample | None = None) -> dict[str, Any]:
        """The health record: plain values only, ready for JSON and journal fields."""
        return {
            "state": self.state,
            "link": self.link,
            "uptime_s": round(now - self.started, 3),
            "link_up_s": round(self.link_up_s(now), 3),
            "link_uptime_pct": round(self.link_uptime_pct(now), 3),
            "connects": self.connects,
            "reconnects": self.reconnects,
            "failures": dict(sorted(self.failures.items())),
            "failures_total": sum(self.failures.values()),
            "last_error": self.last_error,
            "last_error_age_s": (
                round(now - self.last_error_at, 3) if self.last_error_at is not None else None
            ),
            "errors_last_hour": self.errors_last_hour(now),
            "rss_mb": _round(proc.rss_mb if proc else None, 1),
            "peak_rss_mb": _round(proc.peak_rss_mb if proc else None, 1),
            "cpu_pct": _round(proc.cpu_pct if proc else None, 2),
            "input_overflows": self.input_overflows,
            "output_underflows": self.output_underflows,
            "devices": dict(sorted(self.devices.items())),
            "answers": self.answers,
            "barge_ins": self.barge_ins,
            "utterances_held": self.utterances_held,
            "utterances_delivered": self.utterances_delivered,
            "utterances_dropped": self.utterances_dropped,
            "uplink_p50_ms": _round(self.uplink.percentile(50), 1),
            "uplink_p95_ms": _round(self.uplink.percentile(95), 1),
            "downlink_p50_ms": _round(self.downlink.percentile(50), 1),
            "downlink_p95_ms": _round(self.downlink.percentile(95), 1),
            "version": self.version,
            "config_sha256": self.config_sha256,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------- budgets


@dataclass(frozen=True, slots=True)
class Evaluation:
    priority: Priority
    reasons: tuple[str, ...] = ()


def worse(a: Priority, b: Priority) -> Priority:
    return a if _RANK[a] >= _RANK[b] else b


def evaluate(snapshot: Mapping[str, Any], budgets: HealthConfig) -> Evaluation:
    """Judge a health record: the worst level any figure reaches, and why."""
    found: list[tuple[Priority, str]] = []

    def above(name: str, value: object, warn: float, crit: float, unit: str) -> None:
        if not isinstance(value, int | float):
            return
        if value >= crit:
            found.append(("critical", f"{name} {value:g} {unit} ≥ critical {crit:g} {unit}"))
        elif value >= warn:
            found.append(("warning", f"{name} {value:g} {unit} ≥ warning {warn:g} {unit}"))

    above("memory", snapshot.get("rss_mb"), budgets.memory_warning_mb,
          budgets.memory_critical_mb, "MB")
    above("cpu", snapshot.get("cpu_pct"), budgets.cpu_warning_pct, budgets.cpu_critical_pct, "%")
    for direction in ("uplink", "downlink"):
        above(f"{direction} latency p95", snapshot.get(f"{direction}_p95_ms"),
              budgets.latency_warning_ms, budgets.latency_critical_ms, "ms")

    uptime = snapshot.get("link_uptime_pct")
    if isinstance(uptime, int | float):
        if uptime < budgets.uptime_critical_pct:
            found.append(("critical", f"link up-time {uptime:g} % < critical "
                                      f"{budgets.uptime_critical_pct:g} %"))
        elif uptime < budgets.uptime_warning_pct:
            found.append(("warning", f"link up-time {uptime:g} % < warning "
                                     f"{budgets.uptime_warning_pct:g} %"))

    devices = snapshot.get("devices") or {}
    for name, status in sorted(devices.items()):
        if status not in HEALTHY_DEVICE:
            found.append(("warning", f"audio {name} device {status}"))

    priority: Priority = "info"
    for level, _ in found:
        priority = worse(priority, level)
    ordered = sorted(found, key=lambda item: -_RANK[item[0]])
    return Evaluation(priority, tuple(reason for _, reason in ordered))


# --------------------------------------------------------------------------- summaries


def format_duration(seconds: float) -> str:
    """A short human duration: 45s, 12m05s, 2h13m, 3d04h."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def status_line(snapshot: Mapping[str, Any], evaluation: Evaluation | None = None) -> str:
    """The one-line summary systemd shows: ``listening · link up 2h13m · 31 MB · 0.4% CPU``."""
    parts = [str(snapshot.get("state", "?"))]
    link = str(snapshot.get("link", "?"))
    if link == "up":
        parts.append(f"link up {format_duration(float(snapshot.get('link_up_s') or 0))}")
    else:
        parts.append(f"link {link}")
    rss = snapshot.get("rss_mb")
    if isinstance(rss, int | float):
        parts.append(f"{rss:.0f} MB")
    cpu = snapshot.get("cpu_pct")
    if isinstance(cpu, int | float):
        parts.append(f"{cpu:.1f}% CPU")
    devices = snapshot.get("devices") or {}
    parts.extend(f"{name} {status}" for name, status in sorted(devices.items())
                 if status not in HEALTHY_DEVICE)
    if evaluation is not None and evaluation.priority != "info" and evaluation.reasons:
        parts.append(f"{evaluation.priority}: {evaluation.reasons[0]}")
    return " · ".join(parts)
