"""A paced virtual microphone and speaker for ``edged demo``.

The demo must run on any machine, with no sound devices at all, yet keep real
time: a person speaks for as long as their speech lasts, and an answer takes as
long to play as it is long. This engine runs on the daemon's own event loop and
advances a 24 kHz clock from ``loop.time()``: the microphone "hears" whatever
speech the script queued (silence otherwise), and the speaker consumes queued
answer audio at real-time rate into a recording that becomes the output WAV.
It offers the daemon exactly what the PyAudio engine offers, so the daemon
cannot tell the difference.

These are the demo's fallback devices (``MemoryDevices``), used where there is no
PulseAudio to run PortAudio on (or with ``--audio memory``). They have no
buffer and no device clock: the speaker is silent the moment it is told to be,
and an answer is heard the tick it is due, so their figures show what edged
itself adds, not what a sound card adds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from edged import pcm
from edged.audio.capture import TAPPED_KEEP_MS
from edged.audio.sounds import SOUND_NAMES, render, sound_level
from edged.demo.speaker import Recording, SpeakerLog

if TYPE_CHECKING:
    from edged.audio.capture import RawTap
    from edged.audio.port import AudioCallbacks
    from edged.config import AudioConfig, Config

RATE = pcm.RATE
BYTES_PER_S = pcm.BYTES_PER_S
TICK_S = 0.02


class WavAudio:
    """The daemon's audio engine, backed by memory instead of devices."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop,
                 callbacks: AudioCallbacks,
                 on_first_played: Callable[[str, float], None] | None = None,
                 speaker: SpeakerLog | None = None) -> None:
        cfg = config.audio
        self._loop = loop
        self._callbacks = callbacks
        self._on_first_played = on_first_played  # (item, when): the demo's timeline
        self._speaker = speaker  # the demo's log of what sounded when
        self._batch = BYTES_PER_S * cfg.uplink_batch_ms // 1000
        self._preroll_bytes = BYTES_PER_S * cfg.preroll_ms // 1000
        self._prebuffer_s = cfg.playback_prebuffer_ms / 1000
        self._level = 1.0  # the spoken volume's scale on audio.volume and the sounds
        self._max_volume = cfg.volume
        self._sounds_volume = cfg.sounds_volume
        self._mode = "preroll"
        self._tap: RawTap | None = None  # the wake word hears every virtual buffer
        self._live_since: float | None = None
        self._speech = bytearray()  # what the person will say next, consumed in real time
        self._ring = bytearray()  # the last preroll_ms of microphone audio (with the
        # wake word listening, at least TAPPED_KEEP_MS: "live" starts at its detection)
        self._pending = bytearray()  # captured while streaming, not yet handed over
        self._queue: deque[tuple[str, bytes]] = deque()
        self._head = 0  # bytes of queue[0] already played
        self._start_at: float | None = None  # when the queued answer may start (prebuffer)
        self._played: dict[str, int] = {}  # bytes played per item since the last flush
        self._open: set[str] = set()  # items queued whose end has not been announced
        self._busy = False  # something was queued since the speaker was last idle
        self._announced: set[str] = set()
        self._sound = bytearray()
        self.recording = bytearray()  # everything the speaker played
        self._t0 = 0.0
        self._samples = 0
        self._last: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.speaking_done = asyncio.Event()
        self.speaking_done.set()

    # -- the person

    def speak(self, pcm: bytes) -> None:
        """Queue speech for the microphone (24 kHz mono PCM16)."""
        self._speech += pcm
        self.speaking_done.clear()

    # -- the AudioPort the daemon uses

    async def start(self) -> None:
        self._t0 = self._loop.time()
        self._samples = 0
        self._task = self._loop.create_task(self._run(), name="wav-audio")
        self._callbacks.on_status("input", "open", "virtual microphone, 24000 Hz mono")
        self._callbacks.on_status("output", "open", "virtual speaker, 24000 Hz mono")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reconfigure(self, config: Config) -> bool:
        """Virtual devices have nothing to reopen: every audio key applies in place."""
        cfg = config.audio
        self._batch = BYTES_PER_S * cfg.uplink_batch_ms // 1000
        self._preroll_bytes = BYTES_PER_S * cfg.preroll_ms // 1000
        self._prebuffer_s = cfg.playback_prebuffer_ms / 1000
        self._max_volume = cfg.volume
        self._sounds_volume = cfg.sounds_volume
        return True

    @property
    def started_at(self) -> float:
        """When the clock started: the recording's first sample (loop time)."""
        return self._t0

    @property
    def _volume(self) -> float:
        return self._max_volume * self._level

    def set_tap(self, tap: RawTap | None) -> None:
        if tap is not None:
            tap.configure(RATE, 1)
        self._tap = tap

    def set_volume(self, scale: float) -> None:
        self._level = max(0.0, min(1.0, scale))

    def stop_sounds(self) -> None:
        self._sound.clear()

    def live_from(self, t: float) -> None:
        self._live_since = t

    def set_mic(self, mode: str) -> None:
        since, self._live_since = self._live_since, None
        if mode == "closed":
            self._ring.clear()
        streaming = ("stream", "live")
        if mode in streaming and self._mode not in streaming:
            # the pre-roll ("stream"), joined seamlessly by what follows; "live" after a
            # wake word: what the ring holds from its detection on
            if mode == "stream":
                back = self._preroll_bytes
            elif since is not None and self._last is not None:
                back = max(0, round((self._last - since) * RATE)) * 2
            else:
                back = 0
            self._pending[:] = self._ring[len(self._ring) - min(back, len(self._ring)):]
            self._mode = mode
            self._hand_over()
            return
        if mode not in streaming:
            self._pending.clear()
        self._mode = mode

    def flush_capture(self) -> None:
        if self._pending:
            self._hand_over()

    def after_capture(self, fn: Callable[[], None]) -> None:
        self._loop.call_soon(fn)  # the file's audio is handed over whole: nothing in flight

    def play(self, item_id: str, pcm: bytes) -> float:
        now = self._loop.time()
        queued = sum(len(p) for _, p in self._queue) - self._head
        if not self._queue:
            self._start_at = now + self._prebuffer_s
        self._queue.append((item_id, pcm))
        self._open.add(item_id)
        self._busy = True
        self._played.setdefault(item_id, 0)
        start = self._start_at if self._start_at is not None and self._start_at > now else now
        return start + queued / BYTES_PER_S

    def end_of_answer(self, item_id: str) -> None:
        self._open.discard(item_id)
        self._start_at = None  # nothing more is coming: no reason to wait for a prebuffer
        self._check_idle()

    def _check_idle(self) -> None:
        if self._busy and not self._queue and not self._open:
            self._busy = False
            self._played.clear()  # heard in full; nothing left to truncate
            self._loop.call_soon(self._callbacks.on_idle)

    def flush(self) -> dict[str, int]:
        played = {item: n * 1000 // BYTES_PER_S for item, n in self._played.items()}
        self._queue.clear()
        self._head = 0
        self._played.clear()
        self._open.clear()
        self._busy = False
        self._start_at = None
        return played

    def sound(self, name: str) -> None:
        for known in SOUND_NAMES:
            if known == name:
                level = sound_level(known, self._sounds_volume, self._level)
                self._sound += render(known, RATE, level).tobytes()

    def last_callback(self) -> float | None:
        return self._last

    def xruns(self) -> tuple[int, int]:
        return 0, 0  # a virtual device never starves

    # -- the clock

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = self._loop.time()
            due = int((now - self._t0) * RATE)
            n = due - self._samples
            if n <= 0:
                continue
            self._samples = due
            self._last = now
            self._capture(n * 2)
            self._render(n * 2, now)

    def _capture(self, nbytes: int) -> None:
        heard = bytes(self._speech[:nbytes])
        del self._speech[:nbytes]
        if len(heard) < nbytes:
            heard += bytes(nbytes - len(heard))
            if not self._speech:
                self.speaking_done.set()
        if self._mode == "closed":
            return
        if self._tap is not None:
            self._tap.feed(heard, nbytes // 2, self._loop.time())
        self._ring += heard
        keep = self._preroll_bytes if self._tap is None else \
            max(self._preroll_bytes, BYTES_PER_S * TAPPED_KEEP_MS // 1000)
        if len(self._ring) > keep:
            del self._ring[: len(self._ring) - keep]
        if self._mode in ("stream", "live"):
            self._pending += heard
            if len(self._pending) >= self._batch:
                self._hand_over()

    def _hand_over(self) -> None:
        if not self._pending:
            return
        pcm = bytes(self._pending)
        self._pending.clear()
        self._callbacks.on_frames(pcm, self._loop.time())  # heard up to now

    def _render(self, nbytes: int, now: float) -> None:
        out = bytearray()
        if self._queue and (self._start_at is None or now >= self._start_at):
            self._start_at = None
            while self._queue and len(out) < nbytes:
                item, pcm = self._queue[0]
                if item not in self._announced:
                    self._announced.add(item)
                    if self._on_first_played is not None:
                        self._on_first_played(item, now)
                take = pcm[self._head:self._head + nbytes - len(out)]
                out += take
                self._played[item] = self._played.get(item, 0) + len(take)
                self._head += len(take)
                if self._head >= len(pcm):
                    self._queue.popleft()
                    self._head = 0
            self._check_idle()
        out += bytes(nbytes - len(out))
        samples = np.frombuffer(out, dtype="<i2").astype(np.float32) * self._volume
        if self._sound:
            tone = self._sound[:nbytes]
            del self._sound[:nbytes]
            samples[: len(tone) // 2] += np.frombuffer(bytes(tone), dtype="<i2")
        played = np.clip(samples, -32768, 32767).astype("<i2")
        self.recording += played.tobytes()
        if self._speaker is not None and played.any():
            # the samples due since the last tick: they sounded up to now
            self._speaker.played(now, now - nbytes / BYTES_PER_S, now)


class MemoryDevices:
    """The demo's in-memory microphone and speaker (a ``DemoDevices``)."""

    kind = "memory"

    def __init__(self, why: str, on_first_played: Callable[[str, float], None]) -> None:
        self.label = f"in-memory devices ({why})"
        self.speaker = SpeakerLog()
        self._on_first_played = on_first_played
        self.audio: WavAudio | None = None

    def audio_config(self, base: AudioConfig) -> AudioConfig:
        return base

    def factory(self, config: Config, loop: asyncio.AbstractEventLoop,
                callbacks: AudioCallbacks) -> WavAudio:
        self.audio = WavAudio(config, loop, callbacks, on_first_played=self._on_first_played,
                              speaker=self.speaker)
        return self.audio

    async def warm(self) -> float | None:
        return None  # running from the first tick

    def speak(self, pcm: bytes) -> None:
        assert self.audio is not None, "the daemon has not started its audio yet"
        self.audio.speak(pcm)

    async def spoken(self) -> None:
        if self.audio is not None:
            await self.audio.speaking_done.wait()

    def recorded(self) -> Recording | None:
        audio = self.audio
        if audio is None:
            return None
        samples = np.frombuffer(bytes(audio.recording), dtype="<i2")
        return Recording(samples, RATE, audio.started_at)  # sample i played at t0 + i/RATE

    def recording(self) -> bytes:
        return bytes(self.audio.recording) if self.audio is not None else b""
