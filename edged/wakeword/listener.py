"""The wake word's own path from the microphone: a worker thread beside the uplink.

The uplink converts audio on the loop only while a conversation streams; the wake
word must hear every buffer. So PortAudio's callback hands each raw device buffer
to :meth:`WakeListener.feed` (its peak and a lock-protected append, a few
microseconds), and a thread of its own converts a batch at a time to 16 kHz mono
once and runs the model. Neither the audio callback nor the event loop ever waits
on TensorFlow Lite.

In a quiet room the model rests: while no buffer's peak reaches ``rest_below_dbfs``
the worker is not woken; only the last second is kept. The first buffer above it
wakes the worker, which runs that second first (the model is a streaming one: its
state then is what it would have been had it run all along) and keeps running
until the room has been quiet for ``AWAKE_AFTER_S``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soxr

from edged.audio.convert import CaptureConverter
from edged.audio.devices import MODEL_RATE
from edged.wakeword.detector import RATE, Detector
from edged.wakeword.echo import EchoReference
from edged.wakeword.trigger import Trigger

log = logging.getLogger("edged.wakeword")

BATCH_MS = 200  # the worker wakes this often: CPU (each wake-up runs cold) vs how soon
# a detection lands; the audio sent to the model starts at the detection's capture
# time whatever the delay (``Detection.at``), so only the earcon waits for it
MAX_BACKLOG_S = 2.0  # a starved worker skips ahead rather than detect stale audio
REPLAY_S = 1.0  # quiet audio kept to run before a sound: the model's streaming history
AWAKE_AFTER_S = 2.0  # the model runs on this long after the last buffer above the level
ECHO_FACTOR = 0.5
"""A detection is an echo when the played audio scores at least this share of the
threshold: the clean reference needs no more to show the phrase was in the answer."""


@dataclass(frozen=True, slots=True)
class Detection:
    model: str
    phrase: str
    probability: float
    at: float  # capture time (monotonic s) of the audio that crossed the cutoff
    echo: float | None = None  # the played audio's own score when it was checked
    own_voice: bool = False  # the speaker said it: not a person


class WakeListener:
    """Raw microphone buffers in (any thread), detections out (on the worker thread)."""

    def __init__(self, detector: Detector, on_detect: Callable[[Detection], None], *,
                 threshold: float | None = None, refractory_s: float = 2.0,
                 batch_ms: int = BATCH_MS, echo: EchoReference | None = None,
                 rest_below_dbfs: float | None = None) -> None:
        self.detector = detector
        self.echo = echo
        self._reference: Detector | None = None  # the echo check's model, made when needed
        self.threshold = threshold if threshold is not None else detector.spec.cutoff
        self._trigger = Trigger(self.threshold, refractory_s)
        self._on_detect = on_detect
        self._batch_ms = batch_ms
        # a buffer whose peak stays below this (int16) lets the model rest; -1: never
        self._quiet = -1 if rest_below_dbfs is None else \
            round(32768 * 10 ** (rest_below_dbfs / 20))
        self._awake_until = 0.0  # capture time until which the model runs
        self._gap = False  # audio was let go while resting: the converter starts afresh
        self._lock = threading.Lock()
        self._chunks: deque[tuple[bytes, int, float]] = deque()
        self._frames = 0
        self._batch = 1
        self._format: tuple[int, int] | None = None  # (rate, channels) of the device
        self._generation = 0
        self._wakeup = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._hold_until = 0.0
        self._peak = 0.0
        self.detections = 0
        self.dropped_s = 0.0  # audio skipped because the worker fell behind
        self.rested_s = 0.0  # quiet audio the model never ran on
        self.steps = 0

    # -- any thread

    def configure(self, rate: int, channels: int) -> None:
        """A freshly opened microphone: its format (the next batch starts a new converter)."""
        with self._lock:
            self._format = (rate, channels)
            self._generation += 1
            self._batch = max(1, rate * self._batch_ms // 1000)
            self._chunks.clear()
            self._frames = 0
            self._awake_until = 0.0
            self._gap = True

    def feed(self, data: bytes | None, frames: int, end_t: float) -> None:
        """PortAudio's callback: one raw buffer (None: muted or gated, nothing heard)."""
        if data is None:
            return
        loud = self._quiet < 0 or _peak(data) >= self._quiet
        wake = False
        with self._lock:
            fmt = self._format
            if fmt is None:
                return
            if loud:
                self._awake_until = end_t + AWAKE_AFTER_S
            self._chunks.append((data, frames, end_t))
            self._frames += frames
            if end_t <= self._awake_until:
                while self._frames > fmt[0] * MAX_BACKLOG_S:
                    n = self._chunks.popleft()[1]
                    self._frames -= n
                    self.dropped_s += n / fmt[0]
                wake = self._frames >= self._batch
            else:  # resting: keep the last REPLAY_S for when a sound comes
                while self._frames - self._chunks[0][1] >= fmt[0] * REPLAY_S:
                    n = self._chunks.popleft()[1]
                    self._frames -= n
                    self.rested_s += n / fmt[0]
                    self._gap = True
        if wake:
            self._wakeup.set()

    def hold(self, until: float) -> None:
        """Ignore the microphone until ``until`` (monotonic s)."""
        self._hold_until = until

    def peak(self) -> float:
        """The highest probability since the last call (for a live meter)."""
        p, self._peak = self._peak, 0.0
        return p

    # -- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="edged-wakeword", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        t, self._thread = self._thread, None
        if t is None:
            return
        self._stopping = True
        self._wakeup.set()
        t.join(timeout)
        if t.is_alive():  # pragma: no cover - TensorFlow Lite stuck: leave it, daemon thread
            log.warning("wake word: the detector thread did not stop within %g s", timeout)
            return
        self.detector.close()
        if self._reference is not None:
            self._reference.close()

    # -- the worker

    def _run(self) -> None:
        conv: CaptureConverter | None = None
        generation = -1
        while not self._stopping:
            self._wakeup.wait(1.0)
            self._wakeup.clear()
            with self._lock:
                if self._resting():
                    continue  # the room went quiet: what is left waits as history
                chunks = list(self._chunks)
                self._chunks.clear()
                self._frames = 0
                fmt, gen = self._format, self._generation
                gap, self._gap = self._gap, False
            if fmt is None or not chunks:
                continue
            if gen != generation:
                conv = CaptureConverter(fmt[0], fmt[1], out_rate=RATE, low_delay=False)
                generation = gen
            elif gap and conv is not None:
                conv.finish()  # the audio before the gap is not this audio's past
            assert conv is not None
            try:
                self._detect(conv, chunks)
            except Exception:  # a model failure must not end listening silently
                log.exception("wake word: the detector failed on a batch; listening on")

    def _detect(self, conv: CaptureConverter, chunks: list[tuple[bytes, int, float]]) -> None:
        audio = conv.process(b"".join(c for c, _, _ in chunks))
        probs = self.detector.process(audio.tobytes())
        if not probs:
            return
        self.steps += len(probs)
        end_t = chunks[-1][2]
        step = self.detector.step_s
        top = max(probs)
        self._peak = max(self._peak, top)
        for i, p in enumerate(probs):
            t = end_t - (len(probs) - 1 - i) * step
            if t < self._hold_until:
                continue
            if self._trigger.feed(p, t):
                spec = self.detector.spec
                echo = self._echo_score(t)
                own = echo is not None and echo >= self.threshold * ECHO_FACTOR
                if not own:
                    self.detections += 1
                self._on_detect(Detection(spec.name, spec.phrase, round(p, 3), t,
                                          None if echo is None else round(echo, 3), own))

    def _resting(self) -> bool:
        """The newest buffer came after the model's time to run (hold the lock)."""
        return bool(self._chunks) and self._chunks[-1][2] > self._awake_until

    def resting(self) -> bool:
        """Is the model resting now (the room quiet since the newest buffer's level)?"""
        with self._lock:
            return self._resting()

    def heard_s(self) -> float:
        """Audio the listener has dealt with: run through the model, rested over, or
        kept as the history of a resting model."""
        with self._lock:
            fmt = self._format
            kept = self._frames / fmt[0] if fmt is not None and self._resting() else 0.0
        return self.steps * self.detector.step_s + self.rested_s + kept

    def _echo_score(self, t: float) -> float | None:
        """The model's highest score over what the speaker played just before ``t``
        (None: nothing played then)."""
        played = self.echo.around(t) if self.echo is not None else None
        if played is None:
            return None
        if self._reference is None:
            self._reference = Detector(self.detector.spec)
        else:
            self._reference.reset()
        x = np.frombuffer(played, np.int16)
        at16k = soxr.resample(x, MODEL_RATE, RATE, quality="HQ")
        return max(self._reference.process(np.asarray(at16k, np.int16).tobytes()), default=0.0)


def _peak(data: bytes) -> int:
    """The buffer's largest absolute sample (int16)."""
    x = np.frombuffer(data, np.int16)
    return max(int(x.max()), -int(x.min())) if len(x) else 0
