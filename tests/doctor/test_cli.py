"""``edged doctor`` as a person or a script runs it: a real process, real devices (the
PulseAudio rig), the real simulator and journald; GPIO on gpiozero's mock factory
(GPIOZERO_PIN_FACTORY=mock), since this machine has no GPIO pins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edged.simulator import SimulatorThread
from tests.doctor.helpers import KEY, custom, write_config
from tests.rigs.pulse import MIC, SPEAKER, PulseRig

pytestmark = pytest.mark.pulse


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edged", "doctor", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def speaker_doc(url: str) -> dict[str, Any]:
    return custom(url, audio={"input_device": MIC, "output_device": SPEAKER},
                  controls={"enabled": True, "ptt_pin": 17, "wake_pin": 27})


def test_json_run_on_a_working_setup(pulse: PulseRig, tmp_path: Path) -> None:
    with SimulatorThread(require_key=KEY) as sim:
        path = write_config(tmp_path, speaker_doc(sim.url))
        env = {**pulse.env, "EDGED_DOCTOR_KEY": KEY, "GPIOZERO_PIN_FACTORY": "mock"}
        done = doctor(env, "--config", str(path), "--json", "--listen-s", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    ids = [c["id"] for c in doc["checks"]]
    assert ids == ["config", "input_device", "output_device", "wake_word", "mic_level",
                   "speaker_tone", "gpio", "groups", "credentials", "token_service", "dns",
                   "tls", "handshake", "http_tools", "journald", "systemd"]
    status = {c["id"]: c["status"] for c in doc["checks"]}
    assert status["wake_word"] == "skip"  # off unless the config turns it on
    for check in ("config", "input_device", "output_device", "speaker_tone", "gpio",
                  "credentials", "dns", "handshake"):
        assert status[check] == "ok", (check, doc)
    assert status["mic_level"] == "warn"  # nothing fed: the silence is flagged
    assert doc["ok"] is True
    assert KEY not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr == ""  # no ALSA or JACK chatter either


def test_text_run_with_a_wrong_key_fails_with_a_fix(pulse: PulseRig, tmp_path: Path) -> None:
    wrong = "sk-doctor-wrong-key-0123456789"
    with SimulatorThread(require_key=KEY) as sim:
        path = write_config(tmp_path, speaker_doc(sim.url))
        env = {**pulse.env, "EDGED_DOCTOR_KEY": wrong, "GPIOZERO_PIN_FACTORY": "mock",
               "PYTHONIOENCODING": "utf-8"}
        done = doctor(env, "--config", str(path), "--listen-s", "0", "--no-tone")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith("✗ WebSocket")]
    assert failed, done.stdout
    assert "401" in lines[failed[0]]
    assert lines[failed[0] + 1].strip().startswith("→ fix:")
    assert lines[-1].startswith("edged doctor: 1 failed")
    assert wrong not in done.stdout + done.stderr


def test_a_broken_config_blocks_the_checks_that_need_it(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    path.write_text("audio:\n  frame_ms: 3\n")
    done = doctor({"PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "ascii"},
                  "--config", str(path), "--only", "handshake")
    assert done.returncode == 1
    assert f"XX config        {path}:2: audio.frame_ms" in done.stdout
    assert "-- WebSocket     skipped: fix the config check first" in done.stdout
    done.stdout.encode("ascii")


def test_bad_options_get_one_clear_line(tmp_path: Path) -> None:
    done = doctor({"PATH": "/usr/bin:/bin"}, "--only", "handshak")
    assert done.returncode == 2
    assert "unknown check 'handshak'" in done.stderr
    assert "Traceback" not in done.stderr
