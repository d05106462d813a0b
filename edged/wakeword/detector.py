"""The thin adapter around microWakeWord: 16 kHz mono PCM16 in, probabilities out.

pymicro-wakeword loads the model and owns the TensorFlow Lite interpreter; the
streaming loop is ours. Its own per-10 ms path (a numpy array per feature, a
quantisation per inference, ``statistics.mean`` in exact fractions over the window)
cost more than the model itself when paced as the daemon runs it, a batch at a
time (measured: docs/benchmarks.md, "wake word"). Here a batch's features are
quantised in one numpy call, the output lands in a preallocated byte, and the
window is a mean of a few floats; the values are the library's (a test compares them).
"""

from __future__ import annotations

import ctypes
from collections import deque
from typing import Any

import numpy as np

from edged.wakeword.models import NEEDS_64_BIT, ModelError, ModelSpec

RATE = 16000
_CHUNK = RATE // 100 * 2  # bytes the feature frontend takes per call: 10 ms
# what the loop uses of the library's model object (its public attributes in 2.x)
_USED = ("lib", "interpreter", "input_tensor", "output_tensor", "input_scale",
         "input_zero_point", "input_dtype", "output_scale", "output_zero_point",
         "output_dtype", "stride", "sliding_window_size")


class Detector:
    """One model's streaming state. Not thread-safe: one thread feeds it."""

    def __init__(self, spec: ModelSpec) -> None:
        try:
            from pymicro_features import MicroFrontend
            from pymicro_wakeword import MicroWakeWord
        except (ImportError, OSError) as exc:
            raise ModelError(f"{NEEDS_64_BIT} ({exc})") from None
        try:
            self._model: Any = MicroWakeWord.from_config(spec.manifest)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"{spec.tflite}: TensorFlow Lite cannot load it: {exc}") from None
        missing = [name for name in _USED if not hasattr(self._model, name)]
        if missing:
            raise ModelError("this pymicro-wakeword release lacks what edged drives "
                             f"({', '.join(missing)}); edged works with the 2.x series")
        self._frontend: Any = MicroFrontend()
        self.spec = spec
        self.step_s = spec.step_ms / 1000  # audio per value process() returns
        m = self._model
        self._stride = int(m.stride)  # features per inference
        self._carry = b""  # audio short of a whole 10 ms
        self._pending: list[list[float]] = []  # features short of a whole stride
        self._window: deque[float] = deque(maxlen=int(m.sliding_window_size))
        info = np.iinfo(m.input_dtype)
        self._q_range = (info.min, info.max)
        self._out = np.zeros(1, m.output_dtype)
        self._out_ptr = self._out.ctypes.data_as(ctypes.c_void_p)

    def process(self, pcm16k: bytes) -> list[float]:
        """One value per 10 ms feature the audio completes: the model's averaged
        probability when it ran on it (every third, for the shipped models), else 0.0."""
        buf = self._carry + pcm16k if self._carry else pcm16k
        whole = len(buf) - len(buf) % _CHUNK
        frontend = self._frontend
        features = self._pending
        done = 0
        made = 0
        while done < whole:
            result = frontend.process_samples(buf[done:done + _CHUNK])
            done += result.samples_read * 2 or _CHUNK  # never stall on a zero read
            if result.features:
                features.append(result.features)
                made += 1
        self._carry = buf[done:]
        out = [0.0] * made
        runs = len(features) // self._stride
        if not runs:
            return out
        m = self._model
        stride = self._stride
        used = runs * stride
        # the library's arithmetic (float64, divide, round half to even), for a batch
        q = np.asarray(features[:used], np.float64)
        q /= m.input_scale
        q += m.input_zero_point
        np.rint(q, out=q)
        np.clip(q, *self._q_range, out=q)
        quant = q.astype(m.input_dtype)
        del features[:used]
        size = quant.itemsize * stride * quant.shape[1]
        base = quant.ctypes.data
        lib, interpreter = m.lib, m.interpreter
        window = self._window
        # out[i] is new feature i; the first run ends stride - 1 features past the
        # ones left over from the last call
        first = stride - 1 - (len(features) + used - made)
        for r in range(runs):
            lib.TfLiteTensorCopyFromBuffer(m.input_tensor, ctypes.c_void_p(base + r * size),
                                           size)
            lib.TfLiteInterpreterInvoke(interpreter)
            lib.TfLiteTensorCopyToBuffer(m.output_tensor, self._out_ptr, self._out.nbytes)
            window.append((float(self._out[0]) - m.output_zero_point) * m.output_scale)
            if len(window) == window.maxlen:
                out[first + r * stride] = sum(window) / len(window)
        return out

    def reset(self) -> None:
        """Forget the audio heard so far (the model is reloaded: it keeps state inside)."""
        self._frontend.reset()
        self._model.reset()
        self._carry = b""
        self._pending.clear()
        self._window.clear()

    def close(self) -> None:
        self._model.close()


def load(model: str) -> Detector:
    """``wake_word.model`` → a ready Detector; ModelError says why not, in words."""
    from edged.wakeword.models import resolve

    return Detector(resolve(model))
