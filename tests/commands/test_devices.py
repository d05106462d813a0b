"""``edged devices`` run as a process against the rigs' real PortAudio devices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.rigs.alsa import MIC, SPEAKER, alsa_file_rig
from tests.rigs.pulse import have_pulseaudio, pulse_rig

ROOT = Path(__file__).resolve().parents[2]


def devices(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edged", "devices", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def write_config(tmp_path: Path, audio: str) -> str:
    path = tmp_path / "edged.yaml"
    path.write_text("audio:\n" + "".join(f"  {line}\n" for line in audio.splitlines()))
    return str(path)


def test_json_lists_devices_and_marks_the_configured_ones(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "input_device: TEST_MIC\noutput_device: edged_test_spk\n"
                       "output_rate: 48000\noutput_channels: 2")
    with alsa_file_rig(tmp_path / "rig") as rig:
        done = devices(rig.env, "--config", cfg, "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no ALSA or JACK chatter
    out: dict[str, Any] = json.loads(done.stdout)
    names = [d["name"] for d in out["devices"]]
    assert names[:2] == [MIC, SPEAKER]
    mic = out["devices"][0]
    assert mic["index"] == 0 and mic["max_input_channels"] > 0 and mic["default_rate"] > 0
    assert out["input"] == {"index": 0, "name": MIC, "rate": mic["default_rate"], "channels": 1}
    assert out["output"] == {"index": 1, "name": SPEAKER, "rate": 48000, "channels": 2}
    assert out["problems"] == []


def test_table_marks_microphone_and_speaker(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"input_device: {MIC}\noutput_device: {SPEAKER}")
    with alsa_file_rig(tmp_path / "rig") as rig:
        done = devices(rig.env, "--config", cfg)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["#", "name", "in", "out", "rate"]
    mic_line = next(line for line in lines if MIC in line)
    spk_line = next(line for line in lines if SPEAKER in line)
    assert "<- microphone:" in mic_line and "<- speaker:" in spk_line
    assert "speaker" not in mic_line


def test_a_missing_device_is_named_with_the_ones_present(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "input_device: ReSpeaker")
    with alsa_file_rig(tmp_path / "rig") as rig:
        done = devices(rig.env, "--config", cfg)
        as_json = devices(rig.env, "--config", cfg, "--json")
    assert done.returncode == 1
    assert (f"audio.input_device: no microphone (input) device matches 'ReSpeaker'; input "
            f"devices present: '{MIC}', '{SPEAKER}', 'default'") in done.stderr
    assert "Traceback" not in done.stderr
    assert as_json.returncode == 1
    out = json.loads(as_json.stdout)
    assert out["input"] is None and out["output"]["name"] == "default"
    assert "ReSpeaker" in out["problems"][0]


def test_an_invalid_config_gets_file_line_messages(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "input_device: x\ninput_rate: fast")
    with alsa_file_rig(tmp_path / "rig") as rig:
        done = devices(rig.env, "--config", cfg)
    assert done.returncode == 2
    assert done.stderr.startswith(f"{cfg}:3: audio.input_rate: expected")
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.pulse
@pytest.mark.skipif(not have_pulseaudio(), reason="PulseAudio is not installed")
def test_json_against_the_pulseaudio_rig(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "input_device: edged_mic\noutput_device: edged_spk")
    with pulse_rig(tmp_path / "pulse") as rig:
        done = devices(rig.env, "--config", cfg, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    names = {d["name"] for d in out["devices"]}
    assert {"edged_mic", "edged_spk", "default"} <= names
    assert out["input"]["name"] == "edged_mic" and out["output"]["name"] == "edged_spk"
    default = next(d for d in out["devices"] if d["name"] == "default")
    assert default["default_input"] and default["default_output"]
