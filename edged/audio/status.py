"""What the audio engine tells the rest of the daemon: status events and counters.

Typed, frozen values (the health reporter and the logs consume them), plus the
pure reopen policy and stall rule the engine's supervisor applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edged.audio.devices import StreamFormat

StatusKind = Literal["opened", "standby", "lost", "unavailable", "wedged", "stopped"]
EngineState = Literal["stopped", "starting", "running", "standby", "degraded", "recovering",
                      "wedged"]

# PortAudio may take a few seconds to deliver the first buffers of a fresh
# stream (the ALSA pulse plugin does); stalls only count after this.
STARTUP_GRACE_S = 5.0
REOPEN_BASE_S = 0.5


@dataclass(frozen=True, slots=True)
class AudioStatus:
    """One change in the audio path, for health records and the journal.

    ``opened``: streams are running (``reopened`` tells a recovery from the
    first open; it also follows a wake from standby); ``standby``: the streams
    were stopped after ``standby_after_s`` of quiet; ``lost``: a device stopped
    delivering (``direction`` says which) and will be reopened;
    ``unavailable``: an open attempt failed, ``retry_in_s`` until the next;
    ``wedged``: PortAudio hung in a call and only a restart helps;
    ``stopped``: the engine was stopped.
    """

    kind: StatusKind
    message: str
    direction: Literal["input", "output", "both"] = "both"
    input: StreamFormat | None = None
    output: StreamFormat | None = None
    reopened: bool = False
    reopen_count: int = 0
    retry_in_s: float | None = None


@dataclass(frozen=True, slots=True)
class AudioStats:
    """A snapshot of the engine's counters (monotonic times in seconds, 0 = never)."""

    state: EngineState
    input: StreamFormat | None
    output: StreamFormat | None
    frames_captured: int  # frame_ms frames of 24 kHz mono produced since start
    input_overflows: int  # PortAudio input overflow flags (lost microphone audio)
    output_underflows: int  # PortAudio output underflow flags (the device starved)
    playback_underruns: int  # the jitter buffer ran dry in the middle of an answer
    playback_dropped_ms: int  # answer audio refused because the buffer was full
    reopen_count: int
    last_input_callback: float
    last_output_callback: float
    mic_enabled: bool
    playing: bool
    input_latency: float = 0.0  # PortAudio's figures for the open streams, seconds
    output_latency: float = 0.0


def reopen_delay(attempt: int, cap: float) -> float:
    """Seconds before reopen attempt ``attempt`` (0-based): 0.5, 1, 2, 4… up to ``cap``."""
    return float(min(cap, REOPEN_BASE_S * 2 ** min(attempt, 30)))


def stalled(now: float, opened_at: float, last_callback: float, timeout: float) -> bool:
    """Has a stream gone quiet for longer than ``timeout``?

    A fresh stream gets :data:`STARTUP_GRACE_S` on top, so a slow first buffer
    is not mistaken for an unplugged device.
    """
    if now - opened_at < STARTUP_GRACE_S:
        return now - max(opened_at, last_callback) > timeout + STARTUP_GRACE_S
    return now - max(opened_at, last_callback) > timeout
