"""The daemon's one audio format: 24 kHz mono PCM16, little-endian.

The realtime API speaks only this for PCM, so the conversation machine, the
codec, the audio engine's converters and the demo all count in it; they take
the numbers from here. (The simulator keeps its own on purpose: it is written
apart from the daemon so that each checks the other.)
"""

from __future__ import annotations

RATE = 24_000
"""Samples per second."""
SAMPLE_BYTES = 2
"""16-bit samples, one channel."""
BYTES_PER_S = RATE * SAMPLE_BYTES
BYTES_PER_MS = BYTES_PER_S // 1000


def ms(nbytes: int) -> float:
    """Duration of ``nbytes`` of audio, in milliseconds."""
    return nbytes / BYTES_PER_MS
