"""``scripts/bench_memory.py``: its arithmetic on made-up readings, and one real budget.

The helpers are checked on hand-written /proc text and readings. The budget and the
device probe run for real, in fresh interpreters on a private PulseAudio rig, once with
the system's ALSA configuration and once with the rig's PCMs only: no size is asserted,
only that every component is measured and that the smaller ALSA configuration makes
the device probe cheaper, which is what the comparison exists to show.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from edged.rig.pulse import PulseRig, have_pulseaudio, pulse_rig
from tests.rigs.scripts import load_script

ROOT = Path(__file__).resolve().parent.parent


def bench_memory() -> ModuleType:
    """``scripts/bench_memory.py``, imported as a module."""
    return load_script("bench_memory.py")


SMAPS = """\
55d0c0000000-55d0c0001000 r--p 00000000 08:01 100   /usr/bin/python3.11
Rss:                   4 kB
Pss:                   2 kB
VmFlags: rd mr mw me sd
7f0000000000-7f0000010000 r--p 00000000 08:01 200   /usr/lib/x86_64-linux-gnu/libasound.so.2.0.0
Size:                 64 kB
Rss:                  40 kB
VmFlags: rd mr mw me sd
7f0000010000-7f0000050000 r-xp 00010000 08:01 200   /usr/lib/x86_64-linux-gnu/libasound.so.2.0.0
Rss:                 200 kB
VmFlags: rd ex mr mw me sd
7f0000050000-7f0000060000 rw-p 00000000 00:00 0
Rss:                  12 kB
VmFlags: rd wr mr mw me ac sd
7f0000060000-7f0000061000 r--p 00000000 08:01 300   /opt/my lib/libfoo.so
Rss:                   4 kB
7f0000070000-7f0000080000 rw-p 00000000 00:00 0
Rss:                   8 kB
55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0     [heap]
Rss:                 512 kB
"""


def test_each_component_is_held_to_its_budget() -> None:
    bm = bench_memory()
    steps = [{"step": "interpreter", "rss_mb": 11.0}, {"step": "numpy + soxr", "rss_mb": 18.0},
             {"step": "PyAudio() device probe", "rss_mb": 19.0},
             {"step": "something new", "rss_mb": 1.0}]
    minimal = bm.held(steps, system=False)
    assert [(r["budget_mb"], r["met"]) for r in minimal] == \
        [(12.0, True), (17.0, False), (6.5, False), (None, None)]
    # with the system's ALSA configuration the probe has a larger budget of its own
    assert bm.held(steps, system=True)[2] == {"step": "PyAudio() device probe",
                                              "rss_mb": 19.0, "budget_mb": 21.5, "met": True}
    assert set(bm.BUDGET_MB) == {name for name, _ in bm.STEPS}  # every step has one


def test_smaps_text_becomes_resident_kb_per_mapped_file() -> None:
    bm = bench_memory()
    assert bm.mapping_rss(SMAPS) == {
        "/usr/bin/python3.11": 4,
        "/usr/lib/x86_64-linux-gnu/libasound.so.2.0.0": 240,  # both mappings summed
        "[anon]": 20,
        "/opt/my lib/libfoo.so": 4,
        "[heap]": 512,
    }


def test_new_libraries_are_the_shared_objects_mapped_since_largest_first() -> None:
    bm = bench_memory()
    before = {"/usr/bin/python3.11": 4, "/usr/lib/libc.so.6": 900, "[heap]": 100}
    after = {**before, "/usr/lib/libc.so.6": 1000, "[heap]": 600, "[anon]": 50,
             "/usr/lib/libjack.so.0.1.0": 300, "/usr/lib/libdb-5.3.so": 1600,
             "/x/_portaudio.cpython-311-x86_64-linux-gnu.so": 44, "/dev/shm/jack_db": 8}
    rows = bm.new_libraries(before, after)
    assert rows == [{"library": "/usr/lib/libdb-5.3.so", "rss_kb": 1600},
                    {"library": "/usr/lib/libjack.so.0.1.0", "rss_kb": 300},
                    {"library": "/x/_portaudio.cpython-311-x86_64-linux-gnu.so", "rss_kb": 44}]
    assert bm.new_libraries(before, after, top=1) == rows[:1]


def test_probe_totals_split_new_libraries_touched_ones_heap_and_jack() -> None:
    bm = bench_memory()
    before = {"/usr/lib/libc.so.6": 900, "[heap]": 100}
    imported = {**before, "/usr/lib/libportaudio.so.2": 180, "/usr/lib/libjack.so.0": 300,
                "/usr/lib/libdb-5.3.so": 200}
    probed = {**imported, "/usr/lib/libdb-5.3.so": 1600, "/usr/lib/libc.so.6": 1000,
              "/usr/lib/libpulse.so.0": 300, "[heap]": 612, "[anon]": 100}
    totals = bm.probe_totals({"before": before, "imported": imported, "probed": probed})
    assert totals == {"import_libraries_mb": 0.66, "probe_libraries": 1,
                      "probe_new_libraries_mb": 0.29,
                      "probe_grown_libraries_mb": 1.46,  # (1400 + 100) kB
                      "probe_heap_and_other_mb": 0.6,  # (512 + 100) kB
                      "jack_mb": 1.86}  # (300 + 1600) kB
    staged = bm.staged_libraries({"before": before, "imported": imported, "probed": probed})
    assert [(r["library"].rsplit("/", 1)[1], r["stage"]) for r in staged] == [
        ("libdb-5.3.so", "import pyaudio"), ("libjack.so.0", "import pyaudio"),
        ("libpulse.so.0", "PyAudio()"), ("libportaudio.so.2", "import pyaudio")]


def test_each_step_is_charged_what_it_added_and_the_first_from_zero() -> None:
    bm = bench_memory()
    readings = [("interpreter", {"rss_kb": 10240, "pss_kb": 6144, "modules": 70}),
                ("numpy", {"rss_kb": 25600, "pss_kb": 18432, "modules": 190}),
                ("probe", {"rss_kb": 25600, "pss_kb": 17408, "modules": 190})]
    assert bm.step_deltas(readings) == [
        {"step": "interpreter", "rss_mb": 10.0, "pss_mb": 6.0, "modules": 70},
        {"step": "numpy", "rss_mb": 15.0, "pss_mb": 12.0, "modules": 120},
        {"step": "probe", "rss_mb": 0.0, "pss_mb": -1.0, "modules": 0}]


def test_medians_are_taken_step_by_step_and_runs_must_measure_the_same_steps() -> None:
    bm = bench_memory()

    def run(*rss: float) -> list[dict[str, Any]]:
        return [{"step": name, "rss_mb": r, "pss_mb": r / 2, "modules": 1}
                for name, r in zip(["a", "b"], rss, strict=True)]

    steps = bm.median_steps([run(1.0, 5.0), run(3.0, 4.0), run(2.0, 9.0)])
    assert steps == [
        {"step": "a", "rss_mb": 2.0, "pss_mb": 1.0, "modules": 1,
         "rss_mb_runs": [1.0, 3.0, 2.0]},
        {"step": "b", "rss_mb": 5.0, "pss_mb": 2.5, "modules": 1,
         "rss_mb_runs": [5.0, 4.0, 9.0]}]
    with pytest.raises(ValueError, match="different steps"):
        bm.median_steps([run(1.0, 2.0), [{"step": "a", "rss_mb": 1.0, "pss_mb": 1.0,
                                          "modules": 1}]])


def test_a_budget_is_the_figure_plus_ten_percent_rounded_up_to_half_a_megabyte() -> None:
    bm = bench_memory()
    assert bm.budget_mb(15.18) == 17.0  # 16.7 → 17.0
    assert bm.budget_mb(1.62) == 2.0  # 1.78 → 2.0
    assert bm.budget_mb(0.86) == 1.0
    assert bm.budget_mb(0.0) == 0.5


def test_the_minimal_config_defines_the_rig_pcms_and_a_default() -> None:
    text = bench_memory().minimal_rig_config()
    lines = text.splitlines()
    assert 'pcm.edged_mic { type pulse device "edged_mic" }' in lines
    assert 'pcm.edged_spk { type pulse device "edged_spk" }' in lines
    assert "pcm.!default { type pulse }" in lines
    assert "ctl.!default { type pulse }" in lines


# --------------------------------------------------------------------------- for real


@pytest.fixture(scope="module")
def rig() -> Iterator[PulseRig]:
    if not have_pulseaudio():
        pytest.skip("PulseAudio (pulseaudio, pulseaudio-utils) is not installed; "
                    "scripts/setup installs it")
    with pulse_rig() as r:
        yield r


@pytest.fixture(scope="module")
def minimal_config(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("alsa") / "asound-minimal.conf"
    path.write_text(bench_memory().minimal_rig_config())
    return str(path)


@pytest.mark.pulse
@pytest.mark.timeout(120)
def test_every_component_is_measured_and_the_probe_costs_less_with_the_rig_pcms_only(
        rig: PulseRig, minimal_config: str) -> None:
    bm = bench_memory()
    system = bm.budget(rig.env, None, repeats=1)
    minimal = bm.budget(rig.env, minimal_config, repeats=1)
    names = [name for name, _ in bm.STEPS]
    for result, config in ((system, "system"), (minimal, minimal_config)):
        assert result["alsa_config"] == config
        assert result["order"] == names
        assert "first that loads it" in result["order_note"]
        assert [s["step"] for s in result["steps"]] == names
        for s in result["steps"]:
            assert isinstance(s["rss_mb"], float) and len(s["rss_mb_runs"]) == 1
        assert result["total_rss_mb"] == pytest.approx(
            sum(s["rss_mb"] for s in result["steps"]), abs=0.02)
        assert result["malloc_trim_mb"] <= 0
    steps = {s["step"]: s for s in system["steps"]}
    assert steps["numpy + soxr"]["modules"] > 0 and steps["edged's modules"]["modules"] > 0

    def probe(result: dict[str, Any]) -> float:
        return float(next(s["rss_mb"] for s in result["steps"]
                          if s["step"] == "PyAudio() device probe"))

    assert probe(system) > probe(minimal)


@pytest.mark.pulse
@pytest.mark.timeout(60)
def test_the_probe_maps_the_pulse_plugin_libraries_and_finds_the_rig_pcms(
        rig: PulseRig, minimal_config: str) -> None:
    bm = bench_memory()
    p = bm.probe(rig.env, minimal_config)
    assert p["devices"] == ["edged_mic", "edged_spk", "default"]
    rows = bm.staged_libraries(p, top=None)
    stage = {Path(r["library"]).name.split(".so")[0]: r["stage"] for r in rows}
    assert stage["libportaudio"] == "import pyaudio"
    assert stage["libpulse"] == "PyAudio()"  # the ALSA pulse plugin's library
    assert all(r["rss_kb"] > 0 for r in rows)
    assert rows == sorted(rows, key=lambda r: -r["rss_kb"])
    assert bm.probe_libraries(rig.env, minimal_config, top=3)[0]["rss_kb"] > 0


@pytest.mark.pulse
@pytest.mark.timeout(60)
def test_an_alsa_config_portaudio_cannot_use_is_named_in_one_line(
        rig: PulseRig, tmp_path: Path) -> None:
    bm = bench_memory()
    bad = tmp_path / "broken.conf"
    bad.write_text("pcm.!default { type nosuchtype }\n{{{\n")
    with pytest.raises(bm.ChildFailed) as caught:
        bm.budget(rig.env, str(bad), repeats=1)
    message = str(caught.value)
    assert f"ALSA_CONFIG_PATH={bad}" in message and "\n" not in message
    assert "OSError" in message  # PyAudio's own last word, not a traceback
