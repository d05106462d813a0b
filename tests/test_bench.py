"""``scripts/bench --quick --json`` works and reports every figure, over ws:// and wss://.

Only that it runs and what it reports are checked: the figures depend on the machine
and its load, so no timing or size is asserted (the benchmark states its targets).
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from edged.rig.tls import HAVE_OPENSSL
from tests.rigs.pulse import have_pulseaudio

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.pulse,
    pytest.mark.skipif(not have_pulseaudio(), reason="the benchmark runs on a private "
                       "PulseAudio (pulseaudio, pulseaudio-utils; scripts/setup installs them)"),
    pytest.mark.skipif(not HAVE_OPENSSL, reason="the wss:// run needs openssl for its "
                       "loopback certificate (scripts/setup installs it)"),
]

TARGETED = ["cpu_idle_pct", "cpu_idle_own_pct", "cpu_full_duplex_pct",
            "cpu_full_duplex_own_pct", "rss_steady_mb", "rss_growth_mb",
            "uplink_added_p95_ms", "downlink_added_p95_ms", "barge_in_p95_ms",
            "reconnect_p95_s", "cold_start_p50_s", "stop_max_s"]


def number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)


@pytest.mark.timeout(600)
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
                    "downlink_to_device",
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
    for name in TARGETED:
        row = result["targets"][name]
        assert row["target"], name
        for transport in ("ws", "wss"):
            assert number(row[transport]["value"]), f"{name} {transport}"
            assert isinstance(row[transport]["met"], bool)
