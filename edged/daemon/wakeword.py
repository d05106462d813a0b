"""The wake word for the daemon: the detector's thread, its tap on the microphone,
and detections handed to the loop as ``WakeWord`` events.

Created only when ``wake_word.enabled`` is true, so a daemon without it never
imports TensorFlow Lite (nor needs the optional package).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edged.config import WakeWordConfig
from edged.conversation import Event, Notice, WakeWord
from edged.wakeword.detector import Detector, load
from edged.wakeword.echo import EchoReference
from edged.wakeword.listener import Detection, WakeListener

if TYPE_CHECKING:
    from edged.daemon.ports import AudioPort

log = logging.getLogger("edged")


class WakeWordShell:
    """Start with :meth:`start` (loads the model: ModelError says why it cannot)."""

    def __init__(self, config: WakeWordConfig, loop: asyncio.AbstractEventLoop,
                 feed: Callable[[Event], None], observe: Callable[[Notice], None]) -> None:
        self.config = config
        self._loop = loop
        self._feed = feed
        self._observe = observe  # records what never reaches the machine (its own voice)
        self.listener: WakeListener | None = None
        self._audio: AudioPort | None = None
        self.echo = EchoReference()
        self.own_voice = 0  # detections the echo check ignored

    async def start(self, audio: AudioPort | None) -> None:
        detector: Detector = await asyncio.to_thread(load, self.config.model)
        self.listener = WakeListener(detector, self._detected,
                                     threshold=self.config.threshold,
                                     refractory_s=self.config.refractory_s, echo=self.echo,
                                     rest_below_dbfs=self.config.rest_below_dbfs)
        self.listener.start()
        spec = detector.spec
        log.info("wake word: listening for %r (model %s, threshold %.2f)", spec.phrase,
                 spec.name, self.listener.threshold,
                 extra={"fields": {"kind": "wake_word_ready", "model": spec.name,
                                   "threshold": self.listener.threshold}})
        self.attach(audio)

    def attach(self, audio: AudioPort | None) -> None:
        """Listen on ``audio`` (a reopened engine is a new one)."""
        self._audio = audio
        if audio is not None and self.listener is not None:
            audio.set_tap(self.listener)

    async def close(self) -> None:
        if self._audio is not None:
            self._audio.set_tap(None)
            self._audio = None
        listener, self.listener = self.listener, None
        if listener is not None:
            await asyncio.to_thread(listener.stop)

    def status(self) -> dict[str, Any]:
        """For ``edged status``: what it listens for, how often it was heard, and how
        much of the time the model rested (to tune ``rest_below_dbfs`` by)."""
        listener = self.listener
        if listener is None:
            return {"enabled": True, "listening": False}
        spec = listener.detector.spec
        heard = listener.heard_s()
        return {"enabled": True, "listening": True, "model": spec.name, "phrase": spec.phrase,
                "threshold": listener.threshold, "detections": listener.detections,
                "own_voice_ignored": self.own_voice,
                "rest_below_dbfs": self.config.rest_below_dbfs,
                "resting": listener.resting(),
                "rested_share": round(listener.rested_s / heard, 3) if heard else 0.0}

    def played(self, at: float, pcm24k: bytes) -> None:
        """Answer audio the speaker plays from ``at``: the echo check's reference."""
        self.echo.add(at, pcm24k)

    def flushed(self) -> None:
        self.echo.clear()

    # -- the detector's thread → the loop

    def _detected(self, detection: Detection) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(self._heard, detection)

    def _heard(self, detection: Detection) -> None:
        if self.listener is None:  # closed meanwhile
            return
        if detection.own_voice:
            self.own_voice += 1
            self._observe(Notice("wake_word", {
                "model": detection.model, "probability": detection.probability,
                "echo": detection.echo, "outcome": "ignored: edged's own answer said it"}))
            return
        if self._audio is not None:
            self._audio.live_from(detection.at)
        self._feed(WakeWord(detection.model, detection.probability))
