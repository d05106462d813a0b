"""``edged devices`` with ``audio.alsa_config``: PortAudio probes only the PCMs the named
file defines (run as a process over the private PulseAudio rig, whose PCMs are ALSA's
``type pulse``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.rigs.pulse import MIC, SPEAKER, PulseRig, have_pulseaudio, pulse_rig

pytestmark = [pytest.mark.pulse, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (f'pcm.{MIC} {{ type pulse device "{MIC}" }}\n'
           f'pcm.{SPEAKER} {{ type pulse device "{SPEAKER}" }}\n'
           "pcm.!default { type pulse }\n")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseRig]:
    """One rig for the module: the child processes only list and probe its devices."""
    if not have_pulseaudio():
        pytest.skip("PulseAudio (pulseaudio, pulseaudio-utils) is not installed; "
                    "scripts/setup installs it")
    with pulse_rig(tmp_path_factory.mktemp("pulse")) as started:
        yield started


def devices(rig: PulseRig, tmp_path: Path, alsa_file: str | None) -> dict[str, Any]:
    cfg = tmp_path / "edged.yaml"
    cfg.write_text(f"audio:\n  input_device: {MIC}\n  output_device: {SPEAKER}\n"
                   + (f"  alsa_config: {alsa_file}\n" if alsa_file else ""))
    done = subprocess.run([sys.executable, "-m", "edged", "devices", "--config", str(cfg),
                           "--json"], env=rig.env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_the_listing_is_exactly_the_pcms_the_file_defines(rig: PulseRig,
                                                          tmp_path: Path) -> None:
    conf = tmp_path / "asound.conf"
    conf.write_text(MINIMAL)
    system = devices(rig, tmp_path, None)
    own = devices(rig, tmp_path, str(conf))
    # the system's configuration adds its own PCMs (pulse, from alsa.conf.d) ...
    assert "pulse" in [d["name"] for d in system["devices"]]
    # ... the file's has only what it defines, and the configured names still resolve
    assert [d["name"] for d in own["devices"]] == [MIC, SPEAKER, "default"]
    assert own["input"]["name"] == MIC and own["output"]["name"] == SPEAKER
    assert own["problems"] == []


def test_a_file_without_a_default_is_refused_with_file_line_and_key(
        rig: PulseRig, tmp_path: Path) -> None:
    """Both PCMs open, so PortAudio 19.6 would abort the process on this file."""
    conf = tmp_path / "asound.conf"
    conf.write_text(MINIMAL.replace("pcm.!default { type pulse }\n", ""))
    cfg = tmp_path / "edged.yaml"
    cfg.write_text(f"audio:\n  input_device: {MIC}\n  alsa_config: {conf}\n")
    done = subprocess.run([sys.executable, "-m", "edged", "devices", "--config", str(cfg)],
                          env=rig.env, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert done.stderr == (f"{cfg}:3: audio.alsa_config: {conf}: defines no default PCM "
                           "(add pcm.!default { ... }): without a default PCM PortAudio "
                           "aborts the process\n")
