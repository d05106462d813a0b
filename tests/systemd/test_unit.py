"""systemd/edged.service: checked by the real systemd-analyze, and its sandbox by seccomp.

``systemd-analyze verify`` needs every Exec*= binary to exist. Rather than create
/opt/edged on the host (or a scratch ``--root``, which then also needs every systemd
unit and /bin/kill inside it), the test verifies a copy whose ExecStart= points at a
stub executable under a temp dir; every other line is verified exactly as shipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest

from edged.config import Config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "edged.service"
EXEC = "/opt/edged/venv/bin/edged"

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed (scripts/setup "
                                   "installs the systemd package)")


def settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order (keys may repeat)."""
    out, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def values(key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in settings(UNIT.read_text()) if s == section and k == key]


def one(key: str, section: str = "Service") -> str:
    [value] = values(key, section)
    return value


def verifiable_copy(tmp_path: Path, text: str | None = None) -> Path:
    stub = tmp_path / "opt" / "edged" / "venv" / "bin" / "edged"
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = UNIT.read_text() if text is None else text
    assert f"ExecStart={EXEC} " in text
    unit = tmp_path / "edged.service"
    unit.write_text(text.replace(f"ExecStart={EXEC} ", f"ExecStart={stub} "))
    return unit


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True,
                          timeout=120, check=False)


@needs_analyze
def test_verify_prints_nothing(tmp_path: Path) -> None:
    result = analyze("verify", str(verifiable_copy(tmp_path)))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@needs_analyze
def test_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    """The check above means something: a misspelt key is reported (on stderr, exit 0)."""
    broken = UNIT.read_text().replace("WatchdogSec=30", "WatchdogSecs=30")
    result = analyze("verify", str(verifiable_copy(tmp_path, broken)))
    assert "WatchdogSecs" in result.stderr


@needs_analyze
def test_security_exposure_is_2_or_lower() -> None:
    result = analyze("security", "--offline=true", "--no-pager", str(UNIT))
    assert result.returncode == 0, result.stderr
    match = re.search(r"Overall exposure level for edged\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-500:]
    assert float(match.group(1)) <= 2.0, result.stdout
    strict = analyze("security", "--offline=true", "--threshold=20", "--no-pager", str(UNIT))
    assert strict.returncode == 0


def test_budgets_match_the_health_levels() -> None:
    health = Config().health
    assert one("MemoryHigh") == f"{health.memory_warning_mb:g}M"
    assert one("MemoryMax") == f"{health.memory_critical_mb:g}M"
    assert one("CPUQuota") == "50%"


def test_credential_matches_the_config_defaults() -> None:
    creds = Config().credentials
    assert one("LoadCredential") == f"{creds.credential}:{creds.key_file}"


def test_service_shape() -> None:
    assert one("Type") == "notify"
    assert one("ExecStart") == f"{EXEC} run --config /etc/edged/edged.yaml"
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one("WatchdogSec") == "30"
    assert one("Restart") == "on-failure"
    assert one("StartLimitBurst", "Unit")
    assert one("StartLimitIntervalSec", "Unit")
    assert values("StartLimitBurst") == []  # ignored in [Service]
    assert "network-online.target" in one("Wants", "Unit")
    assert {"network-online.target", "sound.target"} <= set(one("After", "Unit").split())
    assert one("User") == "edged"
    assert one("RuntimeDirectory") == "edged"
    assert one("RuntimeDirectoryMode") == "0750"
    assert one("StateDirectory") == "edged"
    assert "LG_WD=/run/edged" in values("Environment")
    assert one("DevicePolicy") == "closed"
    assert set(values("DeviceAllow")) == {"char-alsa rw", "char-gpiochip rw"}
    assert one("RestrictAddressFamilies").split() == ["AF_UNIX", "AF_INET", "AF_INET6",
                                                      "AF_NETLINK"]
    # gpiozero reads the Pi's revision from /proc/device-tree or /proc/cpuinfo.
    assert values("ProcSubset") == []
    assert values("PrivateDevices") == []  # would hide /dev/snd
    assert values("IPAddressDeny") == []  # the realtime endpoint is on the internet


def sandbox_syscalls() -> list[str]:
    """@system-service minus @privileged and @resources, expanded like systemd does."""
    listing = analyze("syscall-filter", "--no-pager").stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in listing.splitlines():
        if line.startswith("@"):
            current = line.strip()
            groups[current] = []
        elif line.startswith("    ") and current and not line.strip().startswith("#"):
            groups[current].append(line.strip())
        elif not line.strip():
            current = None

    def expand(name: str, seen: set[str]) -> set[str]:
        if not name.startswith("@"):
            return {name}
        if name in seen:
            return set()
        seen.add(name)
        return set().union(*(expand(n, seen) for n in groups[name]))

    assert "@system-service" in groups, listing[:300]
    allowed = expand("@system-service", set())
    denied = expand("@privileged", set()) | expand("@resources", set())
    return sorted(allowed - denied)


needs_seccomp = pytest.mark.skipif(not any(os.path.exists(f"{d}/libseccomp.so.2") for d in (
    "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/arm-linux-gnueabihf",
    "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")),
    reason="libseccomp.so.2 (a dependency of systemd) is not installed")


def run_sandboxed(tmp_path: Path, *mode: str) -> dict[str, Any]:
    """``sandboxed.py`` in a child under the unit's filters; its JSON line of results."""
    if "MemoryDenyWriteExecute=yes" not in UNIT.read_text():
        pytest.fail("the unit no longer sets MemoryDenyWriteExecute=yes: update this test")
    allowed = tmp_path / "allowed.json"
    allowed.write_text(json.dumps(sandbox_syscalls()))
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    child = Path(__file__).with_name("sandboxed.py")
    result = subprocess.run([sys.executable, str(child), str(allowed), str(tmp_path), *mode],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["wx_mmap_refused"] is True  # the W^X filter is really on
    assert report["setpriority_refused"] is True  # and so is the system call filter
    return report


@needs_analyze
@needs_seccomp
def test_native_libraries_work_under_the_units_seccomp_rules(tmp_path: Path) -> None:
    """MemoryDenyWriteExecute=yes and SystemCallFilter= do not break what edged runs."""
    (tmp_path / "in.raw").write_bytes(b"\x01\x02" * 24000)
    (tmp_path / ".asoundrc").write_text(
        f'pcm.edged_test_mic {{ type file slave.pcm "null" file "/dev/null" '
        f'infile "{tmp_path}/in.raw" format "raw" }}\n'
        f'pcm.edged_test_spk {{ type file slave.pcm "null" file "{tmp_path}/out.raw" '
        f'format "raw" }}\n')
    report = run_sandboxed(tmp_path)
    assert report["ctypes_callback"] is True
    assert report["alsa_handler_calls"] > 0  # the ALSA error handler ran as a callback
    assert report["captured"] == 960
    assert report["played"] >= 960
    assert report["dsp"] is True
    assert report["gpio_mock"] is True
    assert report["websocket"] is True


@needs_analyze
@needs_seccomp
@pytest.mark.skipif(importlib.util.find_spec("pymicro_wakeword") is None,
                    reason="the optional package pymicro-wakeword (the wakeword extra, 64-bit "
                    "only) is not installed")
@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng (installed by scripts/setup) speaks the wake word")
def test_the_wake_word_runs_under_the_units_seccomp_rules(tmp_path: Path) -> None:
    """TensorFlow Lite, as pymicro-wakeword drives it, needs no W+X memory and no filtered
    call: the shipped model, loaded as the daemon loads it, hears the phrase under both."""
    import numpy as np
    import soxr

    wav = tmp_path / "okay_nabu.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "okay nabu"], check=True, timeout=30)
    with wave.open(str(wav)) as w:
        phrase = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        rate = w.getframerate()
    pad = np.zeros(8000, np.int16)  # half a second of silence each side, at 16 kHz
    speech = soxr.resample(phrase, rate, 16000).astype(np.int16)
    (tmp_path / "okay_nabu.raw").write_bytes(np.concatenate([pad, speech, pad]).tobytes())
    report = run_sandboxed(tmp_path, "wake_word")
    assert report["wake_model"] == "okay_nabu"
    assert report["wake_tone_steps"] >= 1000 // 30  # at least one per 30 ms model step
    assert report["wake_tone_max"] < report["wake_cutoff"]  # a tone is not the phrase
    assert report["wake_phrase_max"] > report["wake_cutoff"]  # the phrase is: the model ran
