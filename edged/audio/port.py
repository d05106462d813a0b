"""The PyAudio engine as the daemon uses it: a handful of verbs, and three callbacks.

The daemon needs a few verbs (stream the mic with its pre-roll, play, flush,
sound, liveness: the ``AudioPort`` protocol in ``edged.daemon.ports``); the
engine offers more. This adapter narrows one to the other and reports back
through plain callbacks, so nothing under ``edged.audio`` knows the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edged.audio import AudioEngine, AudioStatus
    from edged.audio.capture import RawTap
    from edged.config import Config

log = logging.getLogger("edged.audio")


@dataclass(frozen=True, slots=True)
class AudioCallbacks:
    """What an audio port tells its user, on the loop thread."""

    #: Microphone audio (24 kHz mono PCM16) and the capture time of its last sample.
    on_frames: Callable[[bytes, float], None]
    #: ``(device, status, detail)``: device is "input" or "output"; status
    #: "open", "standby", "lost", "unavailable", "wedged", "stopped"...
    on_status: Callable[[str, str, str], None]
    #: Answer playback has drained (or was dropped with its device).
    on_idle: Callable[[], None]


class EnginePort:
    """The PyAudio engine behind the daemon's port."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop,
                 callbacks: AudioCallbacks) -> None:
        from edged.audio import AudioEngine

        self._callbacks = callbacks
        self._live_since: float | None = None  # a wake word's capture time, for "live"
        self.engine: AudioEngine = AudioEngine(config.audio, loop, callbacks.on_frames,
                                               self._on_status, on_idle=callbacks.on_idle)

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    def reconfigure(self, config: Config) -> bool:
        return self.engine.reconfigure(config.audio)

    def _on_status(self, status: AudioStatus) -> None:
        """One report per device: an engine-wide "both" is split, so a device that
        was lost and is open again never stays marked lost."""
        devices = ("input", "output") if status.direction == "both" else (status.direction,)
        formats = {"input": status.input, "output": status.output}
        for device in devices:
            if status.kind == "opened":
                fmt = formats[device]
                if fmt is not None:
                    self._callbacks.on_status(device, "open", fmt.describe())
            else:
                self._callbacks.on_status(device, status.kind, status.message)

    def live_from(self, t: float) -> None:
        self._live_since = t

    def set_mic(self, mode: str) -> None:
        e = self.engine
        since, self._live_since = self._live_since, None
        e.mic_enabled = mode != "closed"
        if mode in ("stream", "live"):
            if not e.uplink_open:
                e.open_uplink(preroll=mode == "stream",
                              since=since if mode == "live" else None)
        elif e.uplink_open:
            e.close_uplink()

    def flush_capture(self) -> None:
        if self.engine.uplink_open:
            self.engine.flush_uplink()

    def after_capture(self, fn: Callable[[], None]) -> None:
        self.engine.after_next_buffer(fn)

    def play(self, item_id: str, pcm: bytes) -> float:
        return self.engine.play(item_id, pcm)

    def end_of_answer(self, item_id: str) -> None:
        self.engine.end_of_answer(item_id)

    def flush(self) -> dict[str, int]:
        return self.engine.flush()

    def sound(self, name: str) -> None:
        from edged.audio.sounds import SOUND_NAMES

        for known in SOUND_NAMES:
            if known == name:
                self.engine.sound(known)

    def stop_sounds(self) -> None:
        self.engine.stop_sounds()

    def set_tap(self, tap: RawTap | None) -> None:
        self.engine.tap = tap

    def set_volume(self, scale: float) -> None:
        self.engine.set_level(scale)

    def last_callback(self) -> float | None:
        if self.engine.alive():
            return time.monotonic()
        stats = self.engine.stats
        return max(stats.last_input_callback, stats.last_output_callback)

    def xruns(self) -> tuple[int, int]:
        stats = self.engine.stats
        return stats.input_overflows, stats.output_underflows + stats.playback_underruns


def pyaudio_engine(config: Config, loop: asyncio.AbstractEventLoop,
                   callbacks: AudioCallbacks) -> EnginePort:
    return EnginePort(config, loop, callbacks)
