"""The capture side: PortAudio input callback → 24 kHz mono frames → the loop.

Every wake-up costs more than the work it does, so the PortAudio thread does
almost nothing: it appends the device's raw buffer (with its capture time) to
a short lock-protected queue and, once an uplink batch has built up, wakes the
loop. The loop converts the batch in one go (one resampler call, not five) and
hands whole frames to ``on_frames``.

While nobody listens (the uplink is closed) the queue simply keeps the last
``preroll_ms`` of raw audio: nothing is converted and the loop is never woken.
:meth:`Capture.open_uplink` converts that pre-roll and carries on with the
live audio through the same resampler, so the two join without a seam.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from edged.audio.buffers import Int16
from edged.audio.convert import CaptureConverter
from edged.audio.devices import MODEL_RATE, StreamFormat
from edged.audio.portaudio import CONTINUE, INPUT_OVERFLOW
from edged.config import AudioConfig

log = logging.getLogger("edged.audio")

FramesHandler = Callable[[bytes, float], None]
"""``(pcm, capture_end)``: 24 kHz mono PCM16 and the capture time of its last sample."""
_MS = 1000
_RESAMPLER_SLACK_MS = 60
TAPPED_KEEP_MS = 600  # with a wake word: a detection's audio lands this late at most
_MAX_BACKLOG_S = 10  # raw audio kept for a loop that does not drain it
_NUDGE_S = 0.0005  # most the capture clock moves towards the ADC time per buffer

# (device bytes, or None for a muted buffer; device frames; capture time just after it)
_Chunk = tuple[bytes | None, int, float]


class RawTap(Protocol):
    """Something that hears every raw buffer (the wake word), whatever the uplink does.

    ``feed`` runs on PortAudio's thread: it must only queue and return.
    """

    def configure(self, rate: int, channels: int) -> None: ...
    def feed(self, data: bytes | None, frames: int, end_t: float) -> None: ...


class Capture:
    """Microphone audio: pre-roll, mute, uplink batching and conversion.

    ``wake(fn)`` must schedule ``fn`` on the loop from any thread (the engine
    passes ``loop.call_soon_threadsafe``); ``mic_gate(now)`` says whether the
    microphone may be heard right now (half duplex).
    """

    def __init__(self, cfg: AudioConfig, on_frames: FramesHandler,
                 wake: Callable[[Callable[[], None]], object],
                 mic_gate: Callable[[float], bool] = lambda _now: True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.on_frames = on_frames
        self._wake = wake
        self._gate = mic_gate
        self._clock = clock
        self._lock = threading.Lock()  # guards the raw queue; held for microseconds
        self.frame = cfg.frame_ms * MODEL_RATE // _MS  # samples per frame at 24 kHz
        self._batch_frames = max(1, round(cfg.uplink_batch_ms / cfg.frame_ms))
        self._conv: CaptureConverter | None = None  # used on the loop thread only
        self.format: StreamFormat | None = None
        self._rate = MODEL_RATE
        self._raw: deque[_Chunk] = deque()
        self._raw_frames = 0  # device frames in _raw
        self._keep = 0  # device frames of pre-roll to keep while the uplink is closed
        self._batch_dev = 0  # device frames per uplink batch
        self._uplink = False
        self._wake_pending = False
        self._out: Int16 = np.zeros(0, np.int16)  # converted, not yet a whole frame
        self._out_t = 0.0  # capture time of _out[0]
        self._mic_enabled = True
        self.captured = 0  # 24 kHz samples delivered
        self.overflows = 0
        self.last_callback = 0.0
        self.latency = 0.0
        self._clock_end = 0.0  # capture time just after the newest sample
        self._tap: RawTap | None = None
        self._after: list[Callable[[], None]] = []  # for the loop, after the next buffer

    @property
    def tap(self) -> RawTap | None:
        return self._tap

    @tap.setter
    def tap(self, tap: RawTap | None) -> None:
        if tap is not None and self.format is not None:
            tap.configure(self.format.rate, self.format.channels)
        self._tap = tap
        with self._lock:
            self._keep = self._keep_frames(self._rate)

    def _keep_frames(self, rate: int) -> int:
        """Raw audio kept while the uplink is closed: the pre-roll, or with a wake word
        listening enough to start at its detection (see :meth:`open_uplink`)."""
        ms = self.cfg.preroll_ms if self._tap is None else \
            max(self.cfg.preroll_ms, TAPPED_KEEP_MS)
        return rate * (ms + _RESAMPLER_SLACK_MS) // _MS

    def configure(self, fmt: StreamFormat, latency: float = 0.0) -> None:
        """Get ready for a freshly opened device (before its stream starts).

        ``latency`` is the stream's input latency (PortAudio's figure): capture
        times are never put further back than that plus one buffer.
        """
        cfg = self.cfg
        conv = CaptureConverter(fmt.rate, fmt.channels, max_frames=fmt.rate * cfg.frame_ms // _MS,
                                noise_suppression=cfg.noise_suppression,
                                auto_gain_dbfs=cfg.auto_gain_dbfs)
        with self._lock:
            self._conv = conv
            self.format = fmt
            self._rate = fmt.rate
            # a little extra: soxr (rates that are not 24 kHz × k) holds back up to ~40 ms
            self._keep = self._keep_frames(fmt.rate)
            self._batch_dev = fmt.rate * self.batch_ms // _MS
            self._raw.clear()
            self._raw_frames = 0
            self.last_callback = 0.0
            self.latency = max(0.0, latency)
            self._clock_end = 0.0
        self._out = np.zeros(0, np.int16)
        if self._tap is not None:
            self._tap.configure(fmt.rate, fmt.channels)

    # -- controls (loop thread)

    @property
    def mic_enabled(self) -> bool:
        return self._mic_enabled

    @mic_enabled.setter
    def mic_enabled(self, on: bool) -> None:
        with self._lock:
            if self._mic_enabled and not on:  # what was said before muting stays unsent
                self._raw.clear()
                self._raw_frames = 0
            self._mic_enabled = bool(on)

    def reconfigure(self, cfg: AudioConfig) -> None:
        """A config whose frame and pre-roll sizes are unchanged (the engine checks)."""
        self.cfg = cfg
        self.batch_ms = cfg.uplink_batch_ms

    @property
    def batch_ms(self) -> int:
        return self._batch_frames * self.cfg.frame_ms

    @batch_ms.setter
    def batch_ms(self, ms: int) -> None:
        with self._lock:
            self._batch_frames = max(1, round(ms / self.cfg.frame_ms))
            self._batch_dev = self._rate * self.batch_ms // _MS

    @property
    def uplink_open(self) -> bool:
        return self._uplink

    def preroll(self) -> bytes:
        """The newest ``preroll_ms`` at 24 kHz, converted on the side (for inspection)."""
        fmt = self.format
        with self._lock:
            chunks = list(self._raw)
        if fmt is None or not chunks:
            return b""
        side = CaptureConverter(fmt.rate, fmt.channels)
        audio = np.concatenate((side.process(_join(chunks, fmt.channels)), side.finish()))
        return audio[-(self.cfg.preroll_ms * MODEL_RATE // _MS):].tobytes() \
            if self.cfg.preroll_ms else b""

    def open_uplink(self, preroll: bool = True, since: float | None = None) -> None:
        """Start delivering: the pre-roll first (``preroll``), or the audio captured
        from ``since`` on (a wake word's detection time: what was said right after the
        phrase must not wait for the detector), or nothing before now."""
        with self._lock:
            if self._uplink:
                return
            self._uplink = True
            chunks = list(self._raw)
            self._raw.clear()
            self._raw_frames = 0
        conv = self._conv
        self._out = np.zeros(0, np.int16)
        if conv is None:
            return
        conv.finish()  # start from a clean resampler: the last uplink was a while ago
        if not chunks or (since is None and not (preroll and self.cfg.preroll_ms)):
            return
        audio, t = self._convert(conv, chunks)
        if since is not None:  # from the detection on
            n = len(audio) - min(len(audio), max(0, round((since - t) * MODEL_RATE)))
        else:  # the pre-roll, whole frames
            n = min(len(audio), self.cfg.preroll_ms * MODEL_RATE // _MS) // self.frame \
                * self.frame
        if n:
            self._out = audio[len(audio) - n:]
            self._out_t = t + (len(audio) - n) / MODEL_RATE
        self._deliver(final=False)

    def flush_uplink(self, close: bool = False) -> None:
        """Hand over everything captured so far, the resampler's tail included."""
        with self._lock:
            if not self._uplink:
                return
            chunks = list(self._raw)
            self._raw.clear()
            self._raw_frames = 0
            self._wake_pending = False
            if close:
                self._uplink = False
        conv = self._conv
        if conv is not None:
            if chunks:
                self._add(*self._convert(conv, chunks))
            tail = conv.finish()
            if len(tail):
                t = self._out_t + len(self._out) / MODEL_RATE
                self._add(tail if self._heard_now() else np.zeros_like(tail), t)
        self._deliver(final=True)

    def close_uplink(self) -> None:
        """Hand over the rest now and stop delivering (push-to-talk release)."""
        self.flush_uplink(close=True)

    def forget(self) -> None:
        """The stream was stopped (standby): the pre-roll is stale and the capture
        clock starts afresh with the next buffer."""
        with self._lock:
            if not self._uplink:
                self._raw.clear()
                self._raw_frames = 0
            self._clock_end = 0.0

    def stop(self) -> None:
        with self._lock:
            self._after.clear()  # the engine's timers call them
            self._uplink = False
            self._raw.clear()
            self._raw_frames = 0
            self._conv = None
        self._out = np.zeros(0, np.int16)

    def after_next_buffer(self, fn: Callable[[], None]) -> None:
        """Have ``fn`` run on the loop once the buffer being captured now has arrived
        (a push-to-talk release: the period in flight holds the last syllable)."""
        with self._lock:
            self._after.append(fn)

    def drain(self) -> None:
        """Convert the queued batch and give its whole frames to ``on_frames`` (loop)."""
        with self._lock:
            self._wake_pending = False
            if not self._uplink:
                return
            chunks = list(self._raw)
            self._raw.clear()
            self._raw_frames = 0
        conv = self._conv
        if conv is None or not chunks:
            return
        self._add(*self._convert(conv, chunks))
        self._deliver(final=False)

    # -- conversion and delivery (loop thread)

    def _convert(self, conv: CaptureConverter, chunks: list[_Chunk]) -> tuple[Int16, float]:
        """Raw chunks → 24 kHz mono, and the capture time of its first sample."""
        audio = conv.process(_join(chunks, conv.channels))
        end_t = chunks[-1][2]
        return audio, end_t - conv.delay_s() - len(audio) / MODEL_RATE

    def _add(self, audio: Int16, t: float) -> None:
        if not len(audio):
            return
        if not len(self._out):
            self._out, self._out_t = audio, t
        else:
            self._out = np.concatenate((self._out, audio))

    def _deliver(self, final: bool) -> None:
        out = self._out
        n = len(out) if final else len(out) // self.frame * self.frame
        if not n:
            return
        pcm, t = out[:n].tobytes(), self._out_t
        self._out = out[n:]
        self._out_t = t + n / MODEL_RATE
        self.captured += n
        try:
            self.on_frames(pcm, self._out_t)  # when its last sample was captured
        except Exception:
            log.exception("on_frames handler failed")

    def _heard_now(self) -> bool:
        return self._mic_enabled and self._gate(self._clock())

    # -- PortAudio's thread: keep it short

    def callback(self, data: bytes | None, frame_count: int, time_info: dict[str, float],
                 status: int) -> tuple[None, int]:
        now = self._clock()
        self.last_callback = now
        if status & INPUT_OVERFLOW:
            self.overflows += 1
        end_t = self._capture_time(now, frame_count, time_info, status)
        heard = self._mic_enabled and self._gate(now)
        wake = False
        with self._lock:
            after, self._after = self._after, []
            self._raw.append((data if heard else None, frame_count, end_t))
            self._raw_frames += frame_count
            if self._uplink:
                if self._raw_frames >= self._batch_dev and not self._wake_pending:
                    self._wake_pending = wake = True
                while self._raw_frames > self._rate * _MAX_BACKLOG_S:  # the loop is stuck
                    self._raw_frames -= self._raw.popleft()[1]
                    self.overflows += 1
            else:
                while self._raw_frames - self._raw[0][1] >= self._keep and len(self._raw) > 1:
                    self._raw_frames -= self._raw.popleft()[1]
        tap = self._tap
        if tap is not None:
            tap.feed(data if heard else None, frame_count, end_t)
        if wake:
            self._wake(self.drain)
        for fn in after:
            self._wake(fn)
        return None, CONTINUE

    def _capture_time(self, now: float, frames: int, time_info: dict[str, float],
                      status: int) -> float:
        """When the newest sample of this buffer was captured (monotonic s).

        Counted on from the previous buffer, so consecutive buffers join
        exactly, and nudged by at most half a millisecond per buffer towards
        PortAudio's ADC time, which absorbs clock drift and a poor first
        estimate. After an overflow, or a disagreement over 200 ms (lost
        audio), it starts again from the ADC time. Some ALSA plugins report ADC
        times far in the past at start-up, so that time is trusted only up to
        the stream's latency plus one buffer.
        """
        period = frames / self._rate
        lag = time_info.get("current_time", 0.0) - time_info.get("input_buffer_adc_time", 0.0)
        lag = min(max(lag, 0.0), self.latency + period) if math.isfinite(lag) else period
        estimate = now - lag + period
        counted = self._clock_end + period
        drift = estimate - counted
        if self._clock_end and not status & INPUT_OVERFLOW and abs(drift) <= 0.2:
            estimate = counted + min(max(drift, -_NUDGE_S), _NUDGE_S)
        self._clock_end = estimate
        return estimate

def _join(chunks: list[_Chunk], channels: int) -> bytes:
    """The raw chunks as one buffer, muted ones as silence."""
    if len(chunks) == 1 and chunks[0][0] is not None:
        return chunks[0][0]
    return b"".join(c if c is not None else bytes(n * channels * 2) for c, n, _ in chunks)
