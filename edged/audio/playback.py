"""The playback side: answer audio → jitter buffer → PortAudio output callback.

Answer deltas are converted on the loop, once, all the way to the device's
format (rate, gain, channels), with one resampler stream per answer item so
chunk edges are seamless. The output callback then only slices bytes off the
:class:`~edged.audio.buffers.PlayQueue`; it touches numpy only while a
feedback sound is being mixed in, and when nothing plays it returns a prebuilt
silent buffer without taking a lock.

Barge-in must silence the speaker at once, but the device already holds two
output buffers that PortAudio cannot take back while the stream runs. So when
the engine gives an ``abort`` function, :meth:`flush` calls it: the engine
aborts the stream from a thread of its own (``Pa_AbortStream``), PortAudio
discards the device's buffer (``snd_pcm_drop``) within about a millisecond,
whatever the buffer size, reports back through :meth:`aborted`, and restarts the
stream. Without one (tests driving the callback by hand) the device's buffer
plays out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from edged.audio.buffers import Int16, PlayQueue
from edged.audio.convert import PlaybackConverter
from edged.audio.devices import MODEL_RATE, StreamFormat
from edged.audio.portaudio import CONTINUE, OUTPUT_UNDERFLOW
from edged.audio.sounds import SOUND_NAMES, SoundMixer, SoundName, render, sound_level
from edged.config import AudioConfig

log = logging.getLogger("edged.audio")

ECHO_TAIL_S = 0.2  # half duplex: the mic stays closed this long after the speaker stops
_MAX_FILL = 8  # buffers of silence at most while a (re)started stream warms up
_MS = 1000


class Playback:
    """Speaker audio: jitter buffer, per-item accounting, volume and sounds.

    ``on_drained`` is called from PortAudio's thread when queued answer audio
    has finished; the engine passes a function that hops to the loop.
    """

    def __init__(self, cfg: AudioConfig, on_drained: Callable[[], None],
                 clock: Callable[[], float] = time.monotonic, *,
                 abort: Callable[[], None] | None = None,
                 on_aborted: Callable[[], None] | None = None) -> None:
        self.cfg = cfg
        self._on_drained = on_drained
        #: Asked by :meth:`flush` to drop the device's buffer now (returns at once).
        self._request_abort = abort
        #: Called from the aborting thread once the device's buffer was dropped.
        self.on_aborted = on_aborted
        self._clock = clock
        self._lock = threading.Lock()  # the callback holds it only to slice and mix
        self.rate = MODEL_RATE
        self.channels = 1
        self.latency = 0.0  # the stream's output latency, seconds
        self.level = 1.0  # the spoken volume's scale (0–1) on audio.volume and sounds
        self._conv = PlaybackConverter(MODEL_RATE, cfg.volume)
        self.queue = self._new_queue(MODEL_RATE, 1)
        self._item: str | None = None  # the item whose resampler stream is open
        self._mixer = SoundMixer()
        self._sounds: dict[SoundName, Int16] = {}
        self._silence: dict[int, bytes] = {}
        self.underflows = 0
        self.last_callback = 0.0
        self.echo_until = 0.0  # the last answer audio is out of the room by then
        self._errors = 0
        self._dropping = False  # an abort was asked for and has not happened yet
        self._frames = 0  # frames per output buffer, as the device last asked
        self.aborts = 0
        self.aborted_at = 0.0  # when the device's buffer was last discarded
        self._warming = True  # see starting()
        self._prev_callback = 0.0
        self._fill = 0

    def _new_queue(self, rate: int, channels: int) -> PlayQueue:
        cfg = self.cfg
        return PlayQueue(rate, 2 * channels, prebuffer=cfg.playback_prebuffer_ms * rate // _MS,
                         capacity=int(cfg.playback_max_s * rate))

    def configure(self, fmt: StreamFormat, latency: float) -> None:
        """Get ready for a freshly opened device (before its stream starts).

        Queued audio survives a reopen in the same format; in another it is
        dropped (it was converted for the old device).
        """
        with self._lock:
            if (fmt.rate, fmt.channels) != (self.rate, self.channels):
                self.queue.flush()
                self.queue = self._new_queue(fmt.rate, fmt.channels)
                self._item = None
                self._mixer.clear()
            if fmt.rate != self.rate:
                self._conv = PlaybackConverter(fmt.rate, self._conv.gain)
                self._sounds.clear()
            self.rate = fmt.rate
            self.channels = fmt.channels
            self.latency = latency
            self._silence.clear()
            self.last_callback = 0.0
            self._dropping = False
        self.starting()

    def starting(self) -> None:
        """The stream is about to (re)start: play silence until the device runs.

        PortAudio first fills the device's whole buffer in quick succession, before
        the device clock runs; the pulse plugin can lose that fill (measured: the
        first 60–80 ms of an answer missing after a restart). So the callbacks give
        silence until one comes at least half a buffer after the previous one (or,
        on a device that is not paced at all, for at most ``_MAX_FILL`` buffers).
        """
        self._warming = True
        self._prev_callback = 0.0
        self._fill = 0

    # -- answer audio (loop thread)

    def _device_bytes(self, mono: Int16) -> bytes:
        ch = self.channels
        if ch == 1:
            return mono.tobytes()
        return np.repeat(mono, ch).tobytes()

    def play(self, item_id: str, pcm24k: bytes) -> float:
        now = self._clock()
        if self._item is not None and item_id != self._item:
            self._finish_item(self._item)
        data = self._device_bytes(self._conv.process(pcm24k))
        self._item = item_id
        with self._lock:
            q = self.queue
            ahead = q.push(item_id, data)
            wait = max(0, q.prebuffer - q.queued) if q.state == "buffering" else 0
        if ahead is None:  # a flushed item: the server is still sending what was cancelled
            self._item = None
            self._conv.reset()
            return now
        return now + (ahead + wait) / self.rate + self.latency

    def end_of_answer(self, item_id: str) -> bool:
        """No more audio for the item; True if nothing is left to play."""
        if item_id == self._item:
            self._finish_item(item_id)
            self._item = None
        with self._lock:
            self.queue.end(item_id)
            return self.queue.state == "idle"

    def _finish_item(self, item_id: str) -> None:
        tail = self._device_bytes(self._conv.process(b"", last=True))
        with self._lock:
            self.queue.push(item_id, tail)
            self.queue.end(item_id)

    def flush(self) -> dict[str, int]:
        """Drop queued answer audio; ms heard per item touched.

        With an abort function, audio still on its way to the speaker is
        discarded now, so what is heard is what reached it by now; otherwise it
        all plays out.
        """
        now = self._clock()
        request = self._request_abort
        drop = False
        with self._lock:
            q = self.queue
            heard = q.flush()
            if request is not None and q.sounding_until() > now and self._frames:
                drop = self._dropping = True
                heard = {item: min(n, q.heard(item, now)) for item, n in heard.items()}
        self._conv.reset()
        self._item = None
        if drop and request is not None:
            request()
        return {item: n * _MS // self.rate for item, n in heard.items()}

    def played_ms(self, item_id: str) -> int:
        now = self._clock()
        with self._lock:
            return self.queue.heard(item_id, now) * _MS // self.rate

    def started(self, item_id: str) -> tuple[float, float] | None:
        with self._lock:
            return self.queue.started(item_id)

    @property
    def is_playing(self) -> bool:
        return self.queue.state != "idle"

    def busy(self, now: float) -> bool:
        """Is anything playing or about to (answer, sound, audio still in the device)?"""
        return (self.queue.state != "idle" or self._mixer.active or self._dropping
                or self.queue.sounding_until() > now)

    def forget(self) -> None:
        """The stream was stopped (standby): nothing is in flight any more."""
        with self._lock:
            self._dropping = False
            self.queue.drop_in_flight(self._clock())

    def reconfigure(self, cfg: AudioConfig) -> None:
        """A config whose sizes are unchanged (the engine checks): sounds are
        rendered again at their new level when next played."""
        if cfg.sounds_volume != self.cfg.sounds_volume:
            self._sounds.clear()
        self.cfg = cfg
        self.volume = cfg.volume * self.level

    @property
    def volume(self) -> float:
        return self._conv.gain

    @volume.setter
    def volume(self, gain: float) -> None:
        self._conv.gain = max(0.0, min(4.0, float(gain)))

    def set_level(self, level: float) -> None:
        """The spoken volume (0–1, already on its curve): scales ``audio.volume`` for
        answer audio queued from now on, and every sound played from now on."""
        self.level = max(0.0, min(1.0, float(level)))
        self.volume = self.cfg.volume * self.level
        self._sounds.clear()  # no sound is kept at an old level

    def sound(self, name: SoundName) -> None:
        """A feedback sound; ``audio.sounds: false`` silences all but the alarm."""
        if name not in SOUND_NAMES or (not self.cfg.sounds and name != "alarm"):
            return
        samples = self._sounds.get(name)
        if samples is None:
            samples = self._sounds[name] = render(
                name, self.rate, sound_level(name, self.cfg.sounds_volume, self.level))
        with self._lock:
            self._mixer.start(samples)

    def stop_sounds(self) -> None:
        """Silence every sound now (an alarm that was stopped mid-pattern)."""
        with self._lock:
            self._mixer.clear()

    def speaking(self, now: float) -> bool:
        """Is answer audio playing, or its echo still in the room? (half duplex)"""
        return self.queue.state != "idle" or now < self.echo_until

    # -- PortAudio's thread: keep it short

    def callback(self, _data: bytes | None, frame_count: int, time_info: dict[str, float],
                 status: int) -> tuple[bytes, int]:
        now = self._clock()
        self.last_callback = now
        self._frames = frame_count
        if status & OUTPUT_UNDERFLOW:
            self.underflows += 1
        if self._warming:
            prev, self._prev_callback = self._prev_callback, now
            self._fill += 1
            if self._fill <= _MAX_FILL and (not prev or now - prev < frame_count / self.rate / 2):
                return self._silent(frame_count), CONTINUE
            self._warming = False
        queue = self.queue
        if queue.state == "idle" and not self._mixer.active:
            return self._silent(frame_count), CONTINUE
        try:
            lag = time_info.get("output_buffer_dac_time", 0.0) - time_info.get("current_time", 0.0)
            if not 0.0 <= lag < 2.0:
                lag = self.latency
            dac = now + lag  # when this buffer's first frame reaches the speaker
            with self._lock:
                data, pulled = queue.pull(frame_count, dac, now)
                if self._mixer.active:
                    frames = np.frombuffer(data, np.int16).reshape(frame_count, self.channels)
                    mixed = frames.copy()
                    self._mixer.mix_into(mixed)
                    data = mixed.tobytes()
            if pulled.audio:
                self.echo_until = dac + frame_count / self.rate + ECHO_TAIL_S
            if pulled.drained:
                self._on_drained()
            return data, CONTINUE
        except Exception:  # an exception would abort the stream: log it, play silence
            self._errors += 1
            if self._errors <= 3:
                log.exception("output callback failed (playback continues)")
            return self._silent(frame_count), CONTINUE

    # -- the engine's aborting thread

    def aborted(self, now: float) -> None:
        """The stream was aborted (:meth:`flush`): nothing is in the device any more."""
        with self._lock:
            self._dropping = False
            self.queue.drop_in_flight(now)
        self.aborts += 1
        self.aborted_at = now
        self.echo_until = now + ECHO_TAIL_S
        handler = self.on_aborted
        if handler is not None:
            handler()

    def abort_failed(self) -> None:
        """No abort happened (the stream was stopped or closed meanwhile)."""
        self._dropping = False

    def _silent(self, frame_count: int) -> bytes:
        silence = self._silence.get(frame_count)
        if silence is None:
            silence = self._silence[frame_count] = bytes(frame_count * self.channels * 2)
        return silence
