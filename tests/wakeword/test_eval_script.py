"""``scripts/wakeword-eval`` really measures: the real model, real espeak-ng speech.

The script runs as a subprocess with two voices, one speed and half a minute of
non-wake audio. The wake phrase must be detected in clean speech and a phrase that
is not the wake word never, so a faked detector fails one or the other. The signal
helpers are checked on their own against what they promise (SNR, spectrum slope,
chord changes). No timing is asserted: CPU figures depend on the machine.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import math
import platform
import random
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "wakeword-eval"
TINY = ["--voices", "en-us,en-gb-x-rp", "--speeds", "160"]


def have_model() -> bool:
    try:
        import pymicro_wakeword  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


needs_model = pytest.mark.skipif(
    not have_model(), reason="pymicro-wakeword exists only for 64-bit systems")
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="needs espeak-ng (installed by scripts/setup) for synthetic speech")


def script() -> ModuleType:
    """The script, imported (it has no .py suffix; its dataclasses need sys.modules)."""
    name = "edged_scripts_wakeword_eval"
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.machinery.SourceFileLoader(name, str(SCRIPT))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=240, check=False)


def rows(markdown: str) -> dict[str, tuple[int, int]]:
    """Condition → (detected, total), from the script's Markdown table."""
    found = {}
    for line in markdown.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and (m := re.fullmatch(r"(\d+)/(\d+)", cells[4])):
            found[cells[0]] = (int(m.group(1)), int(m.group(2)))
    return found


# ------------------------------------------------------------------ the script, end to end


@needs_model
@needs_espeak
def test_the_wake_phrase_is_detected_and_the_report_is_complete() -> None:
    from edged.wakeword.models import resolve

    done = run(*TINY, "--minutes", "0.5", "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)

    assert re.fullmatch(r"\d{4}-\d\d-\d\d", report["date"])
    assert report["machine"]["arch"] == platform.machine()
    assert report["machine"]["cpu"] and report["machine"]["cpu"] != "unknown"
    assert report["pymicro_wakeword"] == metadata.version("pymicro-wakeword")
    spec = resolve("okay_nabu")
    assert report["model"] == "okay_nabu"
    assert report["threshold"] == spec.cutoff

    det = report["detection"]
    names = [c.name for c in script().CONDITIONS]
    assert [r["label"] for r in det["rows"]] == names
    assert all(r["total"] == 2 for r in det["rows"])  # two voices × one speed
    clean = next(r for r in det["rows"] if r["label"] == "clean")
    assert clean["detected"] > 0
    assert det["all"]["total"] == 2 * len(names)
    assert sum(r["detected"] for r in det["by_voice"]) == det["all"]["detected"]
    assert det["delay_after_phrase_s"] is not None

    fa = report["false_accepts"]
    assert fa["audio_s"] == 30.0
    assert fa["sentences"] > 0 and 0 < fa["speech_s"] < fa["audio_s"]
    assert fa["per_hour"] == pytest.approx(fa["accepts"] * 3600 / fa["audio_s"], abs=0.01)
    assert len(fa["triggered"]) == fa["accepts"]
    assert 0.0 < fa["max_probability"] < 1.0  # the model ran over it and said something
    assert fa["closest"][0]["probability"] == fa["max_probability"]

    cpu = report["cpu"]
    heard = 2 * sum(2 * script().PAD_S + 0.5 for _ in names)  # at least, per sample
    assert cpu["audio_s"] > fa["audio_s"] + heard
    assert cpu["cpu_s"] > 0 and math.isfinite(cpu["core_pct"])


@needs_model
@needs_espeak
def test_a_phrase_that_is_not_the_wake_word_is_never_detected() -> None:
    done = run(*TINY, "--minutes", "0", "--phrase", "good morning")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    found = rows(out)
    assert set(found) == {c.name for c in script().CONDITIONS} | {"all"}
    assert all(k == 0 for k, _ in found.values())
    assert all(n == 2 for name, (_, n) in found.items() if name != "all")
    assert 'Phrase "good morning"' in out
    assert f"pymicro-wakeword {metadata.version('pymicro-wakeword')}" in out
    assert "threshold 0.85" in out and platform.machine() in out
    assert "False accepts: not measured" in out
    assert "not real rooms" in out


@needs_espeak
@pytest.mark.parametrize(("args", "says"), [
    (["--voices", "xx-nosuch"], "espeak-ng -v xx-nosuch"),
    (["--voices", "en-gb,en-gb+f3"], "sound the same"),
    (["--model", "/nonexistent/wake.json"], "/nonexistent/wake.json: no such file"),
])
def test_bad_input_gets_a_message_not_a_traceback(args: list[str], says: str) -> None:
    if "--model" not in args and not have_model():
        pytest.skip("pymicro-wakeword exists only for 64-bit systems")
    done = run(*args, "--minutes", "0", "--speeds", "160")
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr


def test_bad_arguments_name_the_option() -> None:
    done = run("--speeds", "fast")
    assert done.returncode == 2 and "--speeds" in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------------ the pure parts


def measured_snr(s: ModuleType, speech: np.ndarray, mixed: np.ndarray, offset: int) -> float:
    noise = mixed.copy()
    noise[offset:offset + speech.size] -= speech
    return float(20 * np.log10(s.rms(speech) / s.rms(noise)))


@pytest.mark.parametrize("kind", ["white", "pink", "tones"])
@pytest.mark.parametrize("snr", [20.0, 5.0])
def test_backgrounds_are_mixed_at_the_asked_signal_to_noise_ratio(kind: str,
                                                                  snr: float) -> None:
    s = script()
    rng = np.random.default_rng(1)
    speech = s.at_peak(s.tones(8000, rng), -20.0)
    mixed = s.mix(speech, s.background(kind, 40000, rng), 16000, snr)
    assert measured_snr(s, speech, mixed, 16000) == pytest.approx(snr, abs=0.01)


def test_pink_noise_falls_3_db_per_octave() -> None:
    s = script()
    x = s.pink(1 << 18, np.random.default_rng(2)).astype(np.float64)
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / 16000)

    def band(lo: float) -> float:
        return float(power[(f >= lo) & (f < 2 * lo)].sum())

    # 1/f power: every octave holds the same energy (white noise would double it)
    for lo in (250.0, 500.0, 1000.0, 2000.0):
        assert band(2 * lo) / band(lo) == pytest.approx(1.0, abs=0.1)


def test_music_like_tones_change_chord_every_half_second() -> None:
    s = script()
    x = s.tones(16000 * 4, np.random.default_rng(3))
    spectra = [np.abs(np.fft.rfft(x[i:i + 8000])) for i in range(0, x.size, 8000)]
    tops = [frozenset(np.argsort(sp)[-3:].tolist()) for sp in spectra]
    assert len(set(tops)) > len(tops) // 2  # the chords differ
    for i in range(0, x.size, 8000):  # struck, then decaying, then let go
        seg = np.abs(x[i:i + 8000])
        assert seg[:800].max() > 2 * seg[-1600:-400].max()
        assert seg[-8:].max() < 0.05 * seg.max()


def test_a_detection_counts_only_between_the_phrase_and_the_window_tail() -> None:
    s = script()
    assert s.hit([0.5, 2.0], 1.5, 2.5) == 2.0
    assert s.hit([0.5], 1.5, 2.5) is None  # before the phrase
    assert s.hit([2.5 + s.WINDOW_TAIL_S + 0.01], 1.5, 2.5) is None  # too late
    assert s.hit([2.5 + s.WINDOW_TAIL_S], 1.5, 2.5) == 2.5 + s.WINDOW_TAIL_S


def test_probabilities_are_spread_over_their_batch_and_owned_by_the_playing_segment() -> None:
    s = script()
    assert s.step_times(1.0, 0.06, 6) == pytest.approx([1.01, 1.02, 1.03, 1.04, 1.05, 1.06])
    assert s.step_times(1.0, 0.06, 2) == pytest.approx([1.03, 1.06])
    starts = [0.0, 2.5, 4.0, 9.0]
    assert [s.owner(starts, t) for t in (0.0, 2.4, 2.5, 5.0, 100.0)] == [0, 0, 1, 2, 3]


@pytest.mark.parametrize("phrase", ["Okay Nabu", "Hey Jarvis", "Alexa", "Hey Mycroft",
                                    "okay now"])
def test_the_non_wake_corpus_never_says_the_wake_phrase(phrase: str) -> None:
    s = script()
    rng = random.Random(5)
    said = [s.sentence(rng, phrase)[0] for _ in range(3000)]
    key = s.letters(phrase)
    assert all(key not in s.letters(t) for t in said)
    assert len(set(said)) > 300  # many different sentences, not a few repeated


def test_the_stream_plan_is_fixed_by_the_seed() -> None:
    s = script()

    def first(seed: int) -> list[Any]:
        gen = s.plan(random.Random(seed), "Okay Nabu", s.VOICES)
        return [next(gen) for _ in range(200)]

    assert first(7) == first(7) != first(8)
    plan = first(7)
    assert any(seg.text is None for seg in plan)  # noise or tones alone
    assert any(seg.near_miss for seg in plan)
    assert any(seg.text and seg.background != "silence" for seg in plan)  # speech over noise
