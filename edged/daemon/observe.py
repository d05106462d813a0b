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
    from edged.realtime.mcp import McpSetup
    from edged.tools.registry import Outcome

log = logging.getLogger("edged")

Listener = Callable[[str, dict[str, Any]], None]
_MAX_PENDING_APPENDS = 64
_MAX_MCP_ITEMS = 256  # MCP items remembered to tie their events together
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
        self._mcp = _McpItems()
        self._mcp_said: tuple[str, ...] = ()  # the MCP setup's sentences last journaled

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
        elif isinstance(event, rt.McpToolList | rt.McpListToolsStatus | rt.McpCall
                        | rt.McpCallStatus | rt.McpCallArguments):
            self._mcp_event(event, now)

    # ------------------------------------------------------------------ MCP

    def mcp_setup(self, setup: McpSetup) -> None:
        """Why configured MCP servers are not offered: each sentence once, not again at
        every reload that leaves it true."""
        said = (*setup.left_out, *([setup.beta] if setup.beta else []))
        for sentence in said:
            if sentence not in self._mcp_said:
                log.warning("%s", sentence, extra={"fields": {"kind": "mcp",
                                                              "mcp": "not_offered"}})
        self._mcp_said = said

    def mcp_approval(self, request: rt.McpApprovalRequest, answer: rt.McpApprovalResponse,
                     sent: bool, now: float) -> None:
        """One record per approval request: the server, the tool and edged's decision."""
        fields = {"server_label": request.server_label, "tool": request.name,
                  "approve": answer.approve, "sent": sent}
        if answer.reason:
            fields["reason"] = answer.reason
        log.info("mcp %s on %s %s%s%s", request.name, request.server_label,
                 "approved" if answer.approve else "denied",
                 f" ({answer.reason})" if answer.reason else "",
                 "" if sent else "; the answer was not sent (link down)",
                 extra={"fields": {"kind": "mcp", "mcp": "approval", **fields}})
        log.debug("mcp %s arguments %s", request.name, request.arguments)
        self.timeline.add(now, "mcp_approval", **fields)
        self.emit("mcp", {"event": "approval", **fields})

    def _mcp_event(self, event: rt.McpToolList | rt.McpListToolsStatus | rt.McpCall
                   | rt.McpCallStatus | rt.McpCallArguments, now: float) -> None:
        """One record per tool list and per call, once its outcome is known: the server
        may send an item as added, done and output item done, in either order with the
        status events, so the pieces are tied together by item id."""
        for what, fields in self._mcp.see(event):
            failed = fields.get("status") == "failed"
            if what == "tools":
                text = (f"mcp server {fields['server_label']} failed to list its tools"
                        if failed else f"mcp server {fields['server_label']} lists "
                        f"{fields['tools']} tool(s)")
            else:
                text = (f"mcp {fields['tool']} on {fields['server_label']} "
                        f"{fields['status']}" + (f": {fields['error']}"
                                                 if fields.get("error") else ""))
            log.log(logging.WARNING if failed else logging.INFO, "%s", text,
                    extra={"fields": {"kind": "mcp", "mcp": what, **fields}})
            self.timeline.add(now, f"mcp_{what}", **fields)
            self.emit("mcp", {"event": what, **fields})
        if isinstance(event, rt.McpCall) and event.done:
            log.debug("mcp %s arguments %s → %s", event.name, event.arguments, event.output)

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


class _McpItems:
    """The MCP items of the current connection, by id, until each has been recorded."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}  # list-tools item → its server
        self.status: dict[str, str] = {}  # item → the status its events said last
        self.recorded: dict[str, None] = {}  # items whose record went out (ordered set)

    def see(self, event: rt.McpToolList | rt.McpListToolsStatus | rt.McpCall
            | rt.McpCallStatus | rt.McpCallArguments) -> list[tuple[str, dict[str, Any]]]:
        """The records ``event`` completes: ("tools" | "call", fields)."""
        if len(self.labels) + len(self.status) + len(self.recorded) > _MAX_MCP_ITEMS:
            self.labels.clear()  # a server that never finishes its items
            self.status.clear()
            self.recorded.clear()
        if isinstance(event, rt.McpCallArguments) or event.item_id in self.recorded:
            return []
        if isinstance(event, rt.McpListToolsStatus | rt.McpCallStatus):
            return self._status(event)
        if isinstance(event, rt.McpToolList):
            self.labels[event.item_id] = event.server_label
            if not event.done:
                return []
            return [self._done(event.item_id, "tools", {
                "server_label": event.server_label, "status": "completed",
                "tools": len(event.tools)})]
        return self._call(event) if event.done else []

    def _status(self, event: rt.McpListToolsStatus | rt.McpCallStatus,
                ) -> list[tuple[str, dict[str, Any]]]:
        """A failed list has no item to wait for; the rest is said by the item."""
        self.status[event.item_id] = event.status
        if isinstance(event, rt.McpListToolsStatus) and event.status == "failed":
            return [self._done(event.item_id, "tools", {
                "server_label": self.labels.get(event.item_id, "?"), "status": "failed"})]
        return []

    def _call(self, event: rt.McpCall) -> list[tuple[str, dict[str, Any]]]:
        seen = self.status.get(event.item_id)
        status = ("failed" if event.error is not None or seen == "failed" else
                  "completed" if event.output is not None or seen == "completed" else
                  "incomplete")
        fields: dict[str, Any] = {"server_label": event.server_label, "tool": event.name,
                                  "status": status}
        if event.error is not None:
            fields["error"] = event.error
        return [self._done(event.item_id, "call", fields)]

    def _done(self, item: str, what: str,
              fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.labels.pop(item, None)
        self.status.pop(item, None)
        self.recorded[item] = None
        return what, {"item_id": item, **fields}
