"""Checks 2–5 on real PortAudio over the private PulseAudio rig's virtual devices."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edged.doctor import audio
from edged.doctor.context import Context
from tests.doctor.helpers import context
from tests.rigs.pulse import MIC, SPEAKER, PulseRig

pytestmark = pytest.mark.pulse


def devices(tmp_path: Path, **audio_cfg: object) -> Context:
    doc = {"audio": {"input_device": MIC, "output_device": SPEAKER, **audio_cfg},
           "controls": {"enabled": False}}
    return context(tmp_path, doc, listen_s=1.5)


def opened(ctx: Context) -> Context:
    assert audio.check_input_device(ctx).status == "ok"
    assert audio.check_output_device(ctx).status == "ok"
    return ctx


def test_configured_devices_open_in_a_format_they_support(pulse: PulseRig,
                                                          tmp_path: Path) -> None:
    ctx = devices(tmp_path, output_rate=48000, output_channels=2)
    try:
        mic = audio.check_input_device(ctx)
        spk = audio.check_output_device(ctx)
    finally:
        ctx.close()
    assert mic.status == "ok" and MIC in mic.summary
    assert spk.status == "ok" and SPEAKER in spk.summary
    assert (spk.details["rate"], spk.details["channels"]) == (48000, 2)
    assert ctx.formats["output"].rate == 48000  # what the level meter and tone will use


def test_a_missing_device_fails_and_lists_the_ones_present(pulse: PulseRig,
                                                           tmp_path: Path) -> None:
    ctx = devices(tmp_path, input_device="USB PnP Sound Device")
    try:
        result = audio.check_input_device(ctx)
    finally:
        ctx.close()
    assert result.status == "fail"
    assert "USB PnP Sound Device" in result.summary
    assert result.fix is not None and MIC in result.fix and "audio.input_device" in result.fix


def test_level_meter_hears_the_signal_fed_to_the_microphone(pulse: PulseRig,
                                                            tmp_path: Path) -> None:
    t = np.arange(48000 * 8) / 48000
    pcm = np.round(np.sin(2 * np.pi * 300 * t) * 0.1 * 32767).astype("<i2").tobytes()
    ctx = opened(devices(tmp_path))
    try:
        pulse.feed_mic(pcm, background=True)  # 8 s of it: the 3 s meter listens inside
        time.sleep(0.5)
        result = audio.check_mic_level(ctx)
    finally:
        ctx.close()
    assert result.status == "ok", result
    assert result.details["peak_dbfs"] == pytest.approx(-20.0, abs=1.5)
    assert result.details["rms_dbfs"] < result.details["peak_dbfs"]


def test_level_meter_flags_silence(pulse: PulseRig, tmp_path: Path) -> None:
    ctx = opened(devices(tmp_path))
    try:
        result = audio.check_mic_level(ctx)
    finally:
        ctx.close()
    assert result.status == "warn"
    assert result.details["verdict"] == "digital_silence"
    assert result.fix is not None and "alsamixer" in result.fix


def test_level_meter_flags_clipping(pulse: PulseRig, tmp_path: Path) -> None:
    square = np.where(np.arange(48000 * 8) % 160 < 80, 32767, -32768).astype("<i2")
    ctx = opened(devices(tmp_path))
    try:
        pulse.feed_mic(square.tobytes(), background=True)
        time.sleep(0.5)
        result = audio.check_mic_level(ctx)
    finally:
        ctx.close()
    assert result.status == "warn"
    assert result.details["verdict"] == "clipping"


def test_test_tone_reaches_the_speaker(pulse: PulseRig, tmp_path: Path) -> None:
    ctx = opened(devices(tmp_path, output_rate=48000, output_channels=2))
    recorder = pulse.record_speaker(channels=1)
    try:
        time.sleep(0.5)
        result = audio.check_tone(ctx)
        time.sleep(0.5)
    finally:
        recorded = recorder.stop()
        ctx.close()
    assert result.status == "ok", result
    x = np.frombuffer(recorded, "<i2").astype(np.float64)
    loud = x[np.abs(x) > 1000]
    assert len(loud) > 48000 * 0.3, "the tone did not reach the speaker's monitor"
    spectrum = np.abs(np.fft.rfft(x))
    freq = np.fft.rfftfreq(len(x), 1 / 48000)[int(np.argmax(spectrum))]
    assert freq == pytest.approx(440, abs=5)


def test_no_tone_and_no_listening_skip(tmp_path: Path) -> None:
    doc = {"controls": {"enabled": False}}
    ctx = context(tmp_path, doc, listen_s=0, tone=False)
    assert audio.check_mic_level(ctx).status == "skip"
    assert audio.check_tone(ctx).status == "skip"
