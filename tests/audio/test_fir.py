"""The integer-ratio FIR resamplers: band, alias rejection, alignment, and streaming that
gives the same samples however the input is cut."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.audio.fir import Decimator, Interpolator
from tests.audio.helpers import db, max_step, peak_frequency, rms, sine

MODEL = 24000
AMP = 8000.0
# (stream class, factor): 48k → 24k, 96k → 24k, 24k → 48k, 24k → 96k
KINDS = [(Decimator, 2), (Decimator, 4), (Interpolator, 2), (Interpolator, 4)]
Stream = Decimator | Interpolator


def rates(cls: type[Stream], factor: int) -> tuple[int, int]:
    return (MODEL * factor, MODEL) if cls is Decimator else (MODEL, MODEL * factor)


def run(s: Stream, x: np.ndarray, chunk: int) -> np.ndarray:
    """Stream ``x`` through ``s`` in chunks of ``chunk``, the tail flushed."""
    parts = [s.process(x[i:i + chunk]) for i in range(0, len(x), chunk)]
    return np.concatenate([*parts, s.finish()])


def body(y: np.ndarray, rate: int) -> np.ndarray:
    return y[rate // 10:-rate // 10]  # 0.8 s of a 1 s tone: whole cycles of any whole Hz


@pytest.mark.parametrize(("cls", "factor"), KINDS)
@pytest.mark.parametrize("freq", [100, 440, 1000, 3000, 6000, 8000, 9000])
def test_passband_keeps_level_and_frequency(cls: type[Stream], factor: int, freq: int) -> None:
    rate_in, rate_out = rates(cls, factor)
    y = body(run(cls(factor), sine(1.0, freq, rate_in, AMP), chunk=rate_in // 50), rate_out)
    assert abs(db(rms(y) / (AMP / np.sqrt(2)))) < 0.1
    assert abs(peak_frequency(y, rate_out) - freq) < 0.5


ALIASING = [12500, 13500, 15000, 18000, 21000, 23000]  # fold to 11.5 kHz ... 1 kHz at 24 kHz


@pytest.mark.parametrize(("factor", "freq"), [(2, f) for f in ALIASING]
                         + [(4, f) for f in [*ALIASING, 30000, 36000, 40000, 47000]])
def test_decimation_rejects_what_would_alias(factor: int, freq: int) -> None:
    """Tones above 12 kHz fold into the 24 kHz band if not filtered out: at least 70 dB."""
    x = sine(1.0, freq, MODEL * factor, 16000.0)
    y = body(run(Decimator(factor), x, chunk=MODEL * factor // 50), MODEL)
    assert db(rms(y) / rms(x)) < -70


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("freq", [1000, 6000, 9000, 10500])
def test_interpolation_leaves_no_image(factor: int, freq: int) -> None:
    """Zero-stuffing mirrors a tone at f to 24 kHz − f (and beyond): all filtered out."""
    rate_out = MODEL * factor
    y = body(run(Interpolator(factor), sine(1.0, freq, MODEL, 16000.0), chunk=480), rate_out)
    spectrum = np.abs(np.fft.rfft(y.astype(np.float64)))
    bin_hz = rate_out / len(y)
    images = [k * MODEL + sign * freq for k in range(1, factor // 2 + 1) for sign in (-1, 1)]
    loudest = max(spectrum[round(f / bin_hz)] for f in images if f < rate_out / 2)
    assert db(loudest / spectrum[round(freq / bin_hz)]) < -70


@pytest.mark.parametrize(("cls", "factor"), KINDS)
def test_chunk_edges_do_not_click(cls: type[Stream], factor: int) -> None:
    rate_in, rate_out = rates(cls, factor)
    x = sine(1.0, 1000, rate_in, AMP)
    y = run(cls(factor), x, chunk=rate_in // 50)
    # the steepest a 1 kHz sine of this amplitude gets at the output rate (+ rounding)
    assert max_step(y[rate_out // 100:-rate_out // 100]) <= AMP * 2 * np.pi * 1000 / rate_out + 2
    assert np.array_equal(y, run(cls(factor), x, chunk=len(x)))
    assert np.array_equal(y, run(cls(factor), x, chunk=777))


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS),
       cuts=st.lists(st.integers(0, 1500), min_size=1, max_size=25),
       seed=st.integers(0, 2**32 - 1))
def test_any_chunking_gives_the_same_samples(kind: tuple[type[Stream], int], cuts: list[int],
                                             seed: int) -> None:
    cls, factor = kind
    x = np.random.default_rng(seed).integers(-32768, 32768, sum(cuts), dtype=np.int16)
    one_go = run(cls(factor), x, chunk=max(len(x), 1))
    s = cls(factor)
    bounds = np.cumsum([0, *cuts])
    chunked = np.concatenate([*(s.process(x[a:b]) for a, b in itertools.pairwise(bounds)),
                              s.finish()])
    assert np.array_equal(chunked, one_go)  # bit-exact: the arithmetic is exact


@pytest.mark.parametrize(("cls", "factor"), KINDS)
@pytest.mark.parametrize("at", [400, 401, 402, 403])
def test_an_impulse_comes_out_where_it_went_in(cls: type[Stream], factor: int, at: int) -> None:
    """Output sample n lies at input time n / rate_out (no leading group delay), like soxr."""
    x = np.zeros(1000, np.int16)
    x[at] = 30000
    y = run(cls(factor), x, chunk=160)
    ratio = 1 / factor if cls is Decimator else factor
    assert abs(int(np.argmax(np.abs(y))) - at * ratio) <= 1


@pytest.mark.parametrize(("cls", "factor"), KINDS)
def test_delay_is_the_audio_held_and_about_a_millisecond(cls: type[Stream], factor: int) -> None:
    rate_in, rate_out = rates(cls, factor)
    s = cls(factor)
    fed = made = 0
    for n in (rate_in // 50, 333, 1, 0, rate_in // 10, 7):
        made += len(s.process(np.ones(n, np.int16)))
        fed += n
        assert s.delay() == pytest.approx(fed * rate_out / rate_in - made)
        assert s.delay() / rate_out <= 0.001  # soxr HQ holds ~20 ms here
    assert s.delay() / rate_out == pytest.approx(0.001, abs=1 / rate_out)


@pytest.mark.parametrize(("cls", "factor"), KINDS)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 95, 960, 1001, 1002, 1003, 4801])
def test_finish_brings_the_length_to_what_soxr_gives(cls: type[Stream], factor: int,
                                                     n: int) -> None:
    rate_in, rate_out = rates(cls, factor)
    x = sine(n / rate_in, 300, rate_in)
    rs = soxr.ResampleStream(rate_in, rate_out, 1, dtype="int16", quality="HQ")
    expected = len(rs.resample_chunk(x)) + len(rs.resample_chunk(x[:0], last=True))
    assert len(run(cls(factor), x, chunk=100)) == expected
    if cls is Interpolator:
        assert expected == n * factor


@pytest.mark.parametrize(("cls", "factor"), KINDS)
def test_finish_and_reset_start_a_fresh_stream(cls: type[Stream], factor: int) -> None:
    rate_in, _ = rates(cls, factor)
    x = sine(0.1, 700, rate_in, AMP)
    fresh = run(cls(factor), x, chunk=480)
    s = cls(factor)
    s.process(sine(0.05, 300, rate_in, AMP))
    s.finish()
    assert s.delay() == 0
    assert np.array_equal(run(s, x, chunk=480), fresh)
    s.process(sine(0.05, 300, rate_in, AMP))
    s.reset()
    assert s.delay() == 0
    assert np.array_equal(run(s, x, chunk=480), fresh)


@pytest.mark.parametrize(("cls", "factor"), KINDS)
@pytest.mark.parametrize("level", [-32768, -1234, 1, 32767])
def test_a_constant_stays_exactly_constant(cls: type[Stream], factor: int, level: int) -> None:
    """Unity gain at DC, to the sample, in every output phase."""
    y = run(cls(factor), np.full(4000, level, np.int16), chunk=480)
    assert set(y[400:-400].tolist()) == {level}


@pytest.mark.parametrize(("cls", "factor"), KINDS)
def test_overshoot_saturates_instead_of_wrapping(cls: type[Stream], factor: int) -> None:
    """A full-scale square wave rings past full scale next to its edges."""
    period = 800
    square = np.where(np.arange(8000) % period < period // 2, 32767, -32768).astype(np.int16)
    y = run(cls(factor), square, chunk=480)
    ratio = 1 / factor if cls is Decimator else factor
    t = np.arange(len(y)) / ratio + 0.5  # output times in input samples, from an edge
    to_edge = np.abs((t + period / 4) % (period / 2) - period / 4) * ratio  # in output samples
    high, settled = t % period < period // 2, to_edge >= 2
    assert y.max() == 32767 and y.min() == -32768
    assert np.array_equal(y[settled] > 0, high[settled])  # a wrapped overshoot flips sign


def test_a_factor_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="factor"):
        Decimator(1)
    with pytest.raises(ValueError, match="factor"):
        Interpolator(0)
