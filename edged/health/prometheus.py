"""Health records as a Prometheus textfile, for node_exporter's textfile collector.

A speaker runs no HTTP server for metrics: at each health record the daemon writes
the record's figures to one ``*.prom`` file and node_exporter, which a fleet
usually runs anyway, serves them with its own. :func:`exposition` is pure (the
record in, the text exposition format out); :class:`Textfile` is the thin shell
that replaces the file atomically, so a scrape never reads half of it.

Names follow Prometheus conventions: base units in the name (``_seconds``,
``_bytes``), ``_total`` for counters, a ``_info`` gauge of 1 for labels only. The
labels hold only what edged itself names (failure classes, device roles, states),
never free text such as the last error.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from edged import files
from edged.health import fingerprint
from edged.redact import redact

if TYPE_CHECKING:
    from edged.config import HealthConfig

log = logging.getLogger("edged.health")

MiB = 1024 * 1024
MODE = 0o644
"""node_exporter runs as its own user; the unit's UMask=0077 would hide the file."""
LEVELS = {"info": 0, "warning": 1, "critical": 2}

MetricType = Literal["gauge", "counter"]
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Family:
    """One metric: its HELP and TYPE lines and its samples (label set, value)."""

    name: str
    type: MetricType
    help: str
    samples: Sequence[tuple[Labels, float]] = ()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _families(snapshot: Mapping[str, Any], priority: str,
              budgets: HealthConfig | None) -> Iterable[Family]:
    """Every family the record has figures for, in a fixed order."""
    s = snapshot

    def one(name: str, kind: MetricType, help_: str, value: Any, scale: float = 1.0
            ) -> Iterable[Family]:
        number = _number(value)
        if number is not None:
            yield Family(name, kind, help_, [((), number * scale)])

    def labelled(name: str, kind: MetricType, help_: str, label: str,
                 values: Mapping[str, Any]) -> Iterable[Family]:
        samples = [(((label, str(k)),), n) for k, v in sorted(values.items())
                   if (n := _number(v)) is not None]
        if samples:
            yield Family(name, kind, help_, samples)

    digest = s.get("config_sha256")
    yield Family("edged_build_info", "gauge",
                 "The edged version and the SHA-256 of the config file it applied (always 1).",
                 [((("version", str(s.get("version") or "")),
                    ("config_sha256", digest if fingerprint.is_digest(digest) else "")), 1.0)])
    yield from one("edged_health_level", "gauge",
                   "The health record's level: 0 info, 1 warning, 2 critical.",
                   LEVELS.get(priority))
    yield from one("edged_uptime_seconds", "gauge", "Time since the daemon started.",
                   s.get("uptime_s"))
    if isinstance(s.get("link"), str):
        yield from one("edged_link_up", "gauge",
                       "1 while the realtime link is up, else 0.", s["link"] == "up")
        yield Family("edged_link_state", "gauge",
                     "The realtime link's state, as the label (always 1).",
                     [((("state", s["link"]),), 1.0)])
    yield from one("edged_link_up_seconds", "gauge",
                   "How long the realtime link has been up without a break (0 when down).",
                   s.get("link_up_s"))
    yield from one("edged_link_uptime_percent", "gauge",
                   "Share of the last hour the realtime link was up, in percent.",
                   s.get("link_uptime_pct"))
    yield from one("edged_connects_total", "counter",
                   "Realtime link connections made since the daemon started.", s.get("connects"))
    yield from one("edged_reconnects_total", "counter",
                   "Realtime link connections after the first.", s.get("reconnects"))
    failures = s.get("failures")
    yield from labelled("edged_errors_total", "counter",
                        "Failures since the daemon started, by class.", "kind",
                        failures if isinstance(failures, Mapping) else {})
    yield from one("edged_errors_last_hour", "gauge", "Failures in the last hour.",
                   s.get("errors_last_hour"))
    yield from one("edged_resident_memory_bytes", "gauge", "Resident memory (RSS).",
                   s.get("rss_mb"), MiB)
    yield from one("edged_resident_memory_peak_bytes", "gauge",
                   "The highest resident memory seen.", s.get("peak_rss_mb"), MiB)
    if budgets is not None:
        yield from labelled("edged_memory_budget_bytes", "gauge",
                            "The resident memory at which the health record turns warning "
                            "or critical (health.memory_*_mb).", "level",
                            {"warning": budgets.memory_warning_mb * MiB,
                             "critical": budgets.memory_critical_mb * MiB})
    yield from one("edged_cpu_percent", "gauge",
                   "CPU use over the last health interval, in percent of one core.",
                   s.get("cpu_pct"))
    yield from one("edged_input_overflows_total", "counter",
                   "Microphone buffers the audio device overran.", s.get("input_overflows"))
    yield from one("edged_output_underflows_total", "counter",
                   "Speaker buffers the audio device ran short of.", s.get("output_underflows"))
    devices = s.get("devices")
    if isinstance(devices, Mapping) and devices:
        yield Family("edged_audio_device_state", "gauge",
                     "Each audio device's state, as the label (always 1).",
                     [((("device", str(k)), ("state", str(v))), 1.0)
                      for k, v in sorted(devices.items())])
    yield from one("edged_answers_total", "counter", "Answers the model started.",
                   s.get("answers"))
    yield from one("edged_barge_ins_total", "counter", "Answers interrupted by a press.",
                   s.get("barge_ins"))
    yield from labelled("edged_utterances_total", "counter",
                        "Utterances held while the link was down, delivered later, or "
                        "dropped.", "outcome",
                        {k: s.get(f"utterances_{k}") for k in ("held", "delivered", "dropped")})
    for direction, what in (("uplink", "from the end of a microphone batch to its bytes "
                                       "on the socket"),
                            ("downlink", "from an answer's first audio to its first sample "
                                         "due at the speaker")):
        for q in ("50", "95"):
            yield from one(f"edged_{direction}_latency_p{q}_seconds", "gauge",
                           f"{q}th percentile of the recent {direction} latency, {what}.",
                           s.get(f"{direction}_p{q}_ms"), 0.001)
    yield from one("edged_timers_pending", "gauge", "Timers and alarms set and not yet rung.",
                   s.get("timers_pending"))


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(number: float) -> str:
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    # config_sha256 is checked hex; every other label is redacted like any exit
    shown = (v if k == "config_sha256" else redact(v) for k, v in labels)
    return "{" + ",".join(f'{k}="{_label_value(v)}"'
                          for (k, _), v in zip(labels, shown, strict=True)) + "}"


def exposition(snapshot: Mapping[str, Any], *, priority: str = "info",
               budgets: HealthConfig | None = None) -> str:
    """A health record (as ``Metrics.snapshot`` gives it, plus ``timers_pending``) in
    the Prometheus text exposition format, version 0.0.4."""
    lines: list[str] = []
    for family in _families(snapshot, priority, budgets):
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.type}")
        lines.extend(f"{family.name}{_labels(labels)} {_value(value)}"
                     for labels, value in family.samples)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the shell


class Textfile:
    """The file node_exporter reads: replaced whole at each record, never half-written.

    A write that fails (the directory missing or read-only) is one journal warning
    per distinct error, not one per record, and the daemon carries on; the next
    success says so once. ``write`` may run in a worker thread (it syncs to disk);
    ``move`` waits for a write in progress, so no write lands after a move.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._failed: str | None = None  # the error last warned about
        self._written = False  # the file at ``path`` is ours
        self._lock = threading.Lock()

    def move(self, path: str | None) -> None:
        """A reload switched the file on, off or elsewhere. The old file, if this
        daemon wrote it, is removed: node_exporter would serve its figures as current."""
        with self._lock:
            if path == self.path:
                return
            old, written = self.path, self._written
            self.path, self._failed, self._written = path, None, False
        if old is not None and written:
            try:
                os.unlink(old)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("cannot remove the old Prometheus textfile %s: %s", old,
                            exc.strerror or exc,
                            extra={"fields": {"kind": "prometheus", "prometheus": "remove_failed",
                                              "path": old}})

    def write(self, text: str) -> bool:
        """Replace the file with ``text``; False (and a warning, once) when it failed."""
        with self._lock:
            return self._write(text)

    def _write(self, text: str) -> bool:
        path = self.path
        if path is None:
            return False
        try:
            replace_atomically(path, text.encode("utf-8"))
        except OSError as exc:
            why = exc.strerror or str(exc)  # not the file name: the temporary one varies
            if why != self._failed:
                self._failed = why
                log.warning("cannot write the Prometheus textfile %s (%s); the health "
                            "records go on, and this is said again only if the error "
                            "changes", path, why,
                            extra={"fields": {"kind": "prometheus",
                                              "prometheus": "write_failed", "path": path}})
            return False
        self._written = True
        if self._failed is not None:
            self._failed = None
            log.info("writing the Prometheus textfile %s again", path,
                     extra={"fields": {"kind": "prometheus", "prometheus": "written",
                                       "path": path}})
        return True


def replace_atomically(path: str, data: bytes, mode: int = MODE) -> None:
    """Readers see the old file or the new one; the temporary file beside it is not
    ``*.prom``, so the collector skips it."""
    files.replace_atomically(path, data, mode=mode)
