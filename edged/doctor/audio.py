"""Checks 2–5: the microphone and speaker the config names open, hear, and play.

Devices are found exactly as the daemon finds them (``edged.audio``: by name in a
fresh listing, at the first rate and channel count the device accepts), so a ✓
here means ``edged run`` will open the same device in the same format.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from edged.doctor import levels, wakeword
from edged.doctor.context import Context
from edged.doctor.result import CheckResult, fail, ok, skip, warn
from edged.doctor.tone import FREQ_HZ, SECONDS, tone

NAMES = {"input": "microphone", "output": "speaker"}
FIRST_AUDIO_S = 10.0  # a USB device or the ALSA pulse plugin can take seconds to start
COMPLETE = 1  # paComplete: the callback has nothing more to play
BUSY = -9985  # paDeviceUnavailable

_BUSY_FIX = ("the device is in use: stop edged first (sudo systemctl stop edged), or close "
             "whatever else holds it (fuser -v /dev/snd/*), then run edged doctor again")


def _pa_error(exc: OSError) -> tuple[str, bool]:
    """PyAudio's ``OSError(code, text)`` as a phrase, and whether it means "busy"."""
    code = exc.args[0] if exc.args else None
    text = exc.args[1] if len(exc.args) >= 2 and isinstance(exc.args[1], str) else str(exc)
    busy = code == BUSY or "busy" in text.lower() or "unavailable" in text.lower()
    return (f"{text} ({code})" if isinstance(code, int) else text), busy


def check_device(ctx: Context, direction: str) -> CheckResult:
    """The configured device exists and opens in a format it supports."""
    from edged.audio import AudioError, DeviceNotFound, NoSupportedFormat

    check_id = "input_device" if direction == "input" else "output_device"
    title, name = NAMES[direction], NAMES[direction]
    assert ctx.config is not None
    audio = ctx.config.audio
    key = f"audio.{direction}_device"
    wanted, rate, channels = (
        (audio.input_device, audio.input_rate, audio.input_channels) if direction == "input"
        else (audio.output_device, audio.output_rate, audio.output_channels))
    try:
        pa = ctx.portaudio()
    except OSError as exc:
        return fail(check_id, title, f"cannot initialise PortAudio: {_pa_error(exc)[0]}",
                    _init_fix(audio.alsa_config))
    try:
        fmt = pa.resolve(wanted, direction, rate, channels)  # type: ignore[arg-type]
    except DeviceNotFound as exc:
        present = ", ".join(repr(n) for n in exc.available) or "none"
        fix = (f"set {key} to one of the {name}s present ({present}), or null for the "
               "default; `edged devices` lists them" if exc.available else
               f"plug in a USB {name} (no {direction} device is present at all)")
        return fail(check_id, title, str(exc), fix, wanted=wanted, available=exc.available)
    except NoSupportedFormat as exc:
        return fail(check_id, title, str(exc),
                    f"set audio.{direction}_rate and audio.{direction}_channels to 'auto', or "
                    "to what `edged devices` shows the device offers", wanted=wanted)
    except AudioError as exc:
        return fail(check_id, title, str(exc), "run `edged devices` to see what is present")
    frames = max(1, fmt.rate * ctx.config.audio.frame_ms // 1000)
    try:
        stream = pa.open(fmt, direction, frames,  # type: ignore[arg-type]
                         lambda *_: (None, COMPLETE))
    except OSError as exc:
        why, busy = _pa_error(exc)
        return fail(check_id, title, f"cannot open {fmt.describe()}: {why}",
                    _BUSY_FIX if busy else "check the device with `edged devices`; a USB "
                    "device may need replugging", device=fmt.device.name, rate=fmt.rate,
                    channels=fmt.channels)
    stream.close()
    ctx.formats[direction] = fmt
    return ok(check_id, title, f"{fmt.describe()} (edged converts to and from 24 kHz mono)",
              device=fmt.device.name, index=fmt.device.index, rate=fmt.rate,
              channels=fmt.channels)


def _init_fix(alsa_config: str | None) -> str:
    if alsa_config is None:
        return "check that the system sees a sound card: aplay -l and arecord -l"
    return (f"fix {alsa_config} (audio.alsa_config): `edged check-config` checks that it "
            f"is there and defines a default PCM; `ALSA_CONFIG_PATH={alsa_config} aplay -L` "
            "shows a syntax error with its line")


def check_input_device(ctx: Context) -> CheckResult:
    return check_device(ctx, "input")


def check_output_device(ctx: Context) -> CheckResult:
    return check_device(ctx, "output")


def _started(stream: Any) -> Any:
    """Start a freshly opened stream; close it if it will not start."""
    try:
        stream.start_stream()
    except OSError:
        stream.close()
        raise
    return stream


class _Collector:
    """Captured buffers, appended from PortAudio's thread (and handed to the wake word's
    listener there, as the daemon's tap does)."""

    def __init__(self, tap: Callable[[bytes | None, int], None] | None = None) -> None:
        self.chunks: list[bytes] = []
        self.frames = 0
        self.first = threading.Event()
        self._tap = tap

    def callback(self, data: bytes | None, frame_count: int, _info: Any,
                 _status: int) -> tuple[None, int]:
        if data:
            self.chunks.append(data)
            self.frames += frame_count
            self.first.set()
            if self._tap is not None:
                self._tap(data, frame_count)
        return None, 0


def check_mic_level(ctx: Context) -> CheckResult:
    """Listen for a few seconds; flag silence and clipping. With the wake word on, its
    detector listens too: each meter line shows its highest probability."""
    check_id, title = "mic_level", "mic level"
    seconds = ctx.options.listen_s
    if seconds <= 0:
        return skip(check_id, title, "skipped (--listen-s 0)")
    fmt = ctx.formats["input"]
    pa = ctx.portaudio()
    assert ctx.config is not None
    wake = wakeword.meter_wake(ctx.config.wake_word, fmt.rate, fmt.channels)
    live = wake if isinstance(wake, wakeword.MeterWake) else None
    got = _Collector(live.feed if live is not None else None)
    started = time.monotonic()
    result: CheckResult | None = None
    try:
        stream = _started(pa.open(fmt, "input", max(1, fmt.rate // 10), got.callback))
    except OSError as exc:
        why, busy = _pa_error(exc)
        result = fail(check_id, title, f"cannot start the microphone: {why}",
                      _BUSY_FIX if busy else "replug the microphone and run edged doctor again")
    else:
        try:
            came = _meter(ctx, got, seconds, fmt.rate, live)
        finally:
            ctx.say("\r" + " " * 80 + "\r")
            stream.stop_stream()
            stream.close()
        if not came:
            result = fail(check_id, title,
                          f"the microphone delivered no audio in {FIRST_AUDIO_S:g} s",
                          "the device stalls: replug it (a powered USB hub helps), then run "
                          "edged doctor again")
    finally:
        if live is not None:
            wake = live.stop()
    if result is not None:
        return result
    took = time.monotonic() - started
    found = levels.analyse(b"".join(got.chunks), fmt.rate, fmt.channels)
    return _mic_verdict(check_id, title, found, repr(fmt.device.name), took,
                        wake=wake if isinstance(wake, wakeword.Heard) else None)


def _meter(ctx: Context, got: _Collector, seconds: float, rate: int,
           live: wakeword.MeterWake | None) -> bool:
    """The live meter until ``seconds`` of audio came; False if none came at all."""
    say = (f"speak into the microphone, or say {live.listener.detector.spec.phrase!r}"
           if live is not None else "speak into the microphone")
    ctx.say(f"  listening {seconds:g} s: {say}…\n")
    if not got.first.wait(FIRST_AUDIO_S):
        return False
    want = int(seconds * rate)
    deadline = time.monotonic() + seconds + FIRST_AUDIO_S
    while got.frames < want and time.monotonic() < deadline:
        time.sleep(0.1)
        if got.chunks:
            line = levels.meter(*levels.block_levels(got.chunks[-1]))
            if live is not None:
                line += "  " + live.line()
            ctx.say("\r  " + line + " ")
    return True


def _mic_verdict(check_id: str, title: str, found: levels.Levels, device: str,
                 took: float, *, wake: wakeword.Heard | None = None) -> CheckResult:
    """Pure: what the levels (and the wake word, when on) heard mean for the person at
    the microphone."""
    facts: dict[str, Any] = {
        "seconds": found.seconds, "rms_dbfs": found.rms_dbfs, "peak_dbfs": found.peak_dbfs,
        "clipped": found.clipped, "verdict": found.verdict, "wall_s": round(took, 2)}
    figures = (f"average {found.rms_dbfs:.1f} dBFS, peak {found.peak_dbfs:.1f} dBFS over "
               f"{found.seconds:g} s")
    if wake is not None:
        facts["wake_word"] = wake.facts()
        figures += f"; {wake.sentence()}"
    if found.verdict == "digital_silence":
        return warn(check_id, title, f"only digital silence (all zeros) from {device}",
                    "the capture is muted or it is the wrong device: unmute and raise "
                    "'Capture' in alsamixer (F6 picks the card, F4 the capture controls), or "
                    "set audio.input_device", **facts)
    if found.verdict == "quiet":
        return warn(check_id, title, f"almost silent: {figures}",
                    "speak during the check; if you did, raise the capture gain in alsamixer "
                    "(or set audio.auto_gain_dbfs)", **facts)
    if found.verdict == "clipping":
        return warn(check_id, title, f"clipping: {found.clipped:.2%} of samples at full scale; "
                    f"{figures}", "lower the capture gain in alsamixer: clipped speech is "
                    "misheard", **facts)
    return ok(check_id, title, figures, **facts)


def check_tone(ctx: Context) -> CheckResult:
    """Play a short tone on the speaker (the person listens; we check it was taken)."""
    check_id, title = "speaker_tone", "test tone"
    if not ctx.options.tone:
        return skip(check_id, title, "skipped (--no-tone)")
    fmt = ctx.formats["output"]
    pa = ctx.portaudio()
    data = tone(fmt.rate, fmt.channels)
    step = fmt.channels * 2
    pos = 0

    def callback(_in: bytes | None, frame_count: int, _info: Any,
                 _status: int) -> tuple[bytes, int]:
        nonlocal pos
        n = frame_count * step
        chunk, pos = data[pos:pos + n], pos + n
        if len(chunk) < n:
            return chunk + bytes(n - len(chunk)), COMPLETE
        return chunk, 0

    try:
        stream = _started(pa.open(fmt, "output", max(1, fmt.rate // 50), callback))
    except OSError as exc:
        why, busy = _pa_error(exc)
        return fail(check_id, title, f"cannot start the speaker: {why}",
                    _BUSY_FIX if busy else "replug the speaker and run edged doctor again")
    deadline = time.monotonic() + SECONDS + FIRST_AUDIO_S
    try:
        while stream.is_active() and time.monotonic() < deadline:
            time.sleep(0.05)
        finished = not stream.is_active()
    finally:
        stream.stop_stream()
        stream.close()
    facts: dict[str, Any] = {"device": fmt.device.name, "freq_hz": FREQ_HZ, "seconds": SECONDS,
                             "played": finished}
    if not finished:
        return fail(check_id, title, f"the speaker {fmt.device.name!r} did not take the tone "
                    f"within {SECONDS + FIRST_AUDIO_S:g} s", "the device stalls: replug it "
                    "(a powered USB hub helps), then run edged doctor again", **facts)
    return ok(check_id, title, f"played {SECONDS:g} s of {FREQ_HZ:g} Hz on "
              f"{fmt.device.name!r}: you should have heard it (if not: volume in alsamixer, "
              "audio.volume)", **facts)
