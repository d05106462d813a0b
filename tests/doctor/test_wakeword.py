"""The wake word in ``edged doctor``: the model check, and the detector beside the level
meter, on real PortAudio over the PulseAudio rig's microphone with real TensorFlow
Lite. The spoken phrase is espeak-ng's default voice saying "okay nabu", which the
shipped okay_nabu model hears."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.doctor import audio
from edged.doctor.context import Context
from edged.doctor.wakeword import check_wake_word
from edged.wakeword.models import NEEDS_64_BIT
from tests.doctor.helpers import context, shown, write_config
from tests.rigs.pulse import MIC, SPEAKER, PulseRig

ROOT = Path(__file__).resolve().parents[2]
ON = {"enabled": True, "model": "okay_nabu"}
METER_LINE = re.compile(r"dBFS(?:  CLIP)?  wake (\d\.\d\d) / 0\.85")


def doc(wake_word: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"controls": {"enabled": False}, "wake_word": wake_word, **more}


def test_off_is_a_skip_that_names_the_key(tmp_path: Path) -> None:
    result = check_wake_word(context(tmp_path, doc({"enabled": False})))
    assert result.status == "skip"
    assert result.summary == "off (wake_word.enabled is false)"


def test_the_shipped_model_loads_and_its_phrase_and_cutoff_are_shown(tmp_path: Path) -> None:
    result = check_wake_word(context(tmp_path, doc(ON)))
    assert result.status == "ok", result
    assert "'Okay Nabu'" in result.summary and "okay_nabu" in result.summary
    assert "threshold 0.85: the model's own cutoff" in result.summary
    assert result.details["threshold"] == 0.85


def test_a_configured_threshold_is_the_one_shown_in_force(tmp_path: Path) -> None:
    result = check_wake_word(context(tmp_path, doc({**ON, "threshold": 0.6})))
    assert result.status == "ok", result
    assert "threshold 0.60: wake_word.threshold; the model suggests 0.85" in result.summary
    assert result.details["threshold"] == 0.6


def test_a_custom_model_that_does_not_exist_fails_naming_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "wakeword" / "hey_edge.json"
    result = check_wake_word(context(tmp_path, doc({"enabled": True, "model": str(missing)})))
    assert result.status == "fail"
    assert result.summary == f"wake_word.model: {missing}: no such file"
    assert result.fix is not None and "okay_nabu" in result.fix and ".json" in result.fix


def test_without_the_package_the_check_says_it_needs_64_bit(tmp_path: Path) -> None:
    # A 32-bit system cannot be had here: a package of the same name that fails to
    # import stands in for pymicro-wakeword being absent, ahead of it on the path.
    shadow = tmp_path / "shadow" / "pymicro_wakeword"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no pymicro_wakeword here')\n")
    path = write_config(tmp_path, doc(ON))
    done = subprocess.run(
        [sys.executable, "-m", "edged", "doctor", "--config", str(path), "--json",
         "--only", "wake_word"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{shadow.parent}:{ROOT}"},
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [check] = [c for c in json.loads(done.stdout)["checks"] if c["id"] == "wake_word"]
    assert check["status"] == "fail"
    assert check["summary"].startswith(f"wake_word.model: {NEEDS_64_BIT}")
    assert "wake_word.enabled" in check["fix"]


# -- beside the level meter (real PortAudio, the PulseAudio rig's microphone)


def meter_context(tmp_path: Path, wake_word: dict[str, Any], listen_s: float) -> tuple[
        Context, io.StringIO]:
    live = io.StringIO()
    ctx = context(tmp_path, doc(wake_word, audio={"input_device": MIC,
                                                   "output_device": SPEAKER}),
                  listen_s=listen_s, live=live)
    assert audio.check_input_device(ctx).status == "ok"
    return ctx, live


def spoken(tmp_path: Path, text: str) -> tuple[bytes, int]:
    """espeak-ng's default voice saying ``text``: mono PCM16 and its rate."""
    wav = tmp_path / "spoken.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, timeout=30)
    with wave.open(str(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.readframes(w.getnframes()), w.getframerate()


@pytest.mark.pulse
@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng (installed by scripts/setup) speaks the wake word")
def test_the_meter_shows_probabilities_and_reports_the_phrase_heard(pulse: PulseRig,
                                                                    tmp_path: Path) -> None:
    phrase, rate = spoken(tmp_path, "okay nabu")
    gap = bytes(2 * rate)  # a second of silence around each phrase
    ctx, live = meter_context(tmp_path, ON, listen_s=4)
    try:
        pulse.feed_mic((gap + phrase) * 6, rate=rate, background=True)  # the meter listens inside
        time.sleep(0.5)
        result = audio.check_mic_level(ctx)
    finally:
        ctx.close()
    assert result.status == "ok", result
    lines = [float(p) for p in METER_LINE.findall(live.getvalue())]
    assert len(lines) >= 20, live.getvalue()  # one per meter line, 10 a second
    assert max(lines) > 0.85  # the line that heard it
    heard = result.details["wake_word"]
    assert heard["model"] == "okay_nabu" and heard["threshold"] == 0.85
    assert heard["detections"] and min(heard["detections"]) > 0.85
    assert heard["peak"] >= max(lines) - 0.005  # the lines show it rounded
    assert "wake word 'Okay Nabu' heard" in result.summary


@pytest.mark.pulse
def test_the_meter_reports_the_phrase_not_heard_in_a_plain_tone(pulse: PulseRig,
                                                                 tmp_path: Path) -> None:
    t = np.arange(48000 * 6) / 48000
    pcm = np.round(np.sin(2 * np.pi * 300 * t) * 0.1 * 32767).astype("<i2").tobytes()
    ctx, live = meter_context(tmp_path, ON, listen_s=2)
    try:
        pulse.feed_mic(pcm, background=True)
        time.sleep(0.5)
        result = audio.check_mic_level(ctx)
    finally:
        ctx.close()
    assert result.status == "ok", result
    lines = [float(p) for p in METER_LINE.findall(live.getvalue())]
    assert len(lines) >= 10, live.getvalue()
    assert max(lines) < 0.85
    heard = result.details["wake_word"]
    assert heard["detections"] == [] and heard["peak"] < 0.85
    assert "wake word 'Okay Nabu' not heard (highest probability" in result.summary


@pytest.mark.pulse
def test_a_model_that_does_not_load_leaves_the_meter_running(pulse: PulseRig,
                                                             tmp_path: Path) -> None:
    missing = str(tmp_path / "hey_edge.json")
    ctx, live = meter_context(tmp_path, {"enabled": True, "model": missing}, listen_s=1)
    try:
        result = audio.check_mic_level(ctx)
    finally:
        ctx.close()
    assert result.details["verdict"] == "digital_silence"  # the level verdict still comes
    assert result.details["wake_word"] == {"model": missing,
                                           "error": f"{missing}: no such file"}
    assert "dBFS" in live.getvalue() and "wake" not in live.getvalue()  # nothing to show
    assert "no such file" in shown(result)


@pytest.mark.pulse
def test_with_the_wake_word_off_the_meter_shows_no_probabilities(pulse: PulseRig,
                                                                 tmp_path: Path) -> None:
    ctx, live = meter_context(tmp_path, {"enabled": False}, listen_s=1)
    try:
        result = audio.check_mic_level(ctx)
    finally:
        ctx.close()
    assert "dBFS" in live.getvalue() and "wake" not in live.getvalue()
    assert "wake_word" not in result.details
