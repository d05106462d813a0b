"""Signal measurements and small helpers shared by the audio tests (no devices)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.int16]
P = ParamSpec("P")


def sine(seconds: float, freq: float, rate: int, amplitude: float = 8000.0,
         phase: float = 0.0) -> Array:
    t = np.arange(round(seconds * rate)) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.int16)


def stereo(left: Array, right: Array) -> Array:
    return np.column_stack((left, right)).reshape(-1)


def pcm(x: Array) -> bytes:
    return x.astype(np.int16).tobytes()


def samples(data: bytes) -> Array:
    return np.frombuffer(data, np.int16)


def peak_frequency(x: Array, rate: int) -> float:
    """The strongest frequency, refined by parabolic interpolation between FFT bins."""
    w = x.astype(np.float64) * np.hanning(len(x))
    mag = np.abs(np.fft.rfft(w))
    k = int(np.argmax(mag[1:])) + 1
    if 0 < k < len(mag) - 1:
        a, b, c = np.log(mag[k - 1] + 1e-12), np.log(mag[k] + 1e-12), np.log(mag[k + 1] + 1e-12)
        k += 0.5 * (a - c) / (a - 2 * b + c)
    return float(k * rate / len(x))


def rms(x: Array) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


def max_step(x: Array) -> int:
    """Largest jump between neighbouring samples (a click shows up here)."""
    return int(np.max(np.abs(np.diff(x.astype(np.int32))))) if len(x) > 1 else 0


def db(ratio: float) -> float:
    return 20 * float(np.log10(max(ratio, 1e-12)))


def aio(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test function on a fresh event loop (no asyncio pytest plugin)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(fn(*args, **kwargs))

    return run
