"""The microphone level meter's arithmetic (pure numpy): dBFS, clipping, silence.

A muted or wrong capture device usually delivers exact zeros, a working one in a
quiet room still shows a noise floor, and a gain set too high flattens peaks at
full scale: those three are what the verdict tells apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FULL_SCALE = 32768.0
CLIP_AT = 32767 - 64  # a sample this close to full scale counts as clipped
CLIP_LIMIT = 0.001  # more than 0.1 % clipped samples: the gain is too high
QUIET_DBFS = -60.0  # peaks below this: nothing is reaching the microphone
FLOOR_DBFS = -120.0  # what digital silence reads as (instead of -inf)

Verdict = Literal["ok", "digital_silence", "quiet", "clipping", "no_audio"]


@dataclass(frozen=True, slots=True)
class Levels:
    seconds: float
    rms_dbfs: float
    peak_dbfs: float
    clipped: float  # fraction of samples at full scale
    verdict: Verdict


def dbfs(value: float) -> float:
    """A linear sample magnitude as dBFS, floored at :data:`FLOOR_DBFS`."""
    if value <= 0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 20.0 * math.log10(value / FULL_SCALE))


def block_levels(pcm: bytes | npt.NDArray[np.int16]) -> tuple[float, float]:
    """(RMS, peak) dBFS of interleaved PCM16, whatever the channel count."""
    x = np.frombuffer(pcm, np.int16) if isinstance(pcm, bytes) else pcm
    if x.size == 0:
        return FLOOR_DBFS, FLOOR_DBFS
    wide = x.astype(np.float64)
    rms = float(np.sqrt(np.mean(wide * wide)))
    peak = float(np.max(np.abs(wide)))
    return dbfs(rms), dbfs(peak)


def analyse(pcm: bytes, rate: int, channels: int) -> Levels:
    """The verdict on a capture of interleaved PCM16 at ``rate`` Hz."""
    x = np.frombuffer(pcm, np.int16)
    seconds = x.size / max(1, channels) / max(1, rate)
    if x.size == 0:
        return Levels(0.0, FLOOR_DBFS, FLOOR_DBFS, 0.0, "no_audio")
    rms, peak = block_levels(x)
    clipped = float(np.count_nonzero(np.abs(x.astype(np.int32)) >= CLIP_AT)) / x.size
    verdict: Verdict
    if not np.any(x):
        verdict = "digital_silence"
    elif clipped > CLIP_LIMIT:
        verdict = "clipping"
    elif peak < QUIET_DBFS:
        verdict = "quiet"
    else:
        verdict = "ok"
    return Levels(round(seconds, 2), round(rms, 1), round(peak, 1), round(clipped, 5), verdict)


def meter(rms_dbfs: float, peak_dbfs: float, width: int = 30) -> str:
    """One line of a live meter: a bar from -60 to 0 dBFS and the figures."""
    def cells(db: float) -> int:
        return max(0, min(width, round((db - QUIET_DBFS) / -QUIET_DBFS * width)))

    filled, peak_at = cells(rms_dbfs), cells(peak_dbfs)
    bar = ["#" if i < filled else "." for i in range(width)]
    if 0 < peak_at <= width:
        bar[peak_at - 1] = "|"
    shown = "  -inf" if rms_dbfs <= FLOOR_DBFS else f"{rms_dbfs:6.1f}"
    clip = "  CLIP" if peak_dbfs >= dbfs(CLIP_AT) else ""
    return f"[{''.join(bar)}] {shown} dBFS{clip}"
