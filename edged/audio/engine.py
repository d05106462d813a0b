"""The audio engine: capture and playback on one asyncio loop, kept alive.

Threads and who owns what:

- PortAudio's callback threads run :meth:`Capture.callback` and
  :meth:`Playback.callback`: they only move bytes through lock-protected
  buffers (conversion happens on the loop), never wait on the loop, and wake it
  at most once per uplink batch.
- One worker thread makes every blocking PortAudio call (initialise, open,
  start, stop, close, terminate), in order, so the loop never waits on a device.
- A barge-in aborts the output stream from a short-lived thread of its own:
  ``Pa_AbortStream`` joins PortAudio's callback thread, so it may not run on the
  loop, and it must not queue behind the worker. A lock keeps it and the
  worker's calls one at a time.
- The loop owns the rest: the public methods, and the supervisor that notices
  a vanished or stalled device and reopens it with backoff after re-creating
  PortAudio (which has no hotplug), reporting each step through ``on_status``.

Standby: open streams cost CPU even in silence (PortAudio's threads and the
ALSA plugin wake every buffer), so after ``standby_after_s`` with nobody
talking and nothing playing the supervisor stops them (they stay open), and
the next uplink, answer or sound starts them again in a few milliseconds.
While a raw tap listens (the wake word) standby is per direction: only the
speaker sleeps, and the microphone keeps running (and being supervised).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from edged.audio.capture import Capture, FramesHandler, RawTap
from edged.audio.devices import MODEL_RATE, AudioError, Direction, StreamFormat
from edged.audio.playback import Playback
from edged.audio.portaudio import Callback, PortAudio, abort_stream
from edged.audio.sounds import SoundName
from edged.audio.status import (
    AudioStats,
    AudioStatus,
    EngineState,
    StatusKind,
    reopen_delay,
    stalled,
)
from edged.config import AudioConfig

log = logging.getLogger("edged.audio")

T = TypeVar("T")
StatusHandler = Callable[[AudioStatus], None]

OP_TIMEOUT_S = 15.0  # a PortAudio call taking longer than this has hung
STANDBY_TICK_S = 5.0
_MS = 1000
_NAMES = {"input": "microphone", "output": "speaker"}

IN_PLACE_KEYS = frozenset({
    "volume", "sounds", "sounds_volume", "half_duplex", "uplink_batch_ms", "standby_after_s",
    "stall_timeout_s", "reopen_backoff_cap_s",
})
"""Audio keys a running engine takes as they are; any other change means reopening the
devices (device, rate, channels, periods, pre-roll and buffer sizes, processing)."""


def needs_reopen(old: AudioConfig, new: AudioConfig) -> bool:
    """Does going from ``old`` to ``new`` need the devices reopened?"""
    return any(getattr(old, f.name) != getattr(new, f.name)
               for f in dataclasses.fields(old) if f.name not in IN_PLACE_KEYS)


@dataclass(slots=True)
class _Open:
    """The PortAudio instance and the streams of one open cycle."""

    pa: PortAudio
    inp: Any = None
    out: Any = None
    in_fmt: StreamFormat | None = None
    out_fmt: StreamFormat | None = None
    opened_at: float = 0.0
    out_since: float = 0.0  # the speaker alone restarted (out of a per-direction standby)
    failures: tuple[str, ...] = ()


class AudioEngine:
    """The microphone and the speaker, as the daemon sees them.

    Capture: while the uplink is open (:meth:`open_uplink`), ``on_frames(pcm,
    t)`` receives 24 kHz mono PCM16 in whole ``frame_ms`` frames,
    ``uplink_batch_ms`` at a time, ``t`` being the capture time (monotonic s) of
    its last sample (what latency is measured from). It runs on the loop, and
    also inside :meth:`open_uplink`, :meth:`flush_uplink` and
    :meth:`close_uplink` for audio already captured, so audio always arrives in
    order and complete.

    Playback: :meth:`play` queues answer audio per item; :meth:`flush` stops it
    (barge-in) and says how much of each item was played.
    """

    def __init__(self, cfg: AudioConfig, loop: asyncio.AbstractEventLoop,
                 on_frames: FramesHandler, on_status: StatusHandler, *,
                 on_idle: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.on_status = on_status
        #: Called on the loop when answer playback has drained, or was dropped
        #: because the speaker vanished.
        self.on_idle = on_idle
        self._loop = loop
        self._clock = clock
        self._playback = Playback(cfg, self._drained_from_thread, clock,
                                  abort=self._abort_output,
                                  on_aborted=self._aborted_from_thread)
        self._ops = threading.Lock()  # one PortAudio call at a time: the worker's or an abort
        self._capture = Capture(cfg, on_frames, self._call_soon_threadsafe, self._mic_gate,
                                clock)
        self._state: EngineState = "stopped"
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._open: _Open | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._reopen_count = 0
        self._retry_at = 0.0
        self._attempt = 0
        self._last_problem = ""
        self._restarting: asyncio.Task[None] | None = None  # the output stream, after a barge-in
        self._waking: asyncio.Task[None] | None = None  # out of standby
        self._mic_sleeps = False  # in standby: did the input stream stop too?
        self._active_at = clock()  # the last moment something was heard or played

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, strict: bool = False) -> None:
        """Open the devices and start watching them.

        A device that cannot be opened is reported (``unavailable``) and retried
        in the background, so a USB device plugged in later is picked up. With
        ``strict``, a failure raises :class:`AudioError` instead (its message is
        fit for the user: for a missing device it lists the ones present).
        """
        if self._state != "stopped":
            return
        self._state = "starting"
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="edged-audio")
        try:
            await self._open_streams(strict=strict)
        except AudioError as exc:
            if strict:
                await self._shutdown_executor(wait=True)
                self._state = "stopped"
                raise
            self._state = "recovering"
            self._note_unavailable(str(exc), 0)
        except TimeoutError:
            self._wedged("opening the audio devices")
            return
        self._supervisor = self._loop.create_task(self._supervise(), name="edged-audio")

    async def stop(self) -> None:
        """Stop the streams (before closing them), terminate PortAudio. Idempotent."""
        if self._state == "stopped":
            return
        wedged = self._state == "wedged"
        for task in (self._waking, self._restarting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if not wedged:
            try:
                await self._close_streams()
            except TimeoutError:
                wedged = True
        await self._shutdown_executor(wait=not wedged)
        self._capture.stop()
        self._state = "stopped"
        self._report("stopped", "audio stopped")

    async def _shutdown_executor(self, wait: bool) -> None:
        ex, self._executor = self._executor, None
        if ex is None:
            return
        if wait:
            await asyncio.to_thread(ex.shutdown, wait=True)
        else:  # a thread is stuck inside PortAudio: leave it behind
            ex.shutdown(wait=False, cancel_futures=True)

    def reconfigure(self, cfg: AudioConfig) -> bool:
        """Take ``cfg`` in place when no device needs reopening (volume, sounds,
        half-duplex, batching, timings); False: nothing changed, the caller must
        stop this engine and start one with ``cfg``."""
        if needs_reopen(self.cfg, cfg):
            return False
        self.cfg = cfg
        self._capture.reconfigure(cfg)
        self._playback.reconfigure(cfg)
        return True

    @property
    def state(self) -> EngineState:
        return self._state

    def alive(self, now: float | None = None) -> bool:
        """Is the audio path alive, or knowingly recovering? (for the watchdog)

        False when stopped, when PortAudio hung inside a call, or when a running
        stream's callbacks stopped and even the supervisor did not notice.
        """
        if self._state in ("stopped", "wedged"):
            return False
        op = self._open
        if self._state != "running" or op is None:
            return True
        now = self._clock() if now is None else now
        limit = 3 * self.cfg.stall_timeout_s + 5.0
        lasts = [(op.inp, self._capture.last_callback), (op.out, self._playback.last_callback)]
        return all(now - max(op.opened_at, last) < limit for s, last in lasts if s is not None)

    # ------------------------------------------------------------------ capture

    @property
    def mic_enabled(self) -> bool:
        return self._capture.mic_enabled

    @mic_enabled.setter
    def mic_enabled(self, on: bool) -> None:
        """False mutes the microphone (privacy): captured audio becomes digital
        silence and the pre-roll forgets what it held."""
        self._capture.mic_enabled = on

    @property
    def batch_ms(self) -> int:
        return self._capture.batch_ms

    @batch_ms.setter
    def batch_ms(self, ms: int) -> None:
        """Audio per ``on_frames`` call (whole frames; at least one)."""
        self._capture.batch_ms = ms

    def preroll(self) -> bytes:
        """The newest ``preroll_ms`` of 24 kHz mono audio (what a press would include)."""
        return self._capture.preroll()

    def open_uplink(self, preroll: bool = True, since: float | None = None) -> None:
        """Start delivering captured audio, beginning with the pre-roll (or with what
        was captured from ``since`` on, a monotonic time: a wake word's detection).

        The pre-roll (whole frames of the audio just before this call) joins
        seamlessly with the frames that follow. In standby there is none: the
        microphone starts now.
        """
        self._touch()
        self._capture.open_uplink(preroll, since)

    def flush_uplink(self) -> None:
        """Deliver everything captured so far now (the last partial frame too)."""
        self._capture.flush_uplink(close=False)

    def close_uplink(self) -> None:
        """Deliver the rest now and stop delivering (push-to-talk release)."""
        self._capture.flush_uplink(close=True)

    def after_next_buffer(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the loop once the microphone buffer being captured now has
        arrived, so the audio up to this moment is in; at once if the microphone is
        not running, and at the latest after one and a half periods (a late device).
        """
        op = self._open
        mic_runs = self._state in ("running", "degraded") or (
            self._state == "standby" and not self._mic_sleeps)
        if op is None or op.inp is None or not mic_runs:
            self._loop.call_soon(fn)
            return
        done = False

        def once() -> None:
            nonlocal done
            if not done:
                done = True
                timer.cancel()
                fn()

        timer = self._loop.call_later(self.cfg.frame_ms * 1.5 / _MS + 0.01, once)
        self._capture.after_next_buffer(once)

    @property
    def uplink_open(self) -> bool:
        return self._capture.uplink_open

    @property
    def tap(self) -> RawTap | None:
        return self._capture.tap

    @tap.setter
    def tap(self, tap: RawTap | None) -> None:
        """Hand every raw microphone buffer to ``tap`` too (None: stop). The microphone
        then never sleeps; a stopped one is started now. Without a tap, a microphone
        kept awake for one sleeps again at the next standby (woken now, briefly)."""
        self._capture.tap = tap
        if self._state == "standby" and self._mic_sleeps == (tap is not None):
            self._touch()

    def _mic_gate(self, now: float) -> bool:
        return not (self.cfg.half_duplex and self._playback.speaking(now))

    def _call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing: nothing to hand over
            self._loop.call_soon_threadsafe(fn)

    # ------------------------------------------------------------------ playback

    def play(self, item_id: str, pcm24k: bytes) -> float:
        """Queue answer audio (24 kHz mono PCM16) for ``item_id``.

        Returns when its first sample should reach the speaker (monotonic s).
        Audio for an item that was flushed is ignored.
        """
        self._touch()
        return self._playback.play(item_id, pcm24k)

    def end_of_answer(self, item_id: str) -> None:
        """No more audio for ``item_id``: play its tail without waiting for more."""
        if self._playback.end_of_answer(item_id):
            self._loop.call_soon(self._idle)

    def flush(self) -> dict[str, int]:
        """Barge-in: the speaker goes silent at once, whatever the output period.

        The output stream is aborted from another thread, so PortAudio discards
        the audio the device still holds (about a millisecond), and the stream
        is restarted. Returns, per item touched, the milliseconds heard by then:
        the ``audio_end_ms`` for a truncate.
        """
        return self._playback.flush()

    def played_ms(self, item_id: str) -> int:
        """Milliseconds of ``item_id`` that have reached the speaker by now."""
        return self._playback.played_ms(item_id)

    def output_started(self, item_id: str) -> tuple[float, float] | None:
        """(handed, heard): when ``item_id``'s first sample went to the device and
        when it reached the speaker (monotonic s); None before that."""
        return self._playback.started(item_id)

    @property
    def is_playing(self) -> bool:
        return self._playback.is_playing

    @property
    def volume(self) -> float:
        return self._playback.volume

    @volume.setter
    def volume(self, gain: float) -> None:
        """Software gain (0.0–4.0) for answer audio queued from now on."""
        self._playback.volume = gain

    def sound(self, name: SoundName) -> None:
        """Mix a feedback sound ("listening", "done", "error", "confirm", "alarm") into
        the output. Not while the speaker is lost: it would sound when the speaker is
        back, stale by then, like one sounding when it went (:meth:`_lose`); a ringing
        alarm rings again by itself."""
        op = self._open
        if self._state == "recovering" or (self._state == "degraded"
                                           and (op is None or op.out is None)):
            log.debug("sound %r dropped: the speaker is being reopened", name)
            return
        self._touch()
        self._playback.sound(name)

    def stop_sounds(self) -> None:
        self._playback.stop_sounds()

    def set_level(self, level: float) -> None:
        """The spoken volume's scale (0–1) on audio.volume and the sounds."""
        self._playback.set_level(level)

    def _drained_from_thread(self) -> None:
        self._call_soon_threadsafe(self._idle)

    def _abort_output(self) -> None:
        """Drop what the speaker's device holds, now (from :meth:`flush`)."""
        op = self._open
        if op is None or op.out is None:
            self._playback.abort_failed()
            return
        threading.Thread(target=self._abort_blocking, args=(op, op.out),
                         name="edged-audio-abort", daemon=True).start()

    def _abort_blocking(self, op: _Open, stream: Any) -> None:
        with self._ops:
            if self._open is not op or op.out is not stream:  # closed meanwhile
                self._playback.abort_failed()
                return
            try:
                abort_stream(stream)
            except OSError as exc:  # stopped meanwhile (standby): nothing to drop
                log.debug("speaker: no abort: %s", exc)
                self._playback.abort_failed()
                return
        self._playback.aborted(self._clock())

    def _aborted_from_thread(self) -> None:
        self._call_soon_threadsafe(self._restart_output)

    def _restart_output(self) -> None:
        """After a barge-in's abort: start the output stream again (on the loop)."""
        op = self._open
        if op is None or op.out is None or self._restarting is not None:
            return
        self._restarting = self._loop.create_task(self._restart(op), name="edged-audio-restart")

    async def _restart(self, op: _Open) -> None:
        self._playback.starting()
        try:
            await self._call(op.out.start_stream)  # the abort told PyAudio it stopped
        except (AudioError, OSError) as exc:  # the device went away meanwhile
            log.warning("speaker: restarting after a barge-in failed: %s", exc)
        except TimeoutError:
            self._wedged("restarting the speaker")
        finally:
            self._restarting = None

    def _idle(self) -> None:
        if self.on_idle is not None and not self._playback.is_playing:
            try:
                self.on_idle()
            except Exception:
                log.exception("on_idle handler failed")

    # ------------------------------------------------------------------ standby

    def _touch(self) -> None:
        """Something is to be heard or played: wake the streams if they sleep."""
        self._active_at = self._clock()
        if self._state == "standby" and self._waking is None:
            self._waking = self._loop.create_task(self._wake(), name="edged-audio-wake")

    def _standby_due(self, now: float) -> bool:
        after = self.cfg.standby_after_s
        if not after:
            return False
        if self._capture.uplink_open or self._playback.busy(now):
            self._active_at = now
            return False
        return now - self._active_at >= after

    async def _sleep(self) -> None:
        """Stop both streams (kept open) until something needs them; only the speaker's
        while a tap listens."""
        op = self._open
        assert op is not None
        self._state = "standby"
        self._mic_sleeps = self._capture.tap is None or op.inp is None
        await self._call(functools.partial(self._stop_blocking, op, self._mic_sleeps))
        after = self.cfg.standby_after_s
        if self._mic_sleeps:
            log.info("audio asleep after %g s of quiet (streams stopped)", after)
            self._report("standby", "asleep: streams stopped until the next press or answer")
        else:
            log.info("speaker asleep after %g s of quiet; the microphone keeps listening "
                     "for the wake word", after)
            self._report("standby", "asleep: speaker stopped until the next answer or sound; "
                         "the microphone listens for the wake word", direction="output")

    def _stop_blocking(self, op: _Open, mic: bool = True) -> None:
        """Stop the streams (worker thread); what they held is stale after that."""
        for stream in (op.inp if mic else None, op.out):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.stop_stream()
        if mic:
            self._capture.forget()
        self._playback.forget()

    async def _wake(self) -> None:
        op = self._open
        try:
            if op is None or self._state != "standby":
                return
            self._playback.starting()
            try:
                await self._call(functools.partial(self._start_blocking, op,
                                                   mic=self._mic_sleeps))
            except AudioError as exc:  # a device went away while asleep: reopen it
                log.warning("audio: waking from standby failed: %s; reopening", exc)
                self._report("lost", f"waking from standby failed: {exc}")
                await self._close_streams()
                self._state = "recovering"
                self._attempt = 0
                self._retry_at = self._clock()
                return
            except TimeoutError:
                self._wedged("waking the audio devices")
                return
            now = self._clock()
            if self._mic_sleeps:
                op.opened_at = now
            else:  # the microphone ran all along: only the speaker's stall clock restarts
                op.out_since = now
            self._active_at = now
            self._state = "running"
            self._report("opened", "awake: streams started")
        finally:
            self._waking = None

    # ------------------------------------------------------------------ figures

    @property
    def stats(self) -> AudioStats:
        op = self._open
        cap, play = self._capture, self._playback
        return AudioStats(
            state=self._state,
            input=op.in_fmt if op and op.inp is not None else None,
            output=op.out_fmt if op and op.out is not None else None,
            frames_captured=cap.captured // cap.frame,
            input_overflows=cap.overflows,
            output_underflows=play.underflows,
            playback_underruns=play.queue.underruns,
            playback_dropped_ms=play.queue.dropped * _MS // play.rate,
            reopen_count=self._reopen_count,
            last_input_callback=cap.last_callback,
            last_output_callback=play.last_callback,
            mic_enabled=cap.mic_enabled,
            playing=play.is_playing,
            input_latency=cap.latency,
            output_latency=play.latency,
        )

    # ------------------------------------------------------------------ open / close

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise AudioError("the audio engine is not running")
        return await asyncio.wait_for(
            self._loop.run_in_executor(self._executor, self._locked, fn), OP_TIMEOUT_S)

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._ops:
            return fn()

    async def _open_streams(self, strict: bool = False) -> None:
        """One open cycle: a fresh PortAudio, both devices resolved by name, streams started.

        Opens what it can (a missing microphone need not silence the speaker);
        ``strict`` demands both and raises the first problem instead.
        """
        was_failing = self._state in ("recovering", "degraded")
        try:
            pa = await self._call(functools.partial(PortAudio, alsa_config=self.cfg.alsa_config))
        except OSError as exc:
            raise AudioError(f"cannot initialise PortAudio: {_pa_error(exc)}") from None
        failures: list[str] = []
        try:
            formats = await self._resolve_both(pa, strict, failures)
            op = await self._call(functools.partial(self._open_blocking, pa, formats, failures,
                                                    strict))
            try:
                if op.in_fmt is not None:  # the callbacks are not running yet
                    self._capture.configure(op.in_fmt, float(op.inp.get_input_latency()))
                if op.out_fmt is not None:
                    self._playback.configure(op.out_fmt, float(op.out.get_output_latency()))
                await self._call(functools.partial(self._start_blocking, op))
            except BaseException:
                await self._call(functools.partial(_close_streams, op))
                raise
        except BaseException:
            with contextlib.suppress(Exception):
                await self._call(pa.terminate)
            raise
        op.opened_at = self._clock()
        self._open = op
        if was_failing:
            self._reopen_count += 1
        self._log_opened(op)
        if op.failures:
            self._state = "degraded"
        else:
            self._state = "running"
            self._attempt = 0
            self._last_problem = ""
        parts = [f"{_NAMES[d]} {f.describe()}" for d, f, s in
                 (("input", op.in_fmt, op.inp), ("output", op.out_fmt, op.out))
                 if f is not None and s is not None]
        direction = "both" if op.inp is not None and op.out is not None else \
            "input" if op.inp is not None else "output"
        self._report("opened", ("reopened " if was_failing else "opened ") + "; ".join(parts),
                     direction=direction, reopened=was_failing)
        if op.failures:
            self._note_unavailable("; ".join(op.failures), self._attempt)

    async def _resolve_both(self, pa: PortAudio, strict: bool,
                            failures: list[str]) -> dict[Direction, StreamFormat | None]:
        """Both devices' formats; one that cannot be had is None and its reason is added
        to ``failures`` (raises if ``strict``, or if neither can be had)."""
        formats: dict[Direction, StreamFormat | None] = {"input": None, "output": None}
        errors: list[AudioError] = []
        for direction in ("input", "output"):
            try:
                formats[direction] = await self._call(
                    functools.partial(self._resolve, pa, direction))
            except OSError as exc:  # PortAudio itself failed while listing devices
                errors.append(AudioError(f"cannot list the audio devices: {_pa_error(exc)}"))
                failures.append(str(errors[-1]))
            except AudioError as exc:
                errors.append(exc)
                failures.append(str(exc))
        if errors and (strict or len(errors) == 2):
            raise errors[0] if len(errors) == 1 else AudioError("; ".join(failures))
        return formats

    def _resolve(self, pa: PortAudio, direction: Direction) -> StreamFormat:
        cfg = self.cfg
        if direction == "input":
            return pa.resolve(cfg.input_device, "input", cfg.input_rate, cfg.input_channels)
        return pa.resolve(cfg.output_device, "output", cfg.output_rate, cfg.output_channels)

    def _open_blocking(self, pa: PortAudio, formats: dict[Direction, StreamFormat | None],
                       failures: list[str], strict: bool) -> _Open:
        """Open the streams, not yet started (worker thread; the caller terminates on error)."""
        op = _Open(pa)
        for direction, fmt in formats.items():
            if fmt is None:
                continue
            callback: Callback = (self._capture.callback if direction == "input"
                                  else self._playback.callback)
            ms = self.cfg.frame_ms if direction == "input" else self.cfg.output_period_ms
            try:
                stream = pa.open(fmt, direction, fmt.rate * ms // _MS, callback)
            except OSError as exc:
                failures.append(f"cannot open the {_NAMES[direction]} "
                                f"{fmt.describe()}: {_pa_error(exc)}")
                continue
            if direction == "input":
                op.inp, op.in_fmt = stream, fmt
            else:
                op.out, op.out_fmt = stream, fmt
        if (op.inp is None and op.out is None) or (strict and failures):
            _close_streams(op)
            raise AudioError("; ".join(failures))
        op.failures = tuple(failures)
        return op

    @staticmethod
    def _start_blocking(op: _Open, mic: bool = True) -> None:
        """Start the opened streams (worker thread); ``mic`` False: the speaker's only."""
        for stream in (op.out, op.inp if mic else None):
            if stream is not None:
                try:
                    stream.start_stream()
                except OSError as exc:
                    _close_streams(op)
                    raise AudioError(f"cannot start the audio streams: {_pa_error(exc)}") \
                        from None

    def _log_opened(self, op: _Open) -> None:
        cfg = self.cfg
        if op.inp is not None and op.in_fmt is not None:
            extra = ""
            if cfg.noise_suppression or cfg.auto_gain_dbfs:
                extra = (f", noise suppression {cfg.noise_suppression}, "
                         f"auto gain {cfg.auto_gain_dbfs} dBFS")
            log.info("microphone: %s -> %d Hz mono, %d ms frames%s", op.in_fmt.describe(),
                     MODEL_RATE, cfg.frame_ms, extra)
        if op.out is not None and op.out_fmt is not None:
            log.info("speaker: %s <- %d Hz mono, volume %.2f, %d ms periods, output latency "
                     "%.0f ms", op.out_fmt.describe(), MODEL_RATE, self._playback.volume,
                     cfg.output_period_ms, self._playback.latency * _MS)

    async def _close_streams(self) -> None:
        op, self._open = self._open, None
        if op is not None:
            await self._call(functools.partial(_close_all, op))

    # ------------------------------------------------------------------ supervision

    async def _supervise(self) -> None:
        tick = max(0.1, min(0.5, self.cfg.stall_timeout_s / 4))
        while True:
            # asleep, nothing can be lost and waking is not the supervisor's job: wake rarely
            asleep = self._state == "standby" and self._mic_sleeps
            await asyncio.sleep(STANDBY_TICK_S if asleep else tick)
            try:
                now = self._clock()
                if self._state == "standby" and not self._mic_sleeps:
                    lost = self._find_lost(now, speaker=False)  # the wake word's microphone
                    if lost:
                        await self._lose(lost)
                elif self._state in ("running", "degraded"):
                    lost = self._find_lost(now)
                    if lost:
                        await self._lose(lost)
                    elif self._state == "running" and self._standby_due(now):
                        await self._sleep()
                    elif (self._state == "degraded" and now >= self._retry_at
                          and not self.is_playing and not self.uplink_open):
                        await self._reopen()  # only when no conversation is disturbed
                elif self._state == "recovering" and now >= self._retry_at:
                    await self._reopen()
            except TimeoutError:
                self._wedged("a call to a device")
                return
            except Exception as exc:  # a surprise from PortAudio must not end supervision
                log.exception("audio supervisor: unexpected error")
                if self._open is None:
                    self._state = "recovering"
                    self._attempt += 1
                    self._note_unavailable(f"unexpected error: {exc}", self._attempt)

    def _find_lost(self, now: float, speaker: bool = True) -> list[tuple[Direction, str]]:
        op = self._open
        if op is None:
            return []
        lost: list[tuple[Direction, str]] = []
        timeout = self.cfg.stall_timeout_s
        # after a barge-in the output stream is aborted and restarted: a fresh start
        restarted = max(op.opened_at, op.out_since, self._playback.aborted_at)
        checks: tuple[tuple[Direction, Any, float, float], ...] = (
            ("input", op.inp, self._capture.last_callback, op.opened_at),
            ("output", op.out if speaker else None, self._playback.last_callback, restarted),
        )
        for direction, stream, last, since in checks:
            if stream is None or (direction == "output" and self._restarting is not None):
                continue
            if not _active(stream):
                if direction == "output" and now - restarted < 1.0:
                    continue  # aborted a moment ago; the restart is on its way
                lost.append((direction, "its stream stopped (unplugged or failed)"))
            elif stalled(now, since, last, timeout):
                lost.append((direction, f"no audio from it for over {timeout:g} s"))
        return lost

    async def _lose(self, lost: list[tuple[Direction, str]]) -> None:
        op = self._open
        assert op is not None
        msgs = []
        for d, why in lost:
            fmt = op.in_fmt if d == "input" else op.out_fmt
            msgs.append(f"{_NAMES[d]} {fmt.device.name if fmt else '?'!r} lost: {why}")
        msg = "; ".join(msgs)
        log.warning("%s; reopening", msg)
        self._state = "recovering"
        self._report("lost", msg, direction=lost[0][0] if len(lost) == 1 else "both")
        if any(d == "output" for d, _ in lost):
            had_audio = self._playback.is_playing
            self._playback.flush()  # stale by the time the speaker is back
            self._playback.stop_sounds()  # so is the rest of a sound that was sounding
            if had_audio:
                self._loop.call_soon(self._idle)
        await self._close_streams()
        self._attempt = 0
        self._retry_at = self._clock() + reopen_delay(0, self.cfg.reopen_backoff_cap_s)

    async def _reopen(self) -> None:
        if self._open is not None:  # degraded: a full cycle, since PortAudio must rescan
            await self._close_streams()
        try:
            await self._open_streams()
        except AudioError as exc:
            self._state = "recovering"
            self._attempt += 1
            self._note_unavailable(str(exc), self._attempt)
            return
        if self._state == "degraded":
            self._attempt += 1

    def _note_unavailable(self, problem: str, attempt: int) -> None:
        delay = reopen_delay(attempt, self.cfg.reopen_backoff_cap_s)
        self._retry_at = self._clock() + delay
        level = logging.WARNING if problem != self._last_problem else logging.DEBUG
        log.log(level, "audio device unavailable: %s (retrying in %.1f s)", problem, delay)
        self._last_problem = problem
        self._report("unavailable", problem, retry_in_s=delay)

    def _wedged(self, what: str) -> None:
        self._state = "wedged"
        msg = f"PortAudio hung in {what} for over {OP_TIMEOUT_S:g} s; edged needs a restart"
        log.error(msg)
        self._report("wedged", msg)

    def _report(self, kind: StatusKind, message: str, *, direction: str = "both",
                reopened: bool = False, retry_in_s: float | None = None) -> None:
        op = self._open
        status = AudioStatus(
            kind=kind, message=message, direction=direction,  # type: ignore[arg-type]
            input=op.in_fmt if op and op.inp is not None else None,
            output=op.out_fmt if op and op.out is not None else None,
            reopened=reopened, reopen_count=self._reopen_count, retry_in_s=retry_in_s)
        try:
            self.on_status(status)
        except Exception:
            log.exception("on_status handler failed")


def _active(stream: Any) -> bool:
    try:
        return bool(stream.is_active())
    except OSError:
        return False


def _close_all(op: _Open) -> None:
    """Stop and close the streams, then terminate this PortAudio (worker thread)."""
    _close_streams(op)
    with contextlib.suppress(OSError):
        op.pa.terminate()


def _close_streams(op: _Open) -> None:
    """Stop each stream first (so no callback is inside it), then close it."""
    for stream in (op.inp, op.out):
        if stream is None:
            continue
        with contextlib.suppress(OSError):
            stream.stop_stream()
        with contextlib.suppress(OSError):
            stream.close()
    op.inp = op.out = None


def _pa_error(exc: OSError) -> str:
    """PyAudio's OSError args are (code, text): one short phrase."""
    if len(exc.args) >= 2 and isinstance(exc.args[1], str):
        return f"{exc.args[1]} ({exc.args[0]})"
    return str(exc)
