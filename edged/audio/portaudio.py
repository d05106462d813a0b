"""The thin shell over PyAudio: quiet initialisation, device listing, opening streams.

PortAudio has no hotplug: the device list is read once per ``PyAudio()``, so
the engine makes a fresh :class:`PortAudio` for every (re)open. At most one
lives in the process at a time (a lease taken by the constructor and given back
by :meth:`PortAudio.terminate`): PortAudio's initialisation is reference-counted
and not thread-safe, so two live instances would both defeat the
terminate-and-rescan that device recovery relies on and, when two threads
initialise at once, crash inside PortAudio. Creating one
makes ALSA and JACK print dozens of lines on stderr; :func:`quiet_native_noise`
routes them to no-op handlers first (JACK's through its own error hooks), so the
daemon's log shows only what edged says.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edged.audio import alsa_conf
from edged.audio.devices import (
    DeviceInfo,
    Direction,
    StreamFormat,
    choose_device,
    pick_format,
)

if TYPE_CHECKING:
    from edged.config import AudioConfig

log = logging.getLogger("edged.audio")

# PortAudio callback flags and return codes (as in portaudio.h)
INPUT_OVERFLOW = 0x2
OUTPUT_UNDERFLOW = 0x4
CONTINUE = 0
ABORT = 2  # stop at once: PortAudio discards what the device still holds
PA_INT16 = 0x8

Callback = Callable[[bytes | None, int, dict[str, float], int], tuple[bytes | None, int]]

_ALSA_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_char_p)
_JACK_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
_keep: list[Any] = []  # the C callbacks must outlive every PortAudio call

LEASE_TIMEOUT_S = 10.0
"""How long a new :class:`PortAudio` waits for the previous one to be terminated."""
_lease = threading.Lock()


def _ignore_alsa(*_args: object) -> None:
    return None


def _ignore_jack(_msg: bytes | None) -> None:
    return None


def quiet_native_noise() -> None:
    """Send ALSA's and JACK's diagnostic chatter to no-op handlers (once per process)."""
    if _keep:
        return
    alsa_cb = _ALSA_HANDLER(_ignore_alsa)
    jack_cb = _JACK_HANDLER(_ignore_jack)
    _keep.extend((alsa_cb, jack_cb))
    try:
        ctypes.CDLL("libasound.so.2").snd_lib_error_set_handler(alsa_cb)
    except (OSError, AttributeError):
        log.debug("libasound not found; ALSA messages not silenced")
    try:
        jack = ctypes.CDLL("libjack.so.0")
        jack.jack_set_error_function(jack_cb)
        jack.jack_set_info_function(jack_cb)
    except (OSError, AttributeError):
        pass  # PortAudio built without JACK: nothing to silence


class PortAudio:
    """One initialised PortAudio (a ``pyaudio.PyAudio``): devices and streams."""

    def __init__(self, lease_timeout_s: float = LEASE_TIMEOUT_S, *,
                 alsa_config: str | None = None) -> None:
        """``alsa_config``: the ALSA configuration file to read instead of the system's
        (``audio.alsa_config``); checked first, as a bad one would abort the process."""
        quiet_native_noise()
        import pyaudio

        if alsa_config is not None:
            problem = alsa_conf.file_problem(alsa_config)
            if problem is not None:
                raise alsa_conf.AlsaConfigError(f"audio.alsa_config: {problem}")
        self._pyaudio = pyaudio
        if not _lease.acquire(timeout=lease_timeout_s):
            raise OSError(-1, "PortAudio is still held by another audio engine in this "
                          f"process after {lease_timeout_s:g} s")
        try:
            alsa_conf.apply(alsa_config)
            self.pa = pyaudio.PyAudio()
        except BaseException:
            _lease.release()
            raise
        self._held = True

    def terminate(self) -> None:
        """Terminate this PortAudio and give the lease back (idempotent)."""
        if not self._held:
            return
        self._held = False
        try:
            self.pa.terminate()
        finally:
            _lease.release()

    def devices(self) -> list[DeviceInfo]:
        pa = self.pa
        try:
            default_in = pa.get_default_input_device_info()["index"]
        except OSError:
            default_in = -1
        try:
            default_out = pa.get_default_output_device_info()["index"]
        except OSError:
            default_out = -1
        apis: dict[int, str] = {}
        found: list[DeviceInfo] = []
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            api = int(info.get("hostApi", 0))
            if api not in apis:
                try:
                    apis[api] = str(pa.get_host_api_info_by_index(api)["name"])
                except (OSError, ValueError):
                    apis[api] = ""
            found.append(DeviceInfo(
                index=i,
                name=str(info["name"]),
                max_input_channels=int(info["maxInputChannels"]),
                max_output_channels=int(info["maxOutputChannels"]),
                default_rate=int(float(info["defaultSampleRate"])),
                host_api=apis[api],
                default_input=i == default_in,
                default_output=i == default_out,
            ))
        return found

    def supports(self, device: DeviceInfo, direction: Direction, rate: int,
                 channels: int) -> bool:
        kw: dict[str, int] = (
            {"input_device": device.index, "input_channels": channels, "input_format": PA_INT16}
            if direction == "input" else
            {"output_device": device.index, "output_channels": channels,
             "output_format": PA_INT16}
        )
        try:
            return bool(self.pa.is_format_supported(rate, **kw))
        except ValueError:
            return False

    def resolve(self, wanted: str | None, direction: Direction, rate: int | str,
                channels: int | str) -> StreamFormat:
        """Find the device by name in a fresh listing and a format it accepts."""
        device = choose_device(self.devices(), wanted, direction)
        return pick_format(device, direction, rate, channels,
                           lambda r, c: self.supports(device, direction, r, c))

    def open(self, fmt: StreamFormat, direction: Direction, frames_per_buffer: int,
             callback: Callback) -> Any:
        """Open a callback-mode PCM16 stream (not started)."""
        return self.pa.open(
            rate=fmt.rate, channels=fmt.channels, format=PA_INT16,
            input=direction == "input", output=direction == "output",
            input_device_index=fmt.device.index if direction == "input" else None,
            output_device_index=fmt.device.index if direction == "output" else None,
            frames_per_buffer=frames_per_buffer, start=False, stream_callback=callback,
        )


def abort_stream(stream: Any) -> None:
    """Stop a running stream at once from outside its callback (``Pa_AbortStream``):
    PortAudio drops what the device still holds, whatever the buffer size.

    PyAudio wraps the call but offers no method for it, and its own "running" flag
    would stay set, so a later ``start_stream()`` would silently do nothing: the flag
    is cleared as ``stop_stream()`` clears it. The call joins PortAudio's callback
    thread: never make it on the event loop.
    """
    import pyaudio

    pyaudio.pa.abort_stream(stream._stream)  # raises OSError (e.g. not running)
    stream._is_running = False


def resolve_config(pa: PortAudio, cfg: AudioConfig) -> tuple[StreamFormat, StreamFormat]:
    """The input and output formats the config picks (raises DeviceNotFound & co)."""
    return (
        pa.resolve(cfg.input_device, "input", cfg.input_rate, cfg.input_channels),
        pa.resolve(cfg.output_device, "output", cfg.output_rate, cfg.output_channels),
    )


def list_devices(alsa_config: str | None = None) -> list[DeviceInfo]:
    """The devices PortAudio sees right now (with ``audio.alsa_config``'s file, if any)."""
    pa = PortAudio(alsa_config=alsa_config)
    try:
        return pa.devices()
    finally:
        pa.terminate()


def portaudio_held() -> bool:
    """Is a :class:`PortAudio` alive in this process? (for tests and the doctor)"""
    return _lease.locked()
