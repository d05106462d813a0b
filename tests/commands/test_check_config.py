"""``edged check-config`` with the wake word: the model is loaded as the daemon will."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from edged import config

ROOT = Path(__file__).resolve().parents[2]


def check(path: Path, *, hide_package: bool = False) -> subprocess.CompletedProcess[str]:
    """The real command in a child; ``hide_package``: as on a system without the wake
    word's package (a None in sys.modules makes its import fail, as a missing one does)."""
    code = ("import sys\n"
            + ("sys.modules['pymicro_wakeword'] = None\n" if hide_package else "")
            + "from edged.cli import main\nsys.exit(main(['check-config', sys.argv[1]]))\n")
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, cwd=ROOT, check=False, timeout=60)


def write(tmp_path: Path, wake: str) -> Path:
    path = tmp_path / "edged.yaml"
    path.write_text("realtime:\n  model: gpt-realtime\n\nwake_word:\n  enabled: true\n" + wake)
    return path


def test_an_unknown_model_name_is_a_file_line_error(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.load(write(tmp_path, "  model: okay_nabo\n"))
    assert str(err.value).startswith(f"{tmp_path / 'edged.yaml'}:6: wake_word.model: "
                                      "'okay_nabo' is not a shipped model")


def test_a_relative_manifest_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=re.escape(
            ":6: wake_word.model: a custom model is the absolute path")):
        config.load(write(tmp_path, "  model: words/hey.json\n"))


def test_the_threshold_has_a_range(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError,
                       match=re.escape(":6: wake_word.threshold: 1.5 is out of range")):
        config.load(write(tmp_path, "  threshold: 1.5\n"))


def test_a_shipped_model_passes_and_the_summary_says_so(tmp_path: Path) -> None:
    pytest.importorskip("pymicro_wakeword", reason="the package is for 64-bit systems")
    done = check(write(tmp_path, "  model: hey_jarvis\n"))
    assert done.returncode == 0, done.stderr
    assert "wake word hey_jarvis" in done.stdout


def test_a_missing_custom_model_names_the_file_line_and_key(tmp_path: Path) -> None:
    pytest.importorskip("pymicro_wakeword", reason="the package is for 64-bit systems")
    missing = tmp_path / "hey.json"
    done = check(write(tmp_path, f"  model: {missing}\n"))
    assert done.returncode == 2
    assert f"edged.yaml:6: wake_word.model: {missing}: no such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_the_package_it_says_a_64_bit_os_is_needed(tmp_path: Path) -> None:
    done = check(write(tmp_path, ""), hide_package=True)
    assert done.returncode == 2, done.stdout
    line = done.stderr.splitlines()[0]
    # no model key: the line of the wake_word section
    assert "edged.yaml:4: wake_word.model: the wake word needs the optional package " \
           "pymicro-wakeword" in line
    assert "64-bit" in line and "Traceback" not in done.stderr


def test_the_wake_word_off_needs_no_package(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    path.write_text("realtime:\n  model: gpt-realtime\nwake_word:\n  enabled: false\n")
    assert check(path, hide_package=True).returncode == 0


# ---------------------------------------------------------------- audio.alsa_config

def write_alsa(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "edged.yaml"
    path.write_text(f"realtime:\n  model: gpt-realtime\n\naudio:\n  alsa_config: {value}\n")
    return path


def test_an_alsa_config_with_a_default_pcm_passes(tmp_path: Path) -> None:
    conf = tmp_path / "asound.conf"
    conf.write_text('pcm.usb { type hw card Device }\npcm.!default { type plug slave.pcm '
                    '"usb" }\n')
    done = check(write_alsa(tmp_path, str(conf)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(": ok — openai gpt-realtime, voice alloy, turn detection "
                                "semantic_vad, gpio on\n")


@pytest.mark.parametrize(("value", "reason"), [
    ("asound.conf", "must be an absolute path (e.g. /etc/edged/asound.conf)"),
    ("/etc/edged/my asound.conf", "must not contain ':' or spaces (ALSA splits "
     "ALSA_CONFIG_PATH into several files at them)"),
    ("{tmp}/missing.conf", "{tmp}/missing.conf: no such file"),
    ("{tmp}", "{tmp}: is a directory, not a file"),
    ("{tmp}/no-default.conf", "{tmp}/no-default.conf: defines no default PCM (add "
     "pcm.!default { ... }): without a default PCM PortAudio aborts the process"),
])
def test_an_unusable_alsa_config_is_a_file_line_error(tmp_path: Path, value: str,
                                                      reason: str) -> None:
    (tmp_path / "no-default.conf").write_text(
        "# pcm.!default { type pulse }\npcm.usb { type hw card Device }\n")
    path = write_alsa(tmp_path, value.replace("{tmp}", str(tmp_path)))
    done = check(path)
    assert done.returncode == 2, done.stdout
    assert done.stderr == (f"{path}:5: audio.alsa_config: "
                           f"{reason.replace('{tmp}', str(tmp_path))}\n1 problem found\n")
