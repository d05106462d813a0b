"""Speech for the wake word's tests: espeak-ng's voice, the shipped models."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymicro_wakeword", reason="the wake word's optional package is for "
                    "64-bit systems; scripts/setup installs it there")


@functools.cache
def speech(words: str, rate: int = 16000) -> bytes:
    """``words`` in espeak-ng's default voice as mono PCM16 at ``rate``."""
    with tempfile.TemporaryDirectory() as tmp:
        wav, raw = Path(tmp) / "w.wav", Path(tmp) / "w.raw"
        subprocess.run(["espeak-ng", "-w", str(wav), words], check=True)
        subprocess.run(["sox", str(wav), "-t", "raw", "-r", str(rate), "-e", "signed", "-b",
                        "16", "-c", "1", str(raw)], check=True)
        return raw.read_bytes()


def silence(seconds: float, rate: int = 16000) -> bytes:
    return bytes(round(seconds * rate) * 2)


def stereo(mono: bytes) -> bytes:
    x = np.frombuffer(mono, np.int16)
    return np.repeat(x, 2).tobytes()
