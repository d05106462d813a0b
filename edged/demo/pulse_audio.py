"""``edged demo`` on real PortAudio: the PyAudio engine over a private PulseAudio server.

Where PulseAudio is installed, the demo starts the rig that the end-to-end tests
and ``scripts/bench`` use (``edged.rig.pulse``): a private server with a null
sink for a speaker (``edged_spk``) and one whose monitor is the microphone
(``edged_mic``). The daemon opens them by name through PortAudio and ALSA's
pulse plugin, exactly as it opens a USB speaker, with the stock engine
(``edged.audio.port.pyaudio_engine``). The script speaks into the microphone by
playing the demo's recordings into it (``pacat``) and records the speaker's
monitor (``parec``) for the ``--out`` WAV.

The speaker is timed as it played: an answer is "heard" when PortAudio says its
first sample reaches the sink (the DAC time it gives each buffer; on this rig
it matches the monitor's recording to about a millisecond), and a sound stopped
when the monitor's recording falls silent, PulseAudio's own buffering included
(a barge-in's abort drops what PortAudio holds, not what the server already
took).

An idle null sink renders in 2 s blocks, so streams opened on it start only at
the next block (1.5–2 s). :meth:`PulseDevices.warm` waits that out before the
first scene and reports it apart: no scene's figure includes it, and with
``audio.standby_after_s: 0`` the streams never stop, so it does not come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edged import pcm
from edged.audio.port import EnginePort
from edged.demo.speaker import Recording, SpeakerLog

if TYPE_CHECKING:
    from edged.audio.port import AudioCallbacks
    from edged.config import AudioConfig, Config
    from edged.rig.pulse import PulseRig

LABEL = "PortAudio over a private PulseAudio server (null sinks)"
WARM_TIMEOUT_S = 15.0  # the null sink's first block is 2 s; a loaded machine takes longer
STEADY_S = 0.2  # both streams' callbacks running this long: warm
ANCHOR = 8  # |sample| above the rig's silence (≤ 3): the first sound's onset
_POLL_S = 0.005


class TimedPort(EnginePort):
    """The stock PyAudio engine, with the speaker's timing reported to the demo.

    Its output callback is wrapped (before the streams open, as ``scripts/bench``
    does) to log when each buffer that is not silent sounds, and each abort;
    answer items are polled for the moment their first sample reached the sink.
    """

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop,
                 callbacks: AudioCallbacks, speaker: SpeakerLog,
                 on_first_played: Callable[[str, float], None]) -> None:
        super().__init__(config, loop, callbacks)
        self._loop = loop
        self._on_first_played = on_first_played
        self._pending: dict[str, float] = {}  # answer item → when it was queued
        self._seen: set[str] = set()  # items already polled for
        self._poller: asyncio.Task[None] | None = None
        playback: Any = self.engine._playback  # the demo's probe, as scripts/bench does
        self.playback = playback
        inner = playback.callback

        def timed(data: bytes | None, frames: int, info: dict[str, float],
                  status: int) -> tuple[bytes, int]:
            handed = time.monotonic()
            out, flag = inner(data, frames, info, status)
            if out.count(0) != len(out):
                lag = info.get("output_buffer_dac_time", 0.0) - info.get("current_time", 0.0)
                if not 0.0 <= lag < 2.0:
                    lag = playback.latency
                start = handed + lag
                speaker.played(handed, start, start + frames / playback.rate)
            return out, flag

        playback.callback = timed
        aborted = playback.on_aborted

        def timed_abort() -> None:  # a barge-in: PortAudio dropped what the device held
            speaker.aborted(time.monotonic())
            if aborted is not None:
                aborted()

        playback.on_aborted = timed_abort

    async def start(self) -> None:
        await super().start()
        self._poller = self._loop.create_task(self._poll(), name="demo-first-played")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await super().stop()

    def play(self, item_id: str, pcm: bytes) -> float:
        if item_id not in self._seen:  # its first delta
            self._seen.add(item_id)
            self._pending[item_id] = self._loop.time()
        return super().play(item_id, pcm)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(_POLL_S if self._pending else 0.02)
            for item, queued in list(self._pending.items()):
                started = self.engine.output_started(item)
                if started is not None:
                    del self._pending[item]
                    self._on_first_played(item, started[1])  # (handed, reaches the sink)
                elif self._loop.time() - queued > 30.0:  # flushed before a sample played
                    del self._pending[item]


class PulseDevices:
    """The rig's microphone and speaker, for the daemon's PyAudio engine (a
    ``DemoDevices``). Use :func:`pulse_devices`."""

    kind = "pulse"
    label = LABEL

    def __init__(self, rig: PulseRig, on_first_played: Callable[[str, float], None]) -> None:
        from edged.rig.pulse import RATE

        self.rig = rig
        self.speaker = SpeakerLog()
        self._rate = RATE
        self._on_first_played = on_first_played
        self.port: TimedPort | None = None
        # everything the speaker plays, from before the daemon starts
        self._raw = rig.base / "speaker.raw"
        self._recorder = rig.record_speaker(self._raw, channels=2)
        self._recorded: bytes | None = None  # all of it, once parec has stopped
        self._read = bytearray()  # what has been read of it while it records
        self._t0: float | None = None  # when the recording's first sample played

    def audio_config(self, base: AudioConfig) -> AudioConfig:
        import dataclasses

        from edged.rig.pulse import MIC, SPEAKER

        # standby off: stopped streams would meet the idle sink's stall again
        return dataclasses.replace(base, input_device=MIC, output_device=SPEAKER,
                                   standby_after_s=0)

    def factory(self, config: Config, loop: asyncio.AbstractEventLoop,
                callbacks: AudioCallbacks) -> TimedPort:
        self.port = TimedPort(config, loop, callbacks, self.speaker, self._on_first_played)
        return self.port

    async def warm(self) -> float:
        """Until both streams' callbacks have run steadily for ``STEADY_S``: the idle
        null sink's first block. Raises TimeoutError if they never do."""
        assert self.port is not None, "the daemon has not started its audio yet"
        began = time.monotonic()
        steady_since: float | None = None
        while True:
            now = time.monotonic()
            stats = self.port.engine.stats
            running = (stats.state == "running"
                       and now - stats.last_input_callback < 0.1
                       and now - stats.last_output_callback < 0.1)
            if not running:
                steady_since = None
            elif steady_since is None:
                steady_since = now
            elif now - steady_since >= STEADY_S:
                return steady_since - began
            if now - began > WARM_TIMEOUT_S:
                raise TimeoutError(
                    f"the rig's audio streams did not start within {WARM_TIMEOUT_S:g} s "
                    f"(engine {stats.state}); try --audio memory")
            await asyncio.sleep(0.02)

    def speak(self, pcm_bytes: bytes) -> None:
        self.rig.feed_mic(pcm_bytes, rate=pcm.RATE, channels=1, background=True)

    async def spoken(self) -> None:
        # pacat exits once the server has played all of it into the microphone's sink
        await asyncio.to_thread(self.rig.wait_fed, 60.0)

    def _monitor(self) -> npt.NDArray[np.int16]:
        """The speaker's monitor so far (left channel, 48 kHz), read as parec writes it."""
        if self._recorded is None:
            with self._raw.open("rb") as f:
                f.seek(len(self._read))
                self._read += f.read()
        raw = self._read if self._recorded is None else self._recorded
        return np.frombuffer(bytes(raw[: len(raw) // 4 * 4]), dtype="<i2")[::2]

    def recorded(self) -> Recording | None:
        """The monitor on the loop's clock: its first sound is the first buffer the
        speaker's log has (PortAudio's DAC time for it), which places every sample."""
        samples = self._monitor()
        if self._t0 is None:
            first = self.speaker.first
            onset = np.flatnonzero(np.abs(samples.astype(np.int32)) > ANCHOR)
            if first is None or not len(onset):
                return None
            self._t0 = first - int(onset[0]) / self._rate
        return Recording(samples, self._rate, self._t0)

    def stop_recording(self) -> None:
        if self._recorded is None:
            self._recorded = self._recorder.stop()

    def recording(self) -> bytes:
        """The speaker's monitor (48 kHz stereo) as 24 kHz mono, like the answers."""
        import soxr

        self.stop_recording()
        left = self._monitor()
        if not len(left):
            return b""
        mono = soxr.resample(left.copy(), self._rate, pcm.RATE)
        return np.asarray(mono, dtype="<i2").tobytes()


def unavailable() -> str | None:
    """Why the demo cannot run on PulseAudio here (None: it can try)."""
    from edged.rig.pulse import have_pulseaudio

    if not have_pulseaudio():
        return ("pulseaudio, pactl, pacmd, pacat or parec is not installed; scripts/setup "
                "installs them")
    try:
        import pyaudio  # noqa: F401
    except ImportError as exc:
        return f"PyAudio cannot be imported: {exc}"
    return None


def _probe() -> None:
    """PortAudio must list both of the rig's devices (ALSA's pulse plugin is what
    makes them visible); raises AudioError naming what is missing."""
    from edged.audio.portaudio import PortAudio
    from edged.rig.pulse import MIC, SPEAKER

    pa = PortAudio()
    try:
        pa.resolve(MIC, "input", "auto", "auto")
        pa.resolve(SPEAKER, "output", "auto", "auto")
    finally:
        pa.terminate()


@contextlib.contextmanager
def pulse_devices(on_first_played: Callable[[str, float], None]) -> Iterator[PulseDevices]:
    """Start the rig and point this process at it (PortAudio reads the environment when
    it initialises); stop it (by its PID) and remove its files on exit.

    Raises RuntimeError/OSError/AudioError when the rig cannot be had: the caller
    falls back to the in-memory devices, saying why.
    """
    from edged.rig.pulse import pulse_env, pulse_rig

    base = Path(tempfile.mkdtemp(prefix="edged-demo-pulse-"))
    try:
        with pulse_rig(base) as rig, pulse_env(rig):
            _probe()
            devices = PulseDevices(rig, on_first_played)
            try:
                yield devices
            finally:
                devices.stop_recording()
    finally:
        shutil.rmtree(base, ignore_errors=True)
