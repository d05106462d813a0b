"""Feedback sounds, generated in code, and the mixer that lays them over the output.

Short sine chimes with raised-cosine fades (a hard edge would click): a rising
pair for "listening", a falling pair for "done", a low double buzz for "error",
a bright rising triple for "confirm" (a tool's action done while the link was
down), and for "alarm" four quick high beeps, which the daemon repeats while an
alarm rings. Pure numpy; nothing is read from disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Int16 = npt.NDArray[np.int16]
SoundName = Literal["listening", "done", "error", "confirm", "alarm"]
SOUND_NAMES: tuple[SoundName, ...] = ("listening", "done", "error", "confirm", "alarm")
ALARM_PERIOD_S = 1.2
"""The alarm pattern (about 0.7 s) starts again this often while an alarm rings."""
ALARM_MIN_LEVEL = 0.15
"""An alarm is never quieter than this (of full scale): a speaker turned all the way
down must still wake its owner."""

# (frequency Hz, duration s, gap after s) per note
_NOTES: dict[SoundName, tuple[tuple[float, float, float], ...]] = {
    "listening": ((660.0, 0.07, 0.015), (990.0, 0.09, 0.0)),
    "done": ((880.0, 0.07, 0.015), (587.0, 0.09, 0.0)),
    "error": ((220.0, 0.12, 0.06), (220.0, 0.12, 0.0)),
    "confirm": ((660.0, 0.06, 0.012), (880.0, 0.06, 0.012), (1320.0, 0.1, 0.0)),
    "alarm": ((1760.0, 0.1, 0.07), (1760.0, 0.1, 0.07), (1760.0, 0.1, 0.07),
              (1760.0, 0.1, 0.0)),
}
_FADE_S = 0.008


def _note(freq: float, dur: float, rate: int) -> npt.NDArray[np.float64]:
    n = max(1, int(dur * rate))
    t = np.arange(n) / rate
    tone = np.sin(2 * np.pi * freq * t)
    if freq < 400:  # a touch of the octave makes low tones audible on small speakers
        tone = 0.75 * tone + 0.25 * np.sin(4 * np.pi * freq * t)
        tone /= np.abs(tone).max()
    fade = min(n // 2, max(1, int(_FADE_S * rate)))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
    tone[:fade] *= ramp
    tone[n - fade:] *= ramp[::-1]
    return tone


def sound_level(name: SoundName, sounds_volume: float, scale: float) -> float:
    """The peak of a sound: ``audio.sounds_volume`` scaled by the spoken volume; the
    alarm twice as loud as the chimes, and never below ``ALARM_MIN_LEVEL``."""
    if name == "alarm":
        return max(ALARM_MIN_LEVEL, min(1.0, 2 * sounds_volume * scale))
    return sounds_volume * scale


def render(name: SoundName, rate: int, level: float) -> Int16:
    """The named sound at ``rate`` Hz, mono, peaking at ``level`` of full scale."""
    parts: list[npt.NDArray[np.float64]] = []
    for freq, dur, gap in _NOTES[name]:
        parts.append(_note(freq, dur, rate))
        if gap:
            parts.append(np.zeros(int(gap * rate)))
    wave = np.concatenate(parts) * (max(0.0, min(1.0, level)) * 32767)
    return np.round(wave).astype(np.int16)


@dataclass(slots=True)
class _Playing:
    samples: Int16
    pos: int = 0


class SoundMixer:
    """Lays short sounds over whatever the output plays, saturating instead of wrapping."""

    def __init__(self) -> None:
        self._active: list[_Playing] = []

    @property
    def active(self) -> bool:
        return bool(self._active)

    def start(self, samples: Int16) -> None:
        if len(samples):
            self._active.append(_Playing(samples))

    def clear(self) -> None:
        self._active.clear()

    def mix_into(self, out: Int16) -> bool:
        """Add the active sounds to ``out`` in place (mono, or frames × channels).

        True if anything was added.
        """
        if not self._active:
            return False
        n = len(out)
        acc = out.astype(np.int32)
        for p in self._active:
            take = min(n, len(p.samples) - p.pos)
            part = p.samples[p.pos:p.pos + take]
            acc[:take] += part[:, None] if acc.ndim == 2 else part
            p.pos += take
        self._active = [p for p in self._active if p.pos < len(p.samples)]
        np.clip(acc, -32768, 32767, out=acc)
        out[:] = acc
        return True
