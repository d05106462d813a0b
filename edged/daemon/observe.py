"""Watching the speaker: notices, link and audio changes → journal, metrics, timeline, ctl.

Nothing here decides anything; it records. The daemon hands over what happened
and this module turns it into a journal line with ``EDGED_*`` fields, health
figures, a timeline entry (demo, bench, tests) and an event for ``edged ctl
watch`` subscribers. The uplink meter lives here too: a live microphone batch
is timed from its capture end to its bytes on the socket, by the ``event_id``
of the append that carried it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edged.conversation import WARNING_NOTICES, Notice
from edged.health.metrics import Metrics
from edged.health.reporter import HealthReporter
from edged.realtime import events as rt
from edged.realtime.link import LinkStatus

if TYPE_CHECKING:
    from edged.tools.registry import Outcome

log = logging.getLogger("edged")

Listener = Callable[[str, dict[str, Any]], None]
_MAX_PENDING_APPENDS = 64
_DEVICE_FAILURES = ("lost", "missing", "error")


@dataclass
class Timeline:
    """Timestamps the demo, the benchmark and the tests read (monotonic seconds)."""

    entries: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    keep: bool = False

    def add(self, t: float, what: str, **fields: Any) -> None:
        if self.keep:
            self.entries.append((t, what, fields))


class Observer:
    """Where every observation goes; see the module docstring."""

    def __init__(self, metrics: Metrics, reporter: HealthReporter, timeline: Timeline) -> None:
        self.metrics = metrics
        self.reporter = reporter
        self.timeline = timeline
        self.listeners: list[Listener] = []
        self.log_transcripts = False  # conversation.log_transcripts
        self._capture_ends: dict[str, float] = {}  # append event_id → capture end
        self._timed_item: str | None = None  # the answer item whose first delta was timed
        self._last_held_turn: object = None

    # ------------------------------------------------------------------ meters

    def append_queued(self, event_id: str, capture_end: float) -> None:
        """A live microphone batch is on its way to the socket."""
        if len(self._capture_ends) >= _MAX_PENDING_APPENDS:  # sends that never completed
            self._capture_ends.clear()
        self._capture_ends[event_id] = capture_end

    def append_dropped(self, event_id: str) -> None:
        self._capture_ends.pop(event_id, None)

    def capture_end(self, event: rt.ClientEvent) -> float | None:
        """When the audio of a pending append was captured (None: not a timed append)."""
        if not isinstance(event, rt.InputAudioAppend) or event.event_id is None:
            return None
        return self._capture_ends.get(event.event_id)

    def sent(self, event: rt.ClientEvent, at: float) -> None:
        """The link wrote ``event`` to the socket at ``at`` (monotonic s)."""
        if isinstance(event, rt.InputAudioAppend) and event.event_id is not None:
            end = self._capture_ends.pop(event.event_id, None)
            if end is not None:
                # added latency: from the end of the batch's capture to its bytes on the socket
                self.metrics.uplink.record(max(0.0, (at - end) * 1000.0))

    def answer_queued(self, item_id: str, at: float, now: float) -> None:
        """Answer audio queued for the speaker, first sample due at ``at``."""
        if item_id == self._timed_item:
            return
        self._timed_item = item_id  # its first delta: time it
        self.metrics.downlink.record(max(0.0, (at - now) * 1000.0))
        self.timeline.add(now, "answer_audio", item=item_id,
                          scheduled_ms=round((at - now) * 1000.0, 2))

    # ------------------------------------------------------------------ records

    def notice(self, notice: Notice, now: float) -> None:
        kind, fields = notice.kind, notice.fields
        if kind == "transition":
            self.metrics.set_state(str(fields.get("to", "")))
            self.reporter.refresh_status()
        if kind == "utterance_held":  # noticed again when a held turn is finished: count once
            turn = fields.get("turn")
            if turn != self._last_held_turn:
                self._last_held_turn = turn
                self.metrics.count_notice(kind)
        else:
            self.metrics.count_notice(kind)
        warn = kind in WARNING_NOTICES
        text = " ".join(f"{k}={v}" for k, v in fields.items())
        log.log(logging.WARNING if warn else logging.INFO, "%s %s", kind, text,
                extra={"fields": {"kind": kind, **{k: v for k, v in fields.items()
                                                    if v is not None}}})
        if warn:
            self.metrics.fail(kind, f"{kind} {text}".strip(), now)
        self.timeline.add(now, kind, **fields)
        self.emit(kind, dict(fields))

    def audio_status(self, device: str, status: str, detail: str, now: float) -> None:
        self.metrics.set_device(device, status)
        failed = status in _DEVICE_FAILURES
        log.log(logging.WARNING if failed else logging.INFO, "audio %s: %s%s", device, status,
                f" ({detail})" if detail else "",
                extra={"fields": {"kind": "audio", "device": device, "audio": status}})
        if failed:
            self.metrics.fail("audio", f"{device} {status}", now)
        self.emit("audio", {"device": device, "status": status})

    def link_state(self, status: LinkStatus, wall: float) -> None:
        """First, before the machine hears of it: the health figures."""
        self.metrics.set_link(status.state.value, wall)
        if not status.up and status.last_error:
            self.metrics.last_error = status.last_error

    def link_changed(self, up: bool, now: float) -> None:
        """The link went up or down (the machine is told next)."""
        self._capture_ends.clear()  # appends of the old connection are not coming
        self.timeline.add(now, "link_up" if up else "link_down")

    def link_report(self, status: LinkStatus) -> None:
        """Last: the journal line and the ctl event."""
        up = status.up
        level = logging.CRITICAL if status.critical else logging.INFO
        log.log(level, "realtime link %s%s", status.state.value,
                f" ({status.last_error})" if status.last_error and not up else "",
                extra={"fields": {"kind": "link", "link": status.state.value}})
        self.emit("link", {"state": status.state.value,
                           "retry_in_s": status.retry_in_s, "error": status.last_error})
        self.reporter.refresh_status()

    def server_event(self, event: rt.ServerEvent, now: float) -> None:
        """Server events worth a record of their own (the machine sees the rest)."""
        if isinstance(event, rt.ResponseCreated):
            self.timeline.add(now, "response_created", id=event.response_id)
        elif isinstance(event, rt.ResponseDone):
            self.timeline.add(now, "response_done", status=event.status)
        elif isinstance(event, rt.InputTranscriptCompleted | rt.TranscriptDone):
            user = isinstance(event, rt.InputTranscriptCompleted)
            # Private unless conversation.log_transcripts asks for them.
            log.log(logging.INFO if self.log_transcripts else logging.DEBUG,
                    "%s: %s", "heard" if user else "answered", event.transcript,
                    extra={"fields": {"kind": "transcript",
                                      "role": "user" if user else "assistant"}})

    def tool_ran(self, call_id: str, outcome: Outcome, arguments: str, now: float) -> None:
        """One record per call: name, outcome, time taken, output size. What was asked
        and answered may be private: only at debug."""
        fields = {"tool": outcome.name, "call_id": call_id, "ok": outcome.ok,
                  "duration_ms": round(outcome.duration_s * 1000, 1),
                  "output_bytes": len(outcome.output.encode())}
        if outcome.error:
            fields["error"] = outcome.error
        log.log(logging.INFO if outcome.ok else logging.WARNING, "tool %s %s in %.1f ms%s",
                outcome.name, "ran" if outcome.ok else "failed", fields["duration_ms"],
                f": {outcome.error}" if outcome.error else "",
                extra={"fields": {"kind": "tool", **fields}})
        log.debug("tool %s arguments %s → %s", outcome.name, arguments, outcome.output)
        self.metrics.count_notice("tool")
        self.timeline.add(now, "tool", **fields)
        self.emit("tool", fields)

    def timer_event(self, what: str, timer_id: str, description: str, now: float) -> None:
        """A timer or alarm was set, cancelled, rang or was missed."""
        log.log(logging.WARNING if what == "missed" else logging.INFO, "timer %s %s",
                description, what,
                extra={"fields": {"kind": "timer", "timer": what, "timer_id": timer_id}})
        self.timeline.add(now, "timer", event=what, id=timer_id)
        self.emit("timer", {"event": what, "id": timer_id, "what": description})

    def emit(self, kind: str, fields: dict[str, Any]) -> None:
        """Hand an event to every listener (the control socket's subscribers)."""
        for listener in list(self.listeners):
            try:
                listener(kind, fields)
            except Exception:
                log.exception("event listener failed")
