"""Audio for edged: PortAudio capture and playback that survive real USB devices.

The daemon uses :class:`AudioEngine`; ``edged devices`` uses :func:`list_devices`
and :func:`resolve_config`. Everything raised for the user is an
:class:`AudioError` whose message is one clear line.
"""

from __future__ import annotations

from edged.audio.devices import (
    MODEL_RATE,
    AudioError,
    DeviceInfo,
    DeviceNotFound,
    NoSupportedFormat,
    StreamFormat,
)
from edged.audio.engine import AudioEngine
from edged.audio.portaudio import PortAudio, list_devices, resolve_config
from edged.audio.sounds import SoundName
from edged.audio.status import AudioStats, AudioStatus

__all__ = [
    "MODEL_RATE",
    "AudioEngine",
    "AudioError",
    "AudioStats",
    "AudioStatus",
    "DeviceInfo",
    "DeviceNotFound",
    "NoSupportedFormat",
    "PortAudio",
    "SoundName",
    "StreamFormat",
    "list_devices",
    "resolve_config",
]
