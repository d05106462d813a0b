"""Choosing a device and a format it really supports (pure: no PortAudio here).

Devices are matched by name, never by index: indices change when USB devices
come and go, so the choice is made again from a fresh listing on every (re)open.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from edged import pcm

Direction = Literal["input", "output"]

MODEL_RATE = pcm.RATE

# Rates worth trying after the configured and the device's own default rate:
# USB audio offers 48 or 44.1 kHz almost always; the rest are rarer fallbacks.
_FALLBACK_RATES = (48000, 44100, 24000, 32000, 16000, 96000, 22050, 8000)


class AudioError(Exception):
    """An audio problem worth one clear line to the user (no traceback)."""


class DeviceNotFound(AudioError):
    """The configured device is not there; the message lists the ones that are."""

    def __init__(self, direction: Direction, wanted: str | None,
                 devices: Sequence[DeviceInfo]) -> None:
        self.direction = direction
        self.wanted = wanted
        self.available = [d.name for d in devices if d.channels(direction) > 0]
        kind = "microphone (input)" if direction == "input" else "speaker (output)"
        key = f"audio.{direction}_device"
        if wanted is None:
            head = f"no default {kind} device"
        else:
            head = f"{key}: no {kind} device matches {wanted!r}"
        listing = ", ".join(repr(n) for n in self.available) if self.available else "none"
        super().__init__(f"{head}; {direction} devices present: {listing}")


class NoSupportedFormat(AudioError):
    """The device refused every rate and channel count that was tried."""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_rate: int
    host_api: str = ""
    default_input: bool = False
    default_output: bool = False

    def channels(self, direction: Direction) -> int:
        return self.max_input_channels if direction == "input" else self.max_output_channels


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """What a stream is opened with: the device, its rate and channel count."""

    device: DeviceInfo
    rate: int
    channels: int

    def describe(self) -> str:
        return f"{self.device.name!r} (#{self.device.index}) at {self.rate} Hz, " \
               f"{self.channels} ch"


def choose_device(devices: Sequence[DeviceInfo], wanted: str | None,
                  direction: Direction) -> DeviceInfo:
    """The device the config names (case-insensitive substring), or the default.

    An exact name beats a substring match, so "USB" can still pick "USB" when
    "USB Audio Device" is also present.
    """
    usable = [d for d in devices if d.channels(direction) > 0]
    if wanted is None:
        for d in usable:
            if d.default_input if direction == "input" else d.default_output:
                return d
        if usable:
            return usable[0]
        raise DeviceNotFound(direction, None, devices)
    needle = wanted.strip().lower()
    exact = [d for d in usable if d.name.lower() == needle]
    if exact:
        return exact[0]
    partial = [d for d in usable if needle in d.name.lower()]
    if partial:
        return partial[0]
    raise DeviceNotFound(direction, wanted, devices)


def rate_candidates(configured: int | str, device_default: int) -> list[int]:
    """Rates to try, best first: the configured one, the device's own, then common ones."""
    first = [configured] if isinstance(configured, int) else []
    order = [*first, device_default, *_FALLBACK_RATES]
    return list(dict.fromkeys(r for r in order if r > 0))


def channel_candidates(configured: int | str, max_channels: int) -> list[int]:
    """Channel counts to try: mono first (least work), then the device's own."""
    if isinstance(configured, int):
        return [configured]
    order = [1, 2, max_channels] if max_channels >= 1 else []
    return list(dict.fromkeys(c for c in order if 1 <= c <= max(max_channels, 1)))


def pick_format(device: DeviceInfo, direction: Direction, rate: int | str,
                channels: int | str, supported: Callable[[int, int], bool]) -> StreamFormat:
    """The first (rate, channels) the device accepts; rate matters more than channels."""
    rates = rate_candidates(rate, device.default_rate)
    chans = channel_candidates(channels, device.channels(direction))
    for r in rates:
        for c in chans:
            if supported(r, c):
                return StreamFormat(device, r, c)
    raise NoSupportedFormat(
        f"{device.name!r} accepts none of the {direction} formats tried: rates "
        f"{', '.join(map(str, rates))} Hz with {' or '.join(map(str, chans)) or 'no'} "
        f"channel(s)"
    )
