"""What the demo needs from its devices, whichever they are, and how it times the speaker.

``edged demo`` runs on one of two pairs of devices (``DemoDevices``): PortAudio
over a private PulseAudio server's null sinks (``pulse_audio``), or the
in-memory ones paced by the loop clock (``wav_audio``). Either way the script
speaks into the microphone, waits until it has been heard, and times the
speaker by what it played, not by when the daemon asked:

- when sound started: the speaker's log (``SpeakerLog``), the device's own time
  for each buffer that was not silent (PortAudio's DAC times on the rig);
- when it stopped: the recording of what the speaker played (``Recording``;
  the null sink's monitor on the rig), on the same clock. A barge-in's press
  starts the "listening" chime, found in the recording by its shape, so the
  answer's end is measured before it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from edged.audio.sounds import SoundName, render

if TYPE_CHECKING:
    import asyncio

    from edged.audio.port import AudioCallbacks
    from edged.config import AudioConfig, Config
    from edged.daemon import AudioPort

LOUD = 100  # |sample| above this (−50 dBFS) is sound; the rig's silence stays under 4
WINDOW_S = 0.5  # how long after a press a stopped sound may still be heard
MATCH = 0.8  # a feedback sound is found where its rendering correlates this well
GAP_S = 0.005  # this much quiet ends a sound (a stream restarting leaves more)


class SpeakerLog:
    """Every buffer the speaker played that was not silent: ``played(handed, start,
    end)`` for a buffer handed to the device at ``handed`` that sounds from ``start``
    to ``end`` (monotonic s); and ``aborted(at)``, a barge-in's abort, when the device
    dropped what it held and its stream restarted. Written from PortAudio's thread,
    read on the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._played: deque[tuple[float, float, float]] = deque(maxlen=16384)
        self._aborts: deque[float] = deque(maxlen=256)
        self._first: float | None = None

    def aborted(self, at: float) -> None:
        with self._lock:
            self._aborts.append(at)

    def abort_after(self, t: float) -> float | None:
        """The first abort at or after ``t`` (None: none)."""
        with self._lock:
            return next((a for a in self._aborts if a >= t), None)

    def played(self, handed: float, start: float, end: float) -> None:
        with self._lock:
            self._played.append((handed, start, end))
            if self._first is None:
                self._first = start

    def _snapshot(self) -> list[tuple[float, float, float]]:
        with self._lock:
            return list(self._played)

    @property
    def first(self) -> float | None:
        """When the speaker first sounded (None: not yet)."""
        return self._first

    def audible_from(self, after: float) -> float | None:
        """When the speaker first sounded after ``after`` (None: not yet)."""
        return next((max(after, start) for _handed, start, end in self._snapshot()
                     if end > after), None)


@dataclass(frozen=True, slots=True)
class Recording:
    """What the speaker played so far: mono samples at ``rate``, the first at ``t0``
    (monotonic s)."""

    samples: npt.NDArray[np.int16]
    rate: int
    t0: float

    @property
    def end(self) -> float:
        return self.t0 + len(self.samples) / self.rate

    def silent_after(self, pressed: float, until: float) -> float:
        """When the speaker fell silent after a press at ``pressed``: just after the last
        sound in [pressed, until) (``until``: when something new started); ``pressed``
        if there was none."""
        a = max(0, int((pressed - self.t0) * self.rate))
        b = max(a, int((until - self.t0) * self.rate))
        loud = np.flatnonzero(np.abs(self.samples[a:b].astype(np.int32)) > LOUD)
        if not len(loud):
            return pressed
        return self.t0 + (a + int(loud[-1]) + 1) / self.rate


    def quiet_from(self, since: float, past: float, end: float) -> float | None:
        """Where the first ``GAP_S`` of quiet after ``since`` that lasts beyond ``past``
        begins, looking no later than ``end`` (None: sound all along)."""
        gap = int(GAP_S * self.rate)
        a = max(0, int((since - self.t0) * self.rate))
        b = max(a, int((end - self.t0) * self.rate))
        p = int((past - self.t0) * self.rate)
        quiet = (np.abs(self.samples[a:b].astype(np.int32)) <= LOUD).astype(np.int8)
        # runs of quiet: where each begins and ends
        edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet, [0]))))
        for begin, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - begin >= gap and a + stop > p:
                return self.t0 + (a + int(begin)) / self.rate
        return None

    def onset(self, name: SoundName, start: float, end: float) -> float | None:
        """Where the feedback sound ``name`` begins between ``start`` and ``end``: the
        best match of its rendering (normalised cross-correlation; None if none fits)."""
        template = render(name, self.rate, 1.0).astype(np.float64)
        a = max(0, int((start - self.t0) * self.rate))
        b = min(len(self.samples), int((end - self.t0) * self.rate) + len(template))
        seg = self.samples[a:b].astype(np.float64)
        m = len(template)
        if len(seg) < m:
            return None
        size = 1 << (len(seg) + m).bit_length()
        corr = np.fft.irfft(np.fft.rfft(seg, size) * np.conj(np.fft.rfft(template, size)),
                            size)[: len(seg) - m + 1]
        power = np.concatenate(([0.0], np.cumsum(seg * seg)))
        windows = np.sqrt(np.maximum(power[m:] - power[:-m], 1e-9)) * np.linalg.norm(template)
        score = corr / windows
        best = int(np.argmax(score))
        return self.t0 + (a + best) / self.rate if score[best] > MATCH else None


async def silence(devices: DemoDevices, pressed: float, stopped: float,
                  then: SoundName | None = None) -> float:
    """When the speaker fell silent after a press at ``pressed`` (the daemon stopped the
    sound at ``stopped``), measured on the recording within ``WINDOW_S``:

    - after a barge-in's abort, the device drops what it held and restarts: silent
      where the first ``GAP_S`` of quiet reaching past the abort begins (what the
      server had already taken plays out first);
    - else just after the last sound before the feedback sound ``then`` that the
      press starts (the barge-in's "listening", found by its shape), or in the window.
    """
    import asyncio
    import time

    deadline = time.monotonic() + 10.0
    while (rec := devices.recorded()) is None or rec.end < pressed + WINDOW_S:
        if time.monotonic() > deadline:
            raise TimeoutError("the speaker's recording did not reach the press")
        await asyncio.sleep(0.05)
    until = pressed + WINDOW_S
    if then is not None:
        # it may start before the press on the in-memory speaker, which plays in arrears
        began = rec.onset(then, pressed - 0.05, pressed + WINDOW_S)
        if began is not None:
            until = max(pressed, began)
    abort = devices.speaker.abort_after(stopped)
    if abort is not None and abort < until:
        quiet = rec.quiet_from(pressed, abort, until)
        if quiet is not None:
            return quiet
    return rec.silent_after(pressed, until)


class DemoDevices(Protocol):
    """A microphone the script speaks into and a speaker it listens to."""

    kind: str  # "pulse" or "memory": the JSON's ``audio``
    label: str  # what the first line of the demo says about them
    speaker: SpeakerLog

    def audio_config(self, base: AudioConfig) -> AudioConfig:
        """The daemon's ``audio`` section for these devices."""

    def factory(self, config: Config, loop: asyncio.AbstractEventLoop,
                callbacks: AudioCallbacks) -> AudioPort:
        """The daemon's audio engine (its ``audio_factory``)."""

    async def warm(self) -> float | None:
        """Wait until both streams run; the seconds that took (None: nothing to wait for)."""

    def speak(self, pcm: bytes) -> None:
        """Say this (24 kHz mono PCM16) into the microphone, starting now."""

    async def spoken(self) -> None:
        """Until everything said has reached the microphone."""

    def recorded(self) -> Recording | None:
        """What the speaker played so far, on the loop's clock (None: not known yet)."""

    def recording(self) -> bytes:
        """What the speaker played (24 kHz mono PCM16), once the daemon has stopped."""
