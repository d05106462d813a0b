"""What a control command means for the conversation machine: pure decisions.

A socket command becomes the same event a button press makes, so the machine
stays the one place that decides; this module only adds what a remote caller
needs on top: idempotent ``mute``/``unmute`` (a toggle is not safe to retry),
and reading the machine's refusal notices back as an error reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edged.conversation import Cancel, Event, PttDown, PttUp, Say, Stop, WakeHold, WakePress

MUTED = "muted"
LISTENING = "listening"

REFUSALS: Mapping[str, frozenset[str]] = {
    "ptt.press": frozenset({"press_ignored"}),
    "ptt.release": frozenset({"press_ignored", "utterance_dropped", "cost_guard"}),
    "wake": frozenset({"press_ignored"}),
    "say": frozenset({"say_refused", "cost_guard"}),
}
"""Per command, the notices that mean the machine did not do what was asked."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The events to feed, and whether the command changes anything at all."""

    events: tuple[Event, ...]
    changed: bool = True


def plan(cmd: str, phase: str, *, text: str = "", min_press_ms: int = 0) -> Plan:  # noqa: PLR0911 - the command table
    """The machine events for one command in the current phase (``status``,
    ``subscribe``, ``volume`` and the ``timers`` commands need none)."""
    if cmd == "ptt.press":
        return Plan((PttDown(),))
    if cmd == "ptt.release":
        return Plan((PttUp(),))
    if cmd == "wake":
        # A socket "press" has no duration: make it exactly long enough to count.
        return Plan((WakePress(held_ms=max(0, min_press_ms)),))
    if cmd == "mute":
        return Plan((), changed=False) if phase == MUTED else Plan((WakeHold(),))
    if cmd == "unmute":
        return Plan((WakeHold(),)) if phase == MUTED else Plan((), changed=False)
    if cmd == "cancel":
        return Plan((Cancel(),))
    if cmd == "stop":  # silence a ringing alarm; with none ringing, as cancel
        return Plan((Stop(),))
    if cmd == "say":
        return Plan((Say(text),))
    return Plan((), changed=False)


def refusal(cmd: str, notices: Iterable[tuple[str, Mapping[str, Any]]]) -> str | None:
    """The reason the machine gave for not doing ``cmd``, from the notices it emitted."""
    kinds = REFUSALS.get(cmd, frozenset())
    for kind, fields in notices:
        if kind in kinds:
            reason = fields.get("reason")
            text = str(reason) if reason else kind.replace("_", " ")
            return text if kind in ("press_ignored", "say_refused") else f"{kind}: {text}"
    return None


@dataclass(frozen=True, slots=True)
class PttHold:
    """Which connection holds a socket push-to-talk press (``None``: nobody)."""

    owner: int | None = None


def after_press(hold: PttHold, conn: int, keep: bool, before: str, after: str) -> PttHold:
    """A press that started listening belongs to its connection, unless ``keep``; one
    the machine ignored (already listening, muted) changes nothing."""
    if before == LISTENING or after != LISTENING:
        return hold
    return PttHold(None if keep else conn)


def after_event(hold: PttHold, kind: str, data: Mapping[str, Any]) -> PttHold:
    """Listening ended (release, stuck guard, mute...): the press is nobody's any more."""
    if kind == "transition" and data.get("from") == LISTENING:
        return PttHold(None)
    return hold


def on_disconnect(hold: PttHold, conn: int, phase: str) -> tuple[PttHold, Sequence[Event]]:
    """A vanished client must not leave the microphone open: release its press."""
    if hold.owner == conn:
        return PttHold(None), ((PttUp(),) if phase == LISTENING else ())
    return hold, ()
