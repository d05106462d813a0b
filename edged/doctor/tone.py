"""The speaker test tone (pure numpy): a steady note with soft edges, in the device's format.

A steady 440 Hz note is easy to recognise on a small speaker and easy to find in a
recording; the raised-cosine fades keep it from clicking.
"""

from __future__ import annotations

import numpy as np

FREQ_HZ = 440.0
SECONDS = 0.8
LEVEL = 0.25  # of full scale: clearly audible, never startling
FADE_S = 0.02


def tone(rate: int, channels: int, *, freq: float = FREQ_HZ, seconds: float = SECONDS,
         level: float = LEVEL) -> bytes:
    """Interleaved PCM16 for ``channels`` channels at ``rate`` Hz."""
    n = max(1, int(rate * seconds))
    t = np.arange(n) / rate
    wave = np.sin(2 * np.pi * freq * t) * (max(0.0, min(1.0, level)) * 32767)
    fade = min(n // 2, max(1, int(FADE_S * rate)))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
    wave[:fade] *= ramp
    wave[n - fade:] *= ramp[::-1]
    mono = np.round(wave).astype(np.int16)
    return np.repeat(mono, max(1, channels)).tobytes()
