"""Choosing devices by name and formats by probing: the pure rules."""

from __future__ import annotations

import pytest

from edged.audio.devices import (
    DeviceInfo,
    DeviceNotFound,
    NoSupportedFormat,
    channel_candidates,
    choose_device,
    pick_format,
    rate_candidates,
)

DEVICES = [
    DeviceInfo(0, "bcm2835 Headphones: - (hw:0,0)", 0, 8, 44100),
    DeviceInfo(1, "USB Audio Device: - (hw:1,0)", 1, 2, 48000),
    DeviceInfo(2, "USB", 1, 0, 48000),
    DeviceInfo(3, "default", 32, 32, 44100, default_input=True, default_output=True),
]


def test_substring_is_case_insensitive_and_respects_direction() -> None:
    assert choose_device(DEVICES, "usb audio", "output").index == 1
    assert choose_device(DEVICES, "HEADPHONES", "output").index == 0
    # the headphones have no input channels, so they never match a microphone
    with pytest.raises(DeviceNotFound):
        choose_device(DEVICES, "headphones", "input")


def test_exact_name_beats_an_earlier_substring_match() -> None:
    assert choose_device(DEVICES, "usb", "input").index == 2


def test_none_means_the_system_default() -> None:
    assert choose_device(DEVICES, None, "input").index == 3
    assert choose_device(DEVICES, None, "output").index == 3


def test_missing_device_message_lists_the_devices_that_exist() -> None:
    with pytest.raises(DeviceNotFound) as err:
        choose_device(DEVICES, "ReSpeaker", "input")
    msg = str(err.value)
    assert msg.startswith("audio.input_device: no microphone (input) device matches 'ReSpeaker'")
    assert "'USB Audio Device: - (hw:1,0)'" in msg and "'default'" in msg
    assert "Headphones" not in msg  # not an input device
    assert err.value.available == ["USB Audio Device: - (hw:1,0)", "USB", "default"]


def test_no_devices_at_all_says_so() -> None:
    with pytest.raises(DeviceNotFound, match=r"no default speaker .* present: none"):
        choose_device([], None, "output")


def test_rate_order_prefers_configured_then_device_default() -> None:
    assert rate_candidates(16000, 44100)[:4] == [16000, 44100, 48000, 24000]
    assert rate_candidates("auto", 48000)[:3] == [48000, 44100, 24000]
    assert len(set(rate_candidates("auto", 48000))) == len(rate_candidates("auto", 48000))


def test_channel_order_is_mono_first_unless_configured() -> None:
    assert channel_candidates("auto", 2) == [1, 2]
    assert channel_candidates("auto", 6) == [1, 2, 6]
    assert channel_candidates("auto", 1) == [1]
    assert channel_candidates(2, 8) == [2]


def test_pick_format_falls_back_to_what_the_device_accepts() -> None:
    usb = DEVICES[1]
    # a speaker that only takes 48 kHz stereo, like many USB ones
    fmt = pick_format(usb, "output", "auto", "auto", lambda r, c: (r, c) == (48000, 2))
    assert (fmt.rate, fmt.channels) == (48000, 2)
    # the configured rate wins when accepted, even if mono is only possible at another rate
    fmt = pick_format(usb, "output", 44100, "auto",
                      lambda r, c: (r, c) in {(44100, 2), (48000, 1)})
    assert (fmt.rate, fmt.channels) == (44100, 2)


def test_pick_format_says_what_was_tried() -> None:
    tried = r"accepts none .*: rates 22050, 44100, 48000, .* Hz with 1 or 2 or 32 channel"
    with pytest.raises(NoSupportedFormat, match=tried):
        pick_format(DEVICES[3], "input", 22050, "auto", lambda r, c: False)
