"""What the daemon needs from its audio engine and its buttons: owned here, by the user.

Two engines offer the audio port: the PyAudio engine (``edged.audio.port``) and
the demo's in-memory devices (``edged.demo.wav_audio``); keeping the port this
small is what lets ``edged demo`` run the unchanged daemon without sound devices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from edged.audio.capture import RawTap
from edged.audio.port import AudioCallbacks
from edged.config import Config
from edged.conversation import LedPattern


class AudioPort(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    def reconfigure(self, config: Config) -> bool:
        """Take a reloaded config in place; False when the devices must be reopened (the
        daemon then stops this engine before starting a new one)."""

    def set_mic(self, mode: str) -> None:
        """closed (muted) · preroll (keep the ring only) · stream (pre-roll, then live) ·
        live (no pre-roll: from now on, or from the time :meth:`live_from` gave)."""

    def live_from(self, t: float) -> None:
        """The next ``set_mic("live")`` starts with the audio captured from ``t`` (a
        wake word's detection, monotonic s): the detector's delay loses no words."""

    def flush_capture(self) -> None:
        """Hand over every captured sample now (before a push-to-talk commit)."""

    def after_capture(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the loop once the audio up to now has been captured (the
        microphone's period in flight has arrived); at once if nothing is in flight."""

    def play(self, item_id: str, pcm: bytes) -> float:
        """Queue answer audio; returns the scheduled output time of its first sample."""

    def end_of_answer(self, item_id: str) -> None: ...

    def flush(self) -> dict[str, int]:
        """Barge-in: silence now; milliseconds heard per item."""

    def sound(self, name: str) -> None:
        """A feedback sound by name (listening, done, error, confirm, alarm)."""

    def stop_sounds(self) -> None:
        """Silence the sounds playing now (a stopped alarm)."""

    def set_tap(self, tap: RawTap | None) -> None:
        """Hand every raw microphone buffer to ``tap`` too (the wake word), whatever the
        uplink does; the microphone then stays awake in standby."""

    def set_volume(self, scale: float) -> None:
        """The spoken volume's scale (0–1, on its curve): multiplies audio.volume and the
        sounds' level for everything played from now on."""

    def last_callback(self) -> float | None:
        """For the watchdog: when the audio path last proved alive (None: nothing to vouch)."""

    def xruns(self) -> tuple[int, int]:
        """(input overflows, output underflows) so far."""


AudioFactory = Callable[[Config, asyncio.AbstractEventLoop, AudioCallbacks], AudioPort]
"""Builds the audio port for a config; the daemon calls it at start and on a reopen."""


class ButtonsPort(Protocol):
    """The gpiozero buttons and LED (``edged.buttons.gpio.Controls``)."""

    def set_led(self, pattern: LedPattern) -> None: ...

    def close(self) -> None: ...
