"""``audio.alsa_config``: the default-PCM check, the environment it sets, and the engine
and the doctor opening devices that only the named file defines (over the private
PulseAudio rig)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from edged.audio import AudioEngine, AudioError, AudioStatus, alsa_conf
from edged.config import AudioConfig
from edged.doctor import audio as doctor_audio
from tests.audio.helpers import aio, pcm, peak_frequency, rms, samples, sine
from tests.doctor.helpers import context
from tests.rigs.pulse import MIC, SPEAKER, PulseRig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_env() -> Iterator[None]:
    """A test that sets ALSA_CONFIG_PATH must not leave it to the next one."""
    yield
    alsa_conf.apply(None)


# ---------------------------------------------------------------- the text check

@pytest.mark.parametrize("text", [
    'pcm.!default { type pulse }\n',
    'pcm.default { type pulse }\n',
    'pcm."default" { type pulse }\n',
    'pcm.!default.type pulse\n',
    'pcm.!default "usb"\npcm.usb { type hw card Device }\n',
    'pcm {\n    usb { type hw card Device }\n    !default { type plug slave.pcm "usb" }\n}\n',
    '<other.conf>\npcm.!default = { type pulse } # the speaker\n',
])
def test_a_file_with_a_default_pcm_passes(text: str) -> None:
    assert alsa_conf.text_problem(text) is None


@pytest.mark.parametrize("text", [
    "",
    'pcm.usb { type hw card Device }\n',
    'ctl.!default { type hw card Device }\n',
    # a default only named as a value, or commented out, defines nothing
    'pcm.usb { type plug slave.pcm "default" }\n',
    'pcm { usb { type plug slave { pcm default } } }\n',
    '# pcm.!default { type pulse }\npcm.usb { type pulse }  # pcm.default\n',
    'pcm.usb { hint.description "pcm.default" }\n',
])
def test_a_file_without_a_default_pcm_fails_and_says_why(text: str) -> None:
    assert alsa_conf.text_problem(text) == (
        "defines no default PCM (add pcm.!default { ... }): without a default PCM PortAudio "
        "aborts the process")


def test_malformed_text_is_read_without_hanging() -> None:
    assert alsa_conf.text_problem("}}] pcm. {{ [ 'x") is not None
    assert alsa_conf.text_problem('pcm.!default { type "pul') is None  # ALSA says the rest


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.conf"
    good.write_text("pcm.!default { type null }\n")
    bad = tmp_path / "bad.conf"
    bad.write_text("pcm.quiet { type null }\n")
    assert alsa_conf.file_problem(str(good)) is None
    assert alsa_conf.file_problem(str(bad)) == f"{bad}: {alsa_conf.NO_DEFAULT}"
    assert alsa_conf.file_problem(str(tmp_path / "none.conf")) == \
        f"{tmp_path / 'none.conf'}: no such file"
    assert alsa_conf.file_problem(str(tmp_path)) == f"{tmp_path}: is a directory, not a file"


# ---------------------------------------------------------------- the environment

def _apply_in_child(env_value: str | None) -> list[str | None]:
    code = ("import json, os\nfrom edged.audio import alsa_conf\nseen = []\n"
            "for path in (None, '/etc/edged/asound.conf', None):\n"
            "    alsa_conf.apply(path)\n"
            "    seen.append(os.environ.get('ALSA_CONFIG_PATH'))\n"
            "print(json.dumps(seen))\n")
    env = {k: v for k, v in os.environ.items() if k != "ALSA_CONFIG_PATH"}
    if env_value is not None:
        env["ALSA_CONFIG_PATH"] = env_value
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    seen: list[str | None] = json.loads(done.stdout)
    return seen


def test_apply_sets_the_file_and_a_null_key_restores_what_the_process_had() -> None:
    assert _apply_in_child(None) == [None, "/etc/edged/asound.conf", None]
    # a value the environment set is never clobbered by a null key
    assert _apply_in_child("/home/me/asound.conf") == [
        "/home/me/asound.conf", "/etc/edged/asound.conf", "/home/me/asound.conf"]


def test_portaudio_refuses_a_file_without_a_default_instead_of_aborting(
        tmp_path: Path) -> None:
    """A PCM that always opens (type null) and no default: PortAudio 19.6 would fail an
    assertion and abort the whole process; edged refuses the file before that."""
    conf = tmp_path / "asound.conf"
    conf.write_text("pcm.quiet { type null }\n")
    code = ("import sys\nfrom edged.audio import PortAudio\nfrom edged.audio.portaudio "
            "import portaudio_held\ntry:\n    PortAudio(alsa_config=sys.argv[1])\n"
            "except OSError as exc:\n    print(type(exc).__name__, exc)\n"
            "    sys.exit(3 if portaudio_held() else 1)\n")
    done = subprocess.run([sys.executable, "-c", code, str(conf)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, (done.returncode, done.stderr[-500:])
    assert done.stdout.strip() == (f"AlsaConfigError audio.alsa_config: {conf}: "
                                   f"{alsa_conf.NO_DEFAULT}")


# ---------------------------------------------------------------- the engine, over the rig

def _rig_file(tmp_path: Path) -> str:
    """Names that exist only in this file, so finding them proves it was read."""
    conf = tmp_path / "asound.conf"
    conf.write_text(f'pcm.usb_mic {{ type pulse device "{MIC}" }}\n'
                    f'pcm.usb_spk {{ type pulse device "{SPEAKER}" }}\n'
                    'pcm.!default { type pulse }\n')
    return str(conf)


async def _until(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.pulse
@pytest.mark.timeout(120)
@aio
async def test_the_engine_opens_and_hears_devices_only_the_file_defines(
        pulse: PulseRig, tmp_path: Path) -> None:
    cfg = AudioConfig(input_device="usb_mic", output_device="usb_spk", input_rate=48000,
                      output_rate=48000, input_channels=2, output_channels=2,
                      alsa_config=_rig_file(tmp_path))
    frames: list[bytes] = []
    statuses: list[AudioStatus] = []
    loop = asyncio.get_running_loop()

    # the control: without the key, the system's configuration has no such devices
    plain = AudioEngine(dataclasses.replace(cfg, alsa_config=None), loop,
                        lambda data, t: None, statuses.append)
    with pytest.raises(AudioError, match="usb_mic"):
        await plain.start(strict=True)
    await plain.stop()

    engine = AudioEngine(cfg, loop, lambda data, t: frames.append(data), statuses.append)
    await engine.start(strict=True)
    try:
        opened = next(s for s in statuses if s.kind == "opened")
        assert opened.input is not None and opened.input.device.name == "usb_mic"
        assert opened.output is not None and opened.output.device.name == "usb_spk"
        # past the rig's slow first buffer, then a tone that outlasts the uplink
        await _until(lambda: time.monotonic() - engine.stats.last_input_callback < 0.2)
        pulse.feed_mic(pcm(sine(4.0, 1000, 48000, 8000.0)), background=True)
        await asyncio.sleep(1.0)
        engine.open_uplink(preroll=False)
        await asyncio.sleep(1.0)
        engine.close_uplink()
    finally:
        await engine.stop()
    heard = samples(b"".join(frames))
    loud = heard[np.abs(heard) > 1000]
    assert len(loud) > 24000 // 2, "the microphone delivered no tone"
    assert abs(peak_frequency(heard, 24000) - 1000) < 2.0
    assert rms(heard) > 1000


@pytest.mark.pulse
@pytest.mark.timeout(120)
def test_the_doctor_opens_the_devices_the_file_defines(pulse: PulseRig,
                                                       tmp_path: Path) -> None:
    doc = {"audio": {"input_device": "usb_mic", "output_device": "usb_spk",
                     "alsa_config": _rig_file(tmp_path)}, "controls": {"enabled": False}}
    ctx = context(tmp_path, doc, listen_s=0)
    try:
        mic, spk = doctor_audio.check_input_device(ctx), doctor_audio.check_output_device(ctx)
    finally:
        ctx.close()
    assert (mic.status, mic.details["device"]) == ("ok", "usb_mic")
    assert (spk.status, spk.details["device"]) == ("ok", "usb_spk")


def test_the_doctor_names_the_file_when_portaudio_cannot_use_it(tmp_path: Path) -> None:
    missing = tmp_path / "asound.conf"
    ctx = context(tmp_path, {"audio": {"alsa_config": str(missing)},
                             "controls": {"enabled": False}}, listen_s=0)
    try:
        result = doctor_audio.check_input_device(ctx)
    finally:
        ctx.close()
    assert result.status == "fail"
    assert result.summary == (f"cannot initialise PortAudio: audio.alsa_config: {missing}: "
                              "no such file")
    assert result.fix is not None and f"fix {missing} (audio.alsa_config)" in result.fix
