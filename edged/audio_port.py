"""The daemon's view of an audio engine, and its adapter for the PyAudio engine.

The daemon needs a handful of verbs (stream the mic with its pre-roll, play,
flush, sound, liveness); the PyAudio engine and the demo's virtual devices both
offer them. Keeping the port this small is what lets ``edged demo`` run the
unchanged daemon on machines without sound devices.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from edged.audio import AudioEngine, AudioStatus
    from edged.config import Config
    from edged.daemon import Daemon

log = logging.getLogger("edged.audio")

BYTES_PER_S = 24_000 * 2


class AudioPort(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    def reconfigure(self, config: Config) -> bool:
        """Take a reloaded config in place; False when the devices must be reopened (the
        daemon then stops this engine before starting a new one)."""

    def set_mic(self, mode: str) -> None:
        """closed (muted) · preroll (keep the ring only) · stream (pre-roll, then live)."""

    def flush_capture(self) -> None:
        """Hand over every captured sample now (before a push-to-talk commit)."""

    def play(self, item_id: str, pcm: bytes) -> float:
        """Queue answer audio; returns the scheduled output time of its first sample."""

    def end_of_answer(self, item_id: str) -> None: ...

    def flush(self) -> dict[str, int]:
        """Barge-in: silence now; milliseconds heard per item."""

    def sound(self, name: str) -> None: ...

    def last_callback(self) -> float | None:
        """For the watchdog: when the audio path last proved alive (None: nothing to vouch)."""

    def xruns(self) -> tuple[int, int]:
        """(input overflows, output underflows) so far."""


class EnginePort:
    """The PyAudio engine behind the daemon's port."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop, daemon: Daemon) -> None:
        from edged.audio import AudioEngine

        self._daemon = daemon
        self._frame_s = 0.0
        self.engine: AudioEngine = AudioEngine(config.audio, loop, self._on_frames,
                                               self._on_status, on_idle=daemon.on_playback_idle)

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    def reconfigure(self, config: Config) -> bool:
        return self.engine.reconfigure(config.audio)

    def _on_frames(self, pcm: bytes, t: float) -> None:
        self._daemon.on_frames(pcm, t + len(pcm) / BYTES_PER_S)

    def _on_status(self, status: AudioStatus) -> None:
        device = status.direction
        if status.kind == "opened":
            fmts = [f"{name} {fmt.describe()}" for name, fmt in
                    (("input", status.input), ("output", status.output)) if fmt is not None]
            self._daemon.on_audio_status(device, "open", "; ".join(fmts) or status.message)
        else:
            self._daemon.on_audio_status(device, status.kind, status.message)

    def set_mic(self, mode: str) -> None:
        e = self.engine
        e.mic_enabled = mode != "closed"
        if mode == "stream":
            if not e.uplink_open:
                e.open_uplink(preroll=True)
        elif e.uplink_open:
            e.close_uplink()

    def flush_capture(self) -> None:
        if self.engine.uplink_open:
            self.engine.flush_uplink()

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

    def last_callback(self) -> float | None:
        if self.engine.alive():
            return time.monotonic()
        stats = self.engine.stats
        return max(stats.last_input_callback, stats.last_output_callback)

    def xruns(self) -> tuple[int, int]:
        stats = self.engine.stats
        return stats.input_overflows, stats.output_underflows + stats.playback_underruns


def pyaudio_engine(config: Config, loop: asyncio.AbstractEventLoop, daemon: Daemon) -> EnginePort:
    return EnginePort(config, loop, daemon)
