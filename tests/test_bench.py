"""``scripts/bench --quick --json`` works and reports every figure, over ws:// and wss://.

Only that it runs and what it reports are checked: the figures depend on the machine
and its load, so no timing or size is asserted (the benchmark states its targets). The
arithmetic the tools figures are made with is checked on made-up samples.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from edged.rig.tls import HAVE_OPENSSL
from tests.rigs.pulse import have_pulseaudio
from tests.rigs.scripts import load_script

ROOT = Path(__file__).resolve().parent.parent

TARGETED = ["cpu_idle_pct", "cpu_idle_own_pct", "cpu_full_duplex_pct",
            "cpu_full_duplex_own_pct", "rss_steady_mb", "rss_steady_pi_like_mb", "rss_growth_mb",
            "uplink_added_p95_ms", "downlink_added_p95_ms", "barge_in_p95_ms",
            "reconnect_p95_s", "cold_start_p50_s", "stop_max_s", "tools_rss_mb",
            "tools_all_in_rss_mb", "wake_word_cpu_pct", "wake_word_rss_mb"]


def number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)


def bench_module() -> ModuleType:
    """``scripts/bench.py``, imported (its dataclasses need it in sys.modules)."""
    return load_script("bench.py")


def test_tools_figures_are_on_minus_off_per_pair_beside_the_tools_off_spread() -> None:
    bench = bench_module()
    samples = [{"tools": side, "pair": pair, "rss_mb": rss, "pss_mb": pss,
                "rss_at_idle_mb": rss}
               for side, pair, rss, pss in [("off", 0, 60.0, 40.0), ("on", 0, 60.5, 40.2),
                                            ("on", 1, 61.0, 40.4), ("off", 1, 60.2, 40.1),
                                            ("off", 2, 60.1, 40.0), ("on", 2, 60.4, 40.3)]]
    cost: dict[str, Any] = bench.tools_cost(samples)
    assert cost["pairs"] == 3 and cost["order"] == ["off", "on", "on", "off", "off", "on"]
    assert cost["rss_delta_mb"] == {"median": 0.5, "min": 0.3, "max": 0.8, "spread": 0.5,
                                    "n": 3}
    assert cost["pss_delta_mb"]["median"] == 0.3
    assert cost["on"]["rss_mb"]["median"] == 60.5 and cost["off"]["rss_mb"]["median"] == 60.1
    assert cost["rss_noise_mb"] == 0.2  # the tools-off daemons: 60.0 … 60.2
    assert cost["rss_ratio"] == round(60.5 / 60.0, 4)  # the median of the pairs' on / off
    headline = bench.headline({"tools": {**cost, "rss_all_in_mb": 0.9}})
    assert (headline["tools_rss_mb"], headline["tools_all_in_rss_mb"]) == (0.5, 0.9)
    # the tools code a tools-off daemon imported anyway is counted once, beside on − off
    assert bench.all_in(0.5, 0.4, True) == 0.9
    assert bench.all_in(0.5, 0.4, False) == 0.5
    assert bench.all_in(0.5, None, True) is None


def test_the_modules_a_daemon_imported_come_from_its_importtime_lines() -> None:
    bench = bench_module()
    log = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:      1701 |       1701 |               edged.tools.clock",
        "a journal line | with | bars",
        "import time:       533 |      64070 |           edged.tools",
        "import time:        42 |      64112 |         edged.tools.clock",
        "import time:        42 |      64112 |         edged.daemon.tools",
    ])
    names = bench.imported_modules(log)
    assert names == ["edged.tools.clock", "edged.tools", "edged.daemon.tools"]
    assert [bench.is_tools_module(n) for n in ("edged.tools", "edged.toolsy",
                                               "edged.daemon.tools", "edged.daemon")] == \
        [True, False, True, False]


def check_budget(result: dict[str, Any]) -> None:
    """The memory budget: every component measured and held to its budget, both ways."""
    for side in ("system", "minimal"):
        held = result["memory_budget"][side]["held"]
        assert [r["step"] for r in held][:2] == ["interpreter", "numpy + soxr"], side
        assert all(number(r["rss_mb"]) and isinstance(r["met"], bool) for r in held), side


def check_floors(run: dict[str, Any], where: str) -> None:
    """The Pi-like floor and the peer pair, beside every CPU window, and the Pi-like run."""
    for phase in ("cpu_idle", "cpu_idle_awake", "cpu_full_duplex"):
        cpu = run[phase]
        for floor in ("pi_like", "peer_pair"):
            assert number(cpu["floors"][floor]) and cpu["floors"][floor] > 0, \
                where + f"{phase} {floor}"
    pi_like = run["pi_like"]
    for key in ("rss_steady_mb", "pss_steady_mb"):
        assert number(pi_like["memory"][key]) and pi_like["memory"][key] > 0, where + key
    assert number(pi_like["floor_memory"]["rss_mb"]), where + "Pi-like floor RSS"
    assert number(pi_like["cpu_full_duplex"]["own_pct_pi_like"]), where + "Pi-like share"
    assert pi_like["full_duplex_answers"] > 0, where + "the Pi-like daemon was answered"
    # the minimal ALSA configuration is what keeps the probe small: the Pi-like
    # floor maps less than the floor with the system's configuration
    assert pi_like["floor_memory"]["rss_mb"] < run["portaudio_floor"]["memory"]["rss_mb"]
    assert number(run["peer_pair"]["memory"]["rss_mb"]), where + "peer pair RSS"


@pytest.mark.timeout(600)
@pytest.mark.pulse
@pytest.mark.skipif(not have_pulseaudio(), reason="the benchmark runs on a private "
                    "PulseAudio (pulseaudio, pulseaudio-utils; scripts/setup installs them)")
@pytest.mark.skipif(not HAVE_OPENSSL, reason="the wss:// run needs openssl for its "
                    "loopback certificate (scripts/setup installs it)")
def test_quick_json_run_reports_every_figure_for_both_transports() -> None:
    done = subprocess.run([str(ROOT / "scripts" / "bench"), "--quick", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert result["quick"] is True
    quick = result["setup"]["durations"]
    assert set(result["runs"]) == {"ws", "wss"}
    for transport, run in result["runs"].items():
        where = f"{transport}: "
        assert number(run["cold_start_s"]["p50"]), where + "cold start"
        assert number(run["start_to_link_up_s"]["p50"]), where + "start to link up"
        assert run["stop_s"]["n"] == quick["cold_starts"] - 1 > 0, where + "stops timed"
        assert number(run["stop_s"]["max"]), where + "stop"
        for phase in ("cpu_idle", "cpu_idle_awake", "cpu_full_duplex"):
            cpu = run[phase]
            for key in ("pct", "pct_from_ticks", "floor_pct", "own_pct"):
                assert number(cpu[key]), where + f"{phase}.{key}"
            assert "main (event loop)" in cpu["by_thread"], where + phase
        check_floors(run, where)

        memory = run["memory"]
        for key in ("rss_steady_mb", "pss_steady_mb", "rss_peak_mb", "pss_peak_mb"):
            assert number(memory[key]) and memory[key] > 0, where + key
        assert number(run["portaudio_floor"]["memory"]["rss_mb"]), where + "floor RSS"
        growth = run["growth"]
        assert (growth["turns"], growth["drops"]) == (quick["soak_turns"], quick["soak_drops"])
        assert number(growth["rss_mb"]) and number(growth["pss_mb"]), where + "growth"
        assert growth["answers"] > 0, where + "the soak's turns were answered"
        assert run["full_duplex_answers"] > 0, where + "the hands-free talk was answered"
        latency = run["latency_ms"]
        for key in ("uplink", "input_lag", "uplink_added", "uplink_beyond_device_median",
                    "downlink_to_device", "downlink_audible", "earcon", "release_commit",
                    "downlink_added", "downlink_scheduled", "barge_in", "barge_in_flush"):
            assert latency[key]["n"] > 0, where + f"no {key} samples"
            assert number(latency[key]["p50"]) and number(latency[key]["p95"]), where + key
        # edged's own uplink part is matched per batch to the callback that completed it
        assert latency["uplink_added"]["n"] >= latency["uplink"]["n"] // 2, where + "matched"
        assert number(latency["output_latency"])
        for key in ("uplink_p95_ms", "downlink_p95_ms"):  # the daemon's own health figures
            assert number(run["health"][key]), where + key
        assert run["reconnect_s"]["n"] == quick["soak_drops"]
        assert number(run["reconnect_s"]["p95"]), where + "reconnect"
        tools = run["tools"]
        assert tools["pairs"] == quick["tools_pairs"] > 1, where + "tools pairs"
        assert sorted(tools["order"]) == sorted(["off", "on"] * quick["tools_pairs"]), \
            where + "tools daemons"
        for key in ("rss_delta_mb", "pss_delta_mb"):
            assert tools[key]["n"] == quick["tools_pairs"], where + key
            assert number(tools[key]["median"]), where + key
        for side in ("on", "off"):
            assert tools[side]["rss_mb"]["min"] > 0, where + f"tools {side} RSS"
        for key in ("rss_noise_mb", "pss_noise_mb", "rss_ratio", "pss_ratio", "rss_all_in_mb"):
            assert number(tools[key]), where + key
        # the shell itself is imported only with tools on
        assert "edged.daemon.tools" in tools["imports"]["tools_modules_on"], where
        assert "edged.daemon.tools" not in tools["imports"]["tools_modules_off"], where
        assert number(tools["code"]["rss_mb"]["median"]), where + "tools code"
        if importlib.util.find_spec("pymicro_wakeword") is not None:  # a 64-bit system
            # every set has a daemon whose model never rests
            assert run["wake_word"]["pairs"] == quick["wake_pairs"] == \
                run["wake_word"]["running_own_delta_pct"]["n"], where + "wake word sets"
    check_budget(result)
    for name in TARGETED:
        row = result["targets"][name]
        assert row["target"], name
        for transport in ("ws", "wss"):
            assert number(row[transport]["value"]), f"{name} {transport}"
            assert isinstance(row[transport]["met"], bool)
