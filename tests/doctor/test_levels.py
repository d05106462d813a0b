"""The level meter's arithmetic and the test tone, on generated signals (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from edged.doctor import levels
from edged.doctor.tone import tone

RATE = 48000


def sine(amplitude: float, seconds: float = 1.0, channels: int = 1) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    x = np.round(np.sin(2 * np.pi * 440 * t) * amplitude * 32767).astype(np.int16)
    return np.repeat(x, channels).tobytes()


def test_a_sine_at_minus_20_dbfs_reads_as_such() -> None:
    found = levels.analyse(sine(0.1, channels=2), RATE, 2)
    assert found.verdict == "ok"
    assert found.peak_dbfs == pytest.approx(-20.0, abs=0.2)
    assert found.rms_dbfs == pytest.approx(-23.0, abs=0.2)  # a sine's RMS is 3 dB below peak
    assert found.seconds == pytest.approx(1.0)


def test_zeros_are_digital_silence_and_a_whisper_is_quiet() -> None:
    assert levels.analyse(bytes(RATE * 2), RATE, 1).verdict == "digital_silence"
    assert levels.analyse(sine(0.0003), RATE, 1).verdict == "quiet"  # about -70 dBFS
    assert levels.analyse(b"", RATE, 1).verdict == "no_audio"


def test_full_scale_is_clipping() -> None:
    square = np.where(np.arange(RATE) % 100 < 50, 32767, -32768).astype(np.int16)
    found = levels.analyse(square.tobytes(), RATE, 1)
    assert found.verdict == "clipping"
    assert found.clipped > 0.9


def test_meter_bar_grows_with_level() -> None:
    quiet = levels.meter(-50.0, -45.0)
    loud = levels.meter(-10.0, -3.0)
    assert quiet.count("#") < loud.count("#")
    assert "CLIP" in levels.meter(-3.0, 0.0)
    assert "-inf" in levels.meter(levels.FLOOR_DBFS, levels.FLOOR_DBFS)


def test_tone_is_440_hz_in_the_device_format() -> None:
    data = np.frombuffer(tone(44100, 2), np.int16).reshape(-1, 2)
    assert np.array_equal(data[:, 0], data[:, 1])
    spectrum = np.abs(np.fft.rfft(data[:, 0].astype(np.float64)))
    freq = np.fft.rfftfreq(len(data), 1 / 44100)[int(np.argmax(spectrum))]
    assert freq == pytest.approx(440, abs=2)
    assert abs(int(data[0, 0])) < 50 and abs(int(data[-1, 0])) < 50  # faded: no click
