"""Format conversion: frequency, level and continuity survive 48 kHz stereo ↔ 24 kHz mono.

Integer ratios (48 and 96 kHz) take the low-latency FIR, others (44.1, 16 kHz) soxr:
the behaviour tests run over both.
"""

from __future__ import annotations

import numpy as np
import pytest

from edged.audio.convert import CaptureConverter, PlaybackConverter
from tests.audio.helpers import db, max_step, pcm, peak_frequency, rms, sine, stereo

AMP = 8000.0
TONE_RMS = AMP / np.sqrt(2)
# The tolerances the tests hold the path to:
FREQ_TOL_HZ = 0.5  # a 1 s tone keeps its frequency to within half a hertz
LEVEL_TOL_DB = 0.1  # and its level to within a tenth of a decibel
BOTH = pytest.mark.parametrize("rate", [48000, 44100])  # the FIR path and the soxr path


def same(a: np.ndarray, b: np.ndarray, rate: int) -> bool:
    """Equal to the sample on the FIR path (exact arithmetic); within soxr's dither else
    (its int16 output is dithered, and neither chunking nor clear() replays the dither)."""
    tol = 0 if rate % 24000 == 0 else 2
    return len(a) == len(b) and int(np.max(np.abs(a.astype(np.int32) - b), initial=0)) <= tol


def capture(conv: CaptureConverter, x: np.ndarray, chunk: int) -> np.ndarray:
    step = chunk * conv.channels
    parts = [conv.process(pcm(x[i:i + step])) for i in range(0, len(x), step)]
    return np.concatenate([*parts, conv.finish()])


@pytest.mark.parametrize("rate", [96000, 48000, 44100, 16000])
def test_capture_keeps_frequency_and_level(rate: int) -> None:
    x = stereo(sine(1.0, 1000, rate, AMP), sine(1.0, 1000, rate, AMP))
    y = capture(CaptureConverter(rate, 2), x, chunk=rate // 50)
    assert len(y) == 24000  # exactly one second at 24 kHz, tail flushed
    body = y[2400:-2400]
    assert abs(peak_frequency(body, 24000) - 1000) < FREQ_TOL_HZ
    assert abs(db(rms(body) / TONE_RMS)) < LEVEL_TOL_DB


@BOTH
def test_capture_has_no_discontinuity_at_chunk_edges(rate: int) -> None:
    x = stereo(sine(1.0, 1000, rate, AMP), sine(1.0, 1000, rate, AMP))
    y = capture(CaptureConverter(rate, 2), x, chunk=rate // 50)
    # the steepest a 1 kHz sine of this amplitude gets at 24 kHz; a click would exceed it
    limit = AMP * 2 * np.pi * 1000 / 24000
    assert max_step(y[240:-240]) <= limit * 1.01
    # and the result does not depend on where the chunks were cut
    assert same(y, capture(CaptureConverter(rate, 2), x, chunk=777), rate)


@BOTH
def test_capture_averages_the_channels(rate: int) -> None:
    x = stereo(sine(1.0, 700, rate, AMP), np.zeros(rate, np.int16))
    y = capture(CaptureConverter(rate, 2), x, chunk=rate // 50)
    assert abs(db(rms(y[2400:-2400]) / TONE_RMS) - db(0.5)) < LEVEL_TOL_DB


def test_capture_at_the_model_rate_is_a_passthrough() -> None:
    x = sine(0.5, 440, 24000, AMP)
    conv = CaptureConverter(24000, 1)
    assert np.array_equal(capture(conv, x, chunk=480), x)
    assert conv.delay_s() == 0.0


@BOTH
def test_capture_delay_reports_what_the_resampler_holds(rate: int) -> None:
    conv = CaptureConverter(rate, 1)
    out = conv.process(pcm(sine(0.02, 440, rate)))
    assert conv.delay_s() == pytest.approx(0.02 - len(out) / 24000)


@pytest.mark.parametrize(("rate", "channels"), [(48000, 2), (96000, 1)])
def test_capture_at_a_multiple_of_24k_holds_back_a_millisecond(rate: int, channels: int) -> None:
    """The FIR path: its half length and nothing more (soxr HQ holds ~20 ms)."""
    conv = CaptureConverter(rate, channels)
    x = stereo(*[sine(0.2, 440, rate)] * 2) if channels == 2 else sine(0.2, 440, rate)
    step = rate // 50 * channels
    for i in range(0, len(x), step):
        conv.process(pcm(x[i:i + step]))
        assert conv.delay_s() == pytest.approx(0.001)
    assert len(conv.finish()) == 24  # the millisecond, flushed


@BOTH
def test_capture_finish_starts_afresh(rate: int) -> None:
    x = sine(0.1, 440, rate, AMP)
    conv = CaptureConverter(rate, 1)
    conv.process(pcm(sine(0.05, 1000, rate, AMP)))
    conv.finish()
    assert same(capture(conv, x, chunk=rate // 50),
                capture(CaptureConverter(rate, 1), x, chunk=rate // 50), rate)


@pytest.mark.parametrize("rate", [48000, 96000, 44100])
def test_playback_keeps_frequency_and_level(rate: int) -> None:
    conv = PlaybackConverter(rate)
    x = sine(1.0, 1000, 24000, AMP)
    parts = [conv.process(pcm(x[i:i + 480])) for i in range(0, len(x), 480)]
    y = np.concatenate([*parts, conv.process(b"", last=True)])
    assert len(y) == rate
    body = y[rate // 10:-rate // 10]
    assert abs(peak_frequency(body, rate) - 1000) < FREQ_TOL_HZ
    assert abs(db(rms(body) / TONE_RMS)) < LEVEL_TOL_DB
    assert max_step(body) <= AMP * 2 * np.pi * 1000 / rate * 1.01


def test_playback_at_a_multiple_of_24k_holds_back_a_millisecond() -> None:
    conv = PlaybackConverter(48000)
    assert len(conv.process(pcm(sine(0.02, 440, 24000)))) == 960 - 48  # 20 ms less 1 ms
    assert len(conv.process(pcm(sine(0.02, 440, 24000)))) == 960
    assert len(conv.process(b"", last=True)) == 48


@BOTH
def test_playback_reset_starts_a_fresh_stream(rate: int) -> None:
    x = pcm(sine(0.1, 440, 24000, AMP))
    conv = PlaybackConverter(rate)
    conv.process(pcm(sine(0.05, 1000, 24000, AMP)))
    conv.reset()
    assert same(conv.process(x, last=True), PlaybackConverter(rate).process(x, last=True), rate)


def test_playback_gain_scales_and_saturates() -> None:
    x = sine(0.2, 500, 24000, AMP)
    louder = PlaybackConverter(24000, gain=2.0).process(pcm(x))
    assert abs(db(rms(louder) / rms(x)) - db(2.0)) < 0.01
    clipped = PlaybackConverter(24000, gain=4.5).process(pcm(x))  # peaks at 36000
    assert clipped.max() == 32767 and clipped.min() == -32768  # saturated, not wrapped
    assert np.all(np.sign(clipped[x != 0]) == np.sign(x[x != 0]))


def test_playback_ignores_a_dangling_odd_byte() -> None:
    y = PlaybackConverter(24000).process(b"\x01\x00\x02\x00\x03")
    assert y.tolist() == [1, 2]


def test_noise_suppression_reduces_stationary_noise() -> None:
    noise = (np.random.default_rng(7).standard_normal(48000 * 3) * 1500).astype(np.int16)
    plain = capture(CaptureConverter(48000, 1), noise, chunk=960)
    cleaned = capture(CaptureConverter(48000, 1, noise_suppression=3), noise, chunk=960)
    # steady noise is what the suppressor learns and removes: well over 10 dB quieter
    assert db(rms(cleaned[-24000:]) / rms(plain[-24000:])) < -10


def test_auto_gain_lifts_a_quiet_signal() -> None:
    quiet = sine(3.0, 300, 48000, amplitude=300)
    plain = capture(CaptureConverter(48000, 1), quiet, chunk=960)
    lifted = capture(CaptureConverter(48000, 1, auto_gain_dbfs=10), quiet, chunk=960)
    assert db(rms(lifted[-24000:]) / rms(plain[-24000:])) > 3
