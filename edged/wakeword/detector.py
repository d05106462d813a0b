"""The thin adapter around pymicro-wakeword: 16 kHz mono PCM16 in, probabilities out."""

from __future__ import annotations

from typing import Any

from edged.wakeword.models import NEEDS_64_BIT, ModelError, ModelSpec

RATE = 16000


class Detector:
    """One model's streaming state. Not thread-safe: one thread feeds it."""

    def __init__(self, spec: ModelSpec) -> None:
        try:
            from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures
        except (ImportError, OSError) as exc:
            raise ModelError(f"{NEEDS_64_BIT} ({exc})") from None
        try:
            self._model: Any = MicroWakeWord.from_config(spec.manifest)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"{spec.tflite}: TensorFlow Lite cannot load it: {exc}") from None
        self._features: Any = MicroWakeWordFeatures()
        self.spec = spec
        self.step_s = spec.step_ms / 1000  # audio per value process() returns

    def process(self, pcm16k: bytes) -> list[float]:
        """One value per 10 ms feature the audio completes: the model's averaged
        probability when it ran on it (every third, for the shipped models), else 0.0."""
        out: list[float] = []
        for features in self._features.process_streaming(pcm16k):
            p = self._model.process_streaming_prob(features)
            if p is not None:
                out.append(float(p))
        return out

    def reset(self) -> None:
        """Forget the audio heard so far (the model is reloaded: it keeps state inside)."""
        self._features.reset()
        self._model.reset()

    def close(self) -> None:
        self._model.close()


def load(model: str) -> Detector:
    """``wake_word.model`` → a ready Detector; ModelError says why not, in words."""
    from edged.wakeword.models import resolve

    return Detector(resolve(model))
