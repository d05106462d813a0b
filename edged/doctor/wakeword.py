"""The wake word check, and the detector the level meter runs beside the microphone.

The model is loaded exactly as the daemon loads it (``edged.wakeword.detector.load``)
and the meter feeds its listener the same raw device buffers the daemon's tap does,
so a ✓ here, and a phrase heard during the meter, mean ``edged run`` will hear it too.
Nothing here is imported unless the wake word is on: without the optional package
the other checks still run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edged.doctor.context import Context
from edged.doctor.result import CheckResult, fail, ok, skip

if TYPE_CHECKING:
    from edged.config import WakeWordConfig
    from edged.wakeword.detector import Detector
    from edged.wakeword.listener import Detection

ID, TITLE = "wake_word", "wake word"
KEY = "wake_word.model"


def threshold_in_force(configured: float | None, cutoff: float) -> tuple[float, str]:
    """The threshold the daemon applies, and where it comes from (in words)."""
    if configured is None:
        return cutoff, "the model's own cutoff"
    return configured, f"wake_word.threshold; the model suggests {cutoff:.2f}"


def model_fix(message: str) -> str:
    """The one thing to do about a model that did not load."""
    from edged.config import WAKE_WORD_MODELS
    from edged.wakeword.models import NEEDS_64_BIT

    if message.startswith(NEEDS_64_BIT):
        return "or set wake_word.enabled to false (the buttons and edged ctl work without it)"
    return (f"set {KEY} to a shipped model ({', '.join(WAKE_WORD_MODELS)}) or the absolute "
            "path of a microWakeWord .json manifest with its .tflite beside it, then run "
            "edged doctor again")


def check_wake_word(ctx: Context) -> CheckResult:
    """The configured model loads, and which phrase and threshold the daemon will use."""
    assert ctx.config is not None
    cfg = ctx.config.wake_word
    if not cfg.enabled:
        return skip(ID, TITLE, "off (wake_word.enabled is false)", enabled=False)
    from edged.wakeword.detector import load
    from edged.wakeword.models import ModelError

    try:
        detector = load(cfg.model)
    except ModelError as exc:
        return fail(ID, TITLE, f"{KEY}: {exc}", model_fix(str(exc)), key=KEY, model=cfg.model)
    detector.close()
    spec = detector.spec
    threshold, source = threshold_in_force(cfg.threshold, spec.cutoff)
    return ok(ID, TITLE, f"listens for {spec.phrase!r} (model {spec.name}, threshold "
              f"{threshold:.2f}: {source})", enabled=True, model=spec.name,
              phrase=spec.phrase, manifest=str(spec.manifest), threshold=threshold,
              cutoff=spec.cutoff, refractory_s=cfg.refractory_s)


# -- beside the level meter


def meter_text(peak: float, threshold: float) -> str:
    """The meter line's wake word part: this line's highest probability / the threshold."""
    return f"wake {peak:.2f} / {threshold:.2f}"


@dataclass(frozen=True, slots=True)
class Heard:
    """What the wake word made of the meter's audio (plain values for the verdict)."""

    phrase: str
    model: str
    threshold: float
    peak: float
    detections: tuple[float, ...]  # the probability of each detection, in order
    error: str | None = None  # the model did not load: why

    def facts(self) -> dict[str, Any]:
        if self.error is not None:
            return {"model": self.model, "error": self.error}
        return {"model": self.model, "phrase": self.phrase, "threshold": self.threshold,
                "peak": round(self.peak, 3), "detections": list(self.detections)}

    def sentence(self) -> str:
        """For the meter's summary line."""
        if self.error is not None:
            return "wake word not measured (its model did not load: see the wake word check)"
        if self.detections:
            times = "" if len(self.detections) == 1 else f" {len(self.detections)} times"
            return (f"wake word {self.phrase!r} heard{times} (highest probability "
                    f"{self.peak:.2f}, threshold {self.threshold:.2f})")
        return (f"wake word {self.phrase!r} not heard (highest probability {self.peak:.2f}, "
                f"threshold {self.threshold:.2f})")


class MeterWake:
    """The daemon's listener on the meter's buffers, started: fed from PortAudio's
    thread, run on its own worker, read by the meter once a line."""

    def __init__(self, detector: Detector, cfg: WakeWordConfig, rate: int,
                 channels: int) -> None:
        from edged.wakeword.listener import WakeListener

        self._detections: list[float] = []  # appended on the listener's worker thread
        self._top = 0.0
        self.listener = WakeListener(detector, self._detected, threshold=cfg.threshold,
                                     refractory_s=cfg.refractory_s,
                                     rest_below_dbfs=cfg.rest_below_dbfs)
        self.listener.configure(rate, channels)
        self.listener.start()

    def feed(self, data: bytes | None, frames: int) -> None:
        """PortAudio's callback: one raw buffer (a few microseconds: a locked append)."""
        self.listener.feed(data, frames, time.monotonic())

    def _detected(self, detection: Detection) -> None:
        self._detections.append(detection.probability)

    def line(self) -> str:
        """The highest probability since the last line, beside the threshold."""
        peak = self.listener.peak()
        self._top = max(self._top, peak)
        return meter_text(peak, self.listener.threshold)

    def stop(self) -> Heard:
        self.listener.stop()
        self._top = max(self._top, self.listener.peak())
        spec = self.listener.detector.spec
        return Heard(spec.phrase, spec.name, self.listener.threshold, self._top,
                     tuple(self._detections))


def meter_wake(cfg: WakeWordConfig, rate: int, channels: int) -> MeterWake | Heard | None:
    """A started listener for the meter; None when the wake word is off; a Heard with
    the reason when the model does not load (the meter runs on without it)."""
    if not cfg.enabled:
        return None
    from edged.wakeword.detector import load
    from edged.wakeword.models import ModelError

    try:
        detector = load(cfg.model)
    except ModelError as exc:
        return Heard("", cfg.model, 0.0, 0.0, (), error=str(exc))
    return MeterWake(detector, cfg, rate, channels)
