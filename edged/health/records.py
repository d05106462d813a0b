"""Health and state records as journal fields, and back again as a table.

Pure. A health record is written as one journal entry: MESSAGE is a short human
summary, every figure is its own ``EDGED_*`` field (so ``journalctl -o json`` and
field matches work), and ``EDGED_RECORD`` holds the whole record as JSON, which
``edged status`` reads back without guessing types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edged.health import fingerprint
from edged.health.metrics import Priority, format_duration

PREFIX = "EDGED_"
KIND_HEALTH = "health"
KIND_STATE = "state"
CONFIG_SHA256 = PREFIX + "CONFIG_SHA256"
_MAX_FIELD = 64  # journald's limit on field name length
_NOT_NAME = re.compile(r"[^A-Z0-9_]+")


def field_name(key: str) -> str:
    """A journal field name for ``key``: upper case, ``EDGED_`` prefixed, valid chars."""
    name = _NOT_NAME.sub("_", key.upper()).strip("_") or "FIELD"
    if not name.startswith(PREFIX):
        name = PREFIX + name
    return name[:_MAX_FIELD]


def field_value(value: Any) -> str:
    """Journal text for a plain value: numbers without float noise, booleans lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return str(value)


def journal_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """Flatten plain values to ``EDGED_*`` fields; nested mappings join their keys
    (``failures: {network: 2}`` → ``EDGED_FAILURES_NETWORK=2``); None is left out."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}_{k}" if prefix else str(k), v)
            return
        if isinstance(value, list | tuple):
            out[field_name(prefix)] = "; ".join(field_value(v) for v in value)
            return
        out[field_name(prefix)] = field_value(value)

    walk("", values)
    return out


def health_message(snapshot: Mapping[str, Any], priority: Priority,
                   reasons: tuple[str, ...] | list[str] = ()) -> str:
    """MESSAGE of a health record: the figures a person scans first."""
    parts = [f"health: {snapshot.get('state', '?')}", f"link {snapshot.get('link', '?')}"]
    up = snapshot.get("link_uptime_pct")
    if isinstance(up, int | float):
        parts.append(f"up-time {up:.1f}%")
    rss = snapshot.get("rss_mb")
    if isinstance(rss, int | float):
        parts.append(f"{rss:.1f} MB")
    cpu = snapshot.get("cpu_pct")
    if isinstance(cpu, int | float):
        parts.append(f"{cpu:.2f}% CPU")
    p95 = [snapshot.get(k) for k in ("uplink_p95_ms", "downlink_p95_ms")]
    if any(isinstance(v, int | float) for v in p95):
        shown = "/".join(f"{v:.0f}" if isinstance(v, int | float) else "-" for v in p95)
        parts.append(f"p95 {shown} ms")
    xruns = int(snapshot.get("input_overflows") or 0) + int(snapshot.get("output_underflows") or 0)
    if xruns:
        parts.append(f"{xruns} xruns")
    if snapshot.get("failures_total"):
        parts.append(f"{snapshot['failures_total']} failures")
    text = ", ".join(parts)
    if priority != "info" and reasons:
        text += f" — {priority}: " + "; ".join(reasons)
    return text


def health_fields(snapshot: Mapping[str, Any], priority: Priority,
                  reasons: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    """Every ``EDGED_*`` field of a health record (without MESSAGE/PRIORITY).

    The config digest is left out of ``EDGED_RECORD``: it travels in its own field
    (see :func:`public_fields`), and :func:`record_from_entry` puts it back.
    """
    fields = journal_fields(snapshot)
    fields[PREFIX + "KIND"] = KIND_HEALTH
    fields[PREFIX + "LEVEL"] = priority
    if reasons:
        fields[PREFIX + "REASONS"] = "; ".join(reasons)
    health = dict(snapshot)
    if fingerprint.is_digest(health.get("config_sha256")):
        del health["config_sha256"]
    record = {"health": health, "priority": priority, "reasons": list(reasons)}
    fields[PREFIX + "RECORD"] = json.dumps(record, separators=(",", ":"), sort_keys=True)
    return fields


def public_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """The fields the redactor must leave whole: the config's SHA-256 is 64 hex digits,
    the shape of a key it masks on sight, but it names a file, not a secret.

    Only an exact digest qualifies, so nothing else can travel this way.
    """
    digest = values.get("config_sha256")
    return {CONFIG_SHA256: digest} if fingerprint.is_digest(digest) else {}


def checked_public(fields: object) -> dict[str, str]:
    """The part of ``fields`` that :func:`public_fields` could have produced."""
    if not isinstance(fields, Mapping):
        return {}
    value = fields.get(CONFIG_SHA256)
    return {CONFIG_SHA256: value} if fingerprint.is_digest(value) else {}


# --------------------------------------------------------------------------- reading back


@dataclass(frozen=True, slots=True)
class HealthRecord:
    health: dict[str, Any]
    priority: str
    reasons: list[str] = field(default_factory=list)
    recorded_at: datetime | None = None
    pid: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            "pid": self.pid,
            "priority": self.priority,
            "reasons": self.reasons,
            "health": self.health,
        }


class RecordError(ValueError):
    """A journal entry that does not hold a readable health record."""


def record_from_entry(entry: Mapping[str, Any]) -> HealthRecord:
    """Rebuild a health record from a journal entry (as systemd.journal.Reader gives it)."""
    raw = entry.get(PREFIX + "RECORD")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise RecordError("the entry has no EDGED_RECORD field")
    try:
        data = json.loads(raw)
    except ValueError:
        raise RecordError("EDGED_RECORD is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("health"), dict):
        raise RecordError("EDGED_RECORD does not hold a health record")
    when = entry.get("__REALTIME_TIMESTAMP")
    pid = entry.get("_PID")
    digest = entry.get(CONFIG_SHA256)
    if isinstance(digest, bytes):
        digest = digest.decode("ascii", "replace")
    if fingerprint.is_digest(digest):
        data["health"]["config_sha256"] = digest
    return HealthRecord(
        health=data["health"],
        priority=str(data.get("priority", "info")),
        reasons=[str(r) for r in data.get("reasons") or []],
        recorded_at=when if isinstance(when, datetime) else None,
        pid=int(pid) if isinstance(pid, int | str) and str(pid).isdigit() else None,
    )


def _num(value: Any, fmt: str = "{:g}", unit: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return fmt.format(value) + unit


def _config(digest: Any) -> str:
    """``sha256 3f2a9c0d1e2b…``: enough to tell configs apart (the JSON has it whole)."""
    if fingerprint.is_digest(digest):
        return f"sha256 {fingerprint.short(digest)}…"
    return str(digest) if digest else "-"


def table(record: HealthRecord, now: datetime | None = None) -> str:
    """The short table ``edged status`` prints."""
    h = record.health
    head = "edged health"
    if record.recorded_at is not None:
        stamp = record.recorded_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        head += f" at {stamp}"
        if now is not None:
            head += f" ({format_duration((now - record.recorded_at).total_seconds())} ago)"
    if record.pid is not None:
        head += f", pid {record.pid}"
    head += f": {record.priority}"

    link = str(h.get("link", "-"))
    if link == "up":
        link += f" for {format_duration(float(h.get('link_up_s') or 0))}"
    failures = h.get("failures") or {}
    failure_text = ", ".join(f"{k} {v}" for k, v in failures.items()) or "none"
    devices = h.get("devices") or {}
    device_text = ", ".join(f"{k} {v}" for k, v in devices.items()) or "-"
    last_error = h.get("last_error")
    if last_error:
        age = h.get("last_error_age_s")
        last_error = str(last_error)
        if isinstance(age, int | float):
            last_error += f" ({format_duration(age)} ago)"

    def latency(direction: str) -> str:
        return (f"p50 {_num(h.get(direction + '_p50_ms'), '{:.0f}', ' ms')}, "
                f"p95 {_num(h.get(direction + '_p95_ms'), '{:.0f}', ' ms')}")

    rows = [
        ("version", str(h.get("version") or "-")),
        ("config", _config(h.get("config_sha256"))),
        ("state", str(h.get("state", "-"))),
        ("link", link),
        ("uptime", format_duration(float(h.get("uptime_s") or 0))),
        ("link up-time", _num(h.get("link_uptime_pct"), "{:.2f}", " %")),
        ("connects", f"{h.get('connects', 0)} ({h.get('reconnects', 0)} reconnects)"),
        ("failures", failure_text),
        ("last error", last_error or "none"),
        ("errors", f"{h.get('errors_last_hour', 0)} in the last hour"),
        ("memory", f"{_num(h.get('rss_mb'), '{:.1f}', ' MB')} "
                   f"(peak {_num(h.get('peak_rss_mb'), '{:.1f}', ' MB')})"),
        ("cpu", f"{_num(h.get('cpu_pct'), '{:.2f}', ' %')} of one core"),
        ("uplink latency", latency("uplink")),
        ("downlink latency", latency("downlink")),
        ("xruns", f"{h.get('input_overflows', 0)} input overflows, "
                  f"{h.get('output_underflows', 0)} output underflows"),
        ("devices", device_text),
        ("answers", f"{h.get('answers', 0)} ({h.get('barge_ins', 0)} barge-ins)"),
        ("utterances", f"{h.get('utterances_delivered', 0)} delivered, "
                       f"{h.get('utterances_held', 0)} held, "
                       f"{h.get('utterances_dropped', 0)} dropped"),
    ]
    rows.extend(("why", reason) for reason in record.reasons)
    width = max(len(name) for name, _ in rows)
    return "\n".join([head, *(f"  {name:<{width}}  {value}" for name, value in rows)])
