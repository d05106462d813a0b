"""Answer audio and the energy voice-activity detector (PCM16, 24 kHz mono).

Pure numpy on whole buffers: the detector looks at 20 ms windows, vectorised,
so a second of input costs a handful of array operations, not 24,000 Python
steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

RATE = 24000
BYTES_PER_MS = RATE * 2 // 1000  # 48
WINDOW_MS = 20

AnswerKind = Literal["echo", "tone", "silence"]
ANSWER_KINDS: tuple[AnswerKind, ...] = ("echo", "tone", "silence")


def speech_like_tone(duration_s: float = 1.5, level_dbfs: float = -16.0) -> bytes:
    """A voiced buzz with a gliding pitch and ~3.5 syllables a second.

    Harmonics over a 110–180 Hz contour, shaped into syllables with short gaps:
    it reads as speech to an energy VAD and sounds like mumbling, not a beep.
    """
    n = round(duration_s * RATE)
    t = np.arange(n, dtype=np.float64) / RATE
    f0 = 145.0 + 35.0 * np.sin(2 * np.pi * 0.8 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(h * phase) / h for h in range(1, 7))
    syllables = np.clip(np.sin(2 * np.pi * 1.75 * t), 0.0, None) ** 0.5
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01) if n else t
    signal = np.asarray(voice) * syllables * fade
    peak = float(np.max(np.abs(signal))) if n else 0.0
    if peak > 0:
        signal *= (10 ** (level_dbfs / 20) * 32767) / peak
    return np.round(signal).astype("<i2").tobytes()


def silence(duration_s: float = 1.5) -> bytes:
    return bytes(round(duration_s * RATE) * 2)


def rms_threshold(threshold: float) -> float:
    """Map the API's 0–1 VAD threshold to an RMS level: 0 → -60 dBFS, 1 → -20 dBFS."""
    return float(10 ** ((-60.0 + 40.0 * threshold) / 20) * 32768)


def window_rms(pcm: bytes) -> np.ndarray:
    """RMS of each whole 20 ms window in ``pcm`` (a trailing part window is ignored)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    per = RATE * WINDOW_MS // 1000
    whole = len(samples) // per * per
    if not whole:
        return np.zeros(0, np.float32)
    frames = samples[:whole].reshape(-1, per).astype(np.float32)
    rms: np.ndarray = np.sqrt(np.einsum("ij,ij->i", frames, frames) / per)
    return rms


@dataclass(frozen=True, slots=True)
class VadEdge:
    """Speech began or ended at this byte offset of the session's input stream."""

    kind: Literal["start", "stop"]
    offset: int


@dataclass(slots=True)
class EnergyVad:
    """Speech = a 20 ms window above the level; a turn ends after ``silence_ms`` below it.

    Offsets are absolute byte positions in the input audio of the session, so
    they survive buffer commits and clears.
    """

    level: float
    silence_ms: int
    position: int = 0  # bytes consumed into whole windows
    in_speech: bool = False
    quiet_ms: int = 0
    _carry: bytes = field(default=b"", repr=False)

    def feed(self, pcm: bytes) -> list[VadEdge]:
        data = self._carry + pcm if self._carry else pcm
        window = WINDOW_MS * BYTES_PER_MS
        whole = len(data) // window * window
        self._carry = data[whole:]
        if not whole:
            return []
        loud = window_rms(data[:whole]) > self.level
        edges: list[VadEdge] = []
        base = self.position
        self.position += whole
        if not self.in_speech and not loud.any():
            return edges
        if self.in_speech and loud.all():
            self.quiet_ms = 0
            return edges
        for i, is_loud in enumerate(loud.tolist()):
            if not self.in_speech:
                if is_loud:
                    self.in_speech, self.quiet_ms = True, 0
                    edges.append(VadEdge("start", base + i * window))
            elif is_loud:
                self.quiet_ms = 0
            else:
                self.quiet_ms += WINDOW_MS
                if self.quiet_ms >= self.silence_ms:
                    self.in_speech = False
                    end = base + (i + 1) * window - self.quiet_ms * BYTES_PER_MS
                    edges.append(VadEdge("stop", end))
        return edges

    def reset(self) -> None:
        """Forget any speech in progress (after a manual commit or clear)."""
        self.in_speech, self.quiet_ms = False, 0
