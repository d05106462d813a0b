"""Sample-format conversion between the devices and the model's 24 kHz mono PCM16.

Pure and single-threaded: arrays in, arrays out, state only in the streaming
resamplers (kept across chunks, so chunk edges never click). The capture side
runs in PortAudio's callback thread, so it avoids work it can: int16 end to end,
no per-sample Python, preallocated scratch for channel mixing.

Which resampler: soxr's streaming API holds back ~20 ms of output between calls
(measured 48k → 24k in 20 ms chunks: 21 ms pending on average; 18 ms in 100 ms
chunks), most of the uplink's added latency, and python-soxr has no setting that
avoids it without dropping the anti-alias filter. So integer ratios, the common
case (48 and 96 kHz devices, 24 kHz × k; 8 and 12 kHz ones the other way), go
through :mod:`edged.audio.fir`, whose polyphase FIR holds back only its 1 ms half
length (measured: 1.0 ms after every chunk). Every other rate (44.1, 32, 16 kHz
...) and the noise-suppression path (via 16 kHz) keep soxr HQ.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt
import soxr

from edged.audio.devices import MODEL_RATE
from edged.audio.fir import Decimator, Interpolator

Int16 = npt.NDArray[np.int16]

_EMPTY: Int16 = np.zeros(0, np.int16)
NS_RATE = 16000  # webrtc-noise-gain works on 10 ms of 16 kHz mono only
_NS_CHUNK = NS_RATE // 100

# soxr quality, for the rates the FIR does not cover (ratios that are not integers):
# "HQ" costs the least per chunk here and keeps the band clean (−140 dB aliasing),
# at the price of ~20 ms (mean) of look-ahead buffering.
QUALITY = "HQ"


class Resampler(Protocol):
    """A streaming mono int16 resampler (the FIR streams, or soxr behind :class:`_Soxr`)."""

    def process(self, x: Int16) -> Int16: ...
    def finish(self) -> Int16: ...
    def reset(self) -> None: ...
    def delay(self) -> float: ...


class _Soxr:
    """soxr.ResampleStream with the FIR streams' method names."""

    def __init__(self, rate_in: int, rate_out: int, quality: str) -> None:
        self._rs = soxr.ResampleStream(rate_in, rate_out, 1, dtype="int16", quality=quality)

    def process(self, x: Int16) -> Int16:
        return self._rs.resample_chunk(x)  # type: ignore[no-any-return]

    def finish(self) -> Int16:
        y: Int16 = self._rs.resample_chunk(_EMPTY, last=True)
        self._rs.clear()
        return y

    def reset(self) -> None:
        self._rs.clear()

    def delay(self) -> float:
        return float(self._rs.delay())


def _resampler(rate_in: int, rate_out: int, quality: str, fir: bool = True) -> Resampler | None:
    """None for equal rates, the FIR for integer ratios (unless ``fir`` is off), else soxr."""
    if rate_in == rate_out:
        return None
    if fir and rate_in % rate_out == 0:
        return Decimator(rate_in // rate_out)
    if fir and rate_out % rate_in == 0:
        return Interpolator(rate_out // rate_in)
    return _Soxr(rate_in, rate_out, quality)


class CaptureConverter:
    """Device PCM16 (any rate, interleaved channels) → 24 kHz mono PCM16 (or
    ``out_rate``: the wake word detector takes 16 kHz, which 48 kHz reaches through
    the same integer-ratio FIR).

    With ``noise_suppression``/``auto_gain_dbfs`` set, audio goes through
    webrtc's processor on the way, which needs 16 kHz: device → 16 kHz →
    processor (10 ms steps) → 24 kHz, all through soxr (the 10 ms steps hold back
    audio anyway). ``quality`` is soxr's, wherever soxr is used.
    """

    def __init__(self, rate: int, channels: int, *, max_frames: int = 0,
                 noise_suppression: int = 0, auto_gain_dbfs: int = 0,
                 quality: str = QUALITY, out_rate: int = MODEL_RATE,
                 low_delay: bool = True) -> None:
        self.rate = rate
        self.out_rate = out_rate
        self.channels = channels
        self.quality = quality
        self._scratch: Int16 = np.empty(max(max_frames, 1) * channels, np.int16)
        self._mono: Int16 = np.empty(max(max_frames, 1), np.int16)
        self._processor = None
        if noise_suppression or auto_gain_dbfs:
            from webrtc_noise_gain import AudioProcessor

            self._processor = AudioProcessor(auto_gain_dbfs, noise_suppression)
            self._to_16k = _resampler(rate, NS_RATE, quality, fir=False)
            self._from_16k = _resampler(NS_RATE, out_rate, quality, fir=False)
            self._ns_carry = bytearray()
        else:
            self._resample = _resampler(rate, out_rate, quality, fir=low_delay)

    @property
    def processing(self) -> bool:
        """True when noise suppression / auto gain is in the path."""
        return self._processor is not None

    def delay_s(self) -> float:
        """Audio held inside the resamplers right now, in seconds."""
        if self._processor is not None:
            held = len(self._ns_carry) / 2 / NS_RATE
            for rs, rate in ((self._to_16k, NS_RATE), (self._from_16k, self.out_rate)):
                held += rs.delay() / rate if rs is not None else 0.0
            return held
        return self._resample.delay() / self.out_rate if self._resample is not None else 0.0

    def mono(self, data: bytes) -> Int16:
        """Device bytes → mono int16 at the device rate (a view; valid until the next call)."""
        samples = np.frombuffer(data, np.int16)
        ch = self.channels
        if ch == 1:
            return samples
        n = len(samples) // ch
        if n > len(self._mono):
            self._mono = np.empty(n, np.int16)
            self._scratch = np.empty(n * ch, np.int16)
        if ch == 2:
            # (L >> 1) + (R >> 1): the average without widening or allocating.
            half = self._scratch[: n * 2]
            np.right_shift(samples[: n * 2], 1, out=half)
            out = self._mono[:n]
            np.add(half[0::2], half[1::2], out=out)
            return out
        mixed = samples[: n * ch].reshape(n, ch).mean(axis=1)
        out = self._mono[:n]
        np.copyto(out, mixed, casting="unsafe")
        return out

    def process(self, data: bytes) -> Int16:
        """Convert one chunk; the result is a new array (safe to keep)."""
        mono = self.mono(data)
        if self._processor is None:
            if self._resample is None:
                return mono.copy()
            return self._resample.process(mono)
        return self._suppress(mono)

    def _suppress(self, mono: Int16) -> Int16:
        at16 = self._to_16k.process(mono) if self._to_16k is not None else mono
        self._ns_carry += at16.tobytes()
        usable = len(self._ns_carry) // (2 * _NS_CHUNK) * (2 * _NS_CHUNK)
        if not usable:
            return _EMPTY
        step = 2 * _NS_CHUNK
        proc = self._processor
        assert proc is not None
        cleaned = b"".join(proc.Process10ms(bytes(self._ns_carry[i:i + step])).audio
                           for i in range(0, usable, step))
        del self._ns_carry[:usable]
        out = np.frombuffer(cleaned, np.int16)
        if self._from_16k is None:
            return out.copy()
        return self._from_16k.process(out)

    def finish(self) -> Int16:
        """Flush the audio held in the resamplers (end of a stretch), then start afresh."""
        parts: list[Int16] = []
        if self._processor is None:
            if self._resample is not None:
                parts.append(self._resample.finish())
        else:
            tail = self._to_16k.finish() if self._to_16k is not None else _EMPTY
            parts.append(self._suppress(tail))
            if self._from_16k is not None:
                parts.append(self._from_16k.finish())
        return np.concatenate(parts) if parts else _EMPTY


class PlaybackConverter:
    """24 kHz mono PCM16 answer audio → device-rate mono int16, with software gain.

    Channels are expanded at output time (cheap), so the jitter buffer holds
    mono samples: half the memory of stereo.
    """

    def __init__(self, rate: int, gain: float = 1.0, quality: str = QUALITY) -> None:
        self.rate = rate
        self.gain = gain
        self._resample = _resampler(MODEL_RATE, rate, quality)

    def process(self, pcm: bytes | Int16, last: bool = False) -> Int16:
        """Convert a chunk; ``last`` flushes the resampler (end of one answer item)."""
        if isinstance(pcm, bytes | bytearray):
            x: Int16 = np.frombuffer(pcm, np.int16, count=len(pcm) // 2)  # odd byte dropped
        else:
            x = pcm
        if self._resample is None:
            y = x
        else:
            y = self._resample.process(x)
            if last:
                y = np.concatenate((y, self._resample.finish()))
        return self._apply_gain(y)

    def _apply_gain(self, y: Int16) -> Int16:
        g = self.gain
        if g == 1.0:
            return y.copy() if not y.flags.owndata else y
        scaled = y.astype(np.float32)
        scaled *= g
        np.clip(scaled, -32768, 32767, out=scaled)
        return scaled.astype(np.int16)

    def reset(self) -> None:
        """Forget held audio (barge-in): the next chunk starts a fresh stream."""
        if self._resample is not None:
            self._resample.reset()

