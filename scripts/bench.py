"""Benchmark edged: CPU, memory, added latency, reconnects and cold start, with targets.

The real daemon runs in its own process against the built-in simulator (a thread of
this process, so its CPU is never counted as edged's) on a private PulseAudio with
48 kHz stereo null sinks, the format a USB speaker and microphone offer; the daemon
opens them at 48 kHz stereo and converts to and from the API's 24 kHz mono itself.
Everything runs twice: over ws:// and over wss:// (a self-signed certificate on
loopback, trusted through SSL_CERT_FILE, which Python's default context honours).

1. ``edged run`` itself, driven over its control socket as ``edged ctl`` drives it:
   cold start (process start → READY=1 on a NOTIFY_SOCKET listener), CPU and memory
   connected and idle, CPU in a hands-free conversation (a sentence fed to the
   microphone every 4 s, each answered), then the soak (push-to-talk turns, then
   forced reconnects: memory growth, and drop → link up again from the daemon's own
   link events).
2. ``scripts/bench_host.py``: the same daemon, built as ``edged run`` builds it, with
   its timestamps opened up, for the added latencies and the barge-in.
3. What the tools subsystem costs in memory: ``edged run`` daemons alike but for
   ``tools.enabled``, in pairs, each taking the same typed turn (``say`` on the control
   socket; with tools on, the simulator answers it with a ``set_timer`` call, so it is a
   tool round), then idle: RSS and PSS once settled, on − off per pair, beside the
   spread among the tools-off daemons (what two identical processes differ by).
4. What listening for the wake word costs: ``edged run`` daemons alike but for
   ``wake_word.enabled``, in pairs, streams awake and nobody talking: CPU over one idle
   window (edged's share: less the PortAudio floor over the same seconds, which takes
   the machine's load out of the comparison) and RSS/PSS after it, on − off per pair
   beside the spread among the wake-word-off daemons (the "idle before standby" of 1.).

A bare PyAudio process with the same streams and do-nothing callbacks runs alongside
the whole time: what any PortAudio client pays on these devices, measured over the
same seconds, so edged's own share is the difference. CPU is read from
/proc/PID/task/*/schedstat (nanoseconds, every thread) and checked against
/proc/PID/stat (clock ticks); memory from /proc/PID/status (RSS, peak) and
/proc/PID/smaps_rollup (PSS). Nothing here is asserted: figures are printed beside
their targets.

Usage: scripts/bench [--quick] [--json] [--transport ws|wss|both] [--frame-ms MS]
                     [--only tools|wake_word]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib.util
import json
import math
import os
import platform
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "scripts"))  # bench_memory

import yaml  # noqa: E402

from edged.config import AudioConfig  # noqa: E402
from edged.health.proc import parse_cpu_ticks, parse_status  # noqa: E402
from edged.rig.process import start_edged, stop_edged  # noqa: E402
from edged.simulator import Fault, ScriptedResponse  # noqa: E402

KEY = "sk-bench-not-a-real-key-0000000000"


@dataclass(frozen=True)
class Periods:
    """The PortAudio periods the daemon runs with: the defaults, unless told otherwise."""

    capture_ms: int = AudioConfig().frame_ms  # audio.frame_ms
    output_ms: int = AudioConfig().output_period_ms  # audio.output_period_ms


# --------------------------------------------------------------------------- pure core

TARGETS: dict[str, tuple[str, float, str]] = {
    # figure: (comparison, limit, unit)
    "cpu_idle_pct": ("<=", 0.1, "%"),
    "cpu_idle_own_pct": ("<=", 0.1, "%"),
    "cpu_full_duplex_pct": ("<=", 1.2, "%"),
    "cpu_full_duplex_own_pct": ("<=", 0.6, "%"),
    "rss_steady_mb": ("<=", 50.0, "MB"),
    "rss_steady_pi_like_mb": ("<=", 40.0, "MB"),
    "rss_growth_mb": ("<", 2.0, "MB"),
    "uplink_added_p95_ms": ("<", 10.0, "ms"),
    "downlink_added_p95_ms": ("<", 10.0, "ms"),
    "barge_in_p95_ms": ("<", 30.0, "ms"),
    "reconnect_p95_s": ("<", 1.5, "s"),
    "cold_start_p50_s": ("<", 1.0, "s"),
    "stop_max_s": ("<", 2.0, "s"),
    "tools_rss_mb": ("<=", 2.0, "MB"),
    "tools_all_in_rss_mb": ("<=", 2.0, "MB"),
    "wake_word_cpu_pct": ("<=", 0.5, "%"),
    "wake_word_rss_mb": ("<=", 5.0, "MB"),
}

WAKE_MODEL = "okay_nabu"  # the default model
WAKE_PHRASE = "okay nabu"  # spoken (espeak-ng) after the window: was it really listening?
TOOL_TURN = "set a timer for an hour"  # typed into both daemons of a pair
TOOL_CALL = ScriptedResponse.of("set_timer", '{"seconds": 3600, "label": "bench"}')


@dataclass(frozen=True)
class Durations:
    settle_s: float
    idle_s: float
    full_duplex_s: float
    cold_starts: int
    latency_turns: int
    soak_turns: int
    soak_drops: int
    warm_up_turns: int = 10  # before the soak's baseline: first-use allocations
    tools_pairs: int = 3  # tools on / off daemon pairs (the order alternates)
    tools_settle_s: float = 10.0  # idle after the typed turn, before memory is read
    wake_pairs: int = 3  # sets of wake word daemons: off, on, always running (the order alternates)


FULL = Durations(settle_s=2, idle_s=30, full_duplex_s=30, cold_starts=5, latency_turns=20,
                 soak_turns=1000, soak_drops=200)
QUICK = Durations(settle_s=1, idle_s=2, full_duplex_s=3, cold_starts=2, latency_turns=1,
                  soak_turns=10, soak_drops=3, warm_up_turns=2, tools_pairs=2,
                  tools_settle_s=1.0, wake_pairs=2)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile, None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered) / 100)))
    return ordered[rank - 1]


def spread(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, digits)

    return {"p50": r(percentile(values, 50)), "p95": r(percentile(values, 95)),
            "max": r(max(values) if values else None), "n": len(values)}


def summary(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    """Median, extremes and their spread (max − min): for a few samples each."""
    if not values:
        return {"median": None, "min": None, "max": None, "spread": None, "n": 0}
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits),
            "spread": round(max(values) - min(values), digits), "n": len(values)}


def each_side(samples: Sequence[dict[str, Any]], side: str, keys: Iterable[str],
              digits: int = 2) -> dict[str, dict[str, Any]]:
    """``on`` and ``off`` (the value of each sample's ``side`` key): a summary per figure."""
    return {value: {key: summary([s[key] for s in samples if s[side] == value and key in s],
                                 digits) for key in keys}
            for value in ("on", "off")}


def on_off_pairs(samples: Sequence[dict[str, Any]], side: str, key: str,
                 on: str = "on") -> list[dict[str, float]]:
    """Each pair's ``on`` (or the side named ``on``) and ``off`` figure for ``key``, as
    ``{"on": …, "off": …}``; a pair missing either is left out."""
    by_pair: dict[int, dict[str, float]] = {}
    for s in samples:
        if key in s:
            by_pair.setdefault(s["pair"], {})[s[side]] = s[key]
    return [{"on": p[on], "off": p["off"]} for p in by_pair.values()
            if on in p and "off" in p]


TOOLS_FIGURES = ("rss_mb", "pss_mb")


def tools_cost(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The tools subsystem's memory from paired daemons (each sample: ``tools`` on or
    off, ``pair``, and the figures): each side's figures, on − off and on / off per pair
    (their medians), and the noise: the spread among the tools-off daemons, which differ
    in nothing but being separate processes."""
    out: dict[str, Any] = {"pairs": len({s["pair"] for s in samples}),
                           "order": [s["tools"] for s in samples],
                           **each_side(samples, "tools", (*TOOLS_FIGURES, "rss_at_idle_mb"))}
    for key in TOOLS_FIGURES:
        pairs = on_off_pairs(samples, "tools", key)
        name = key.removesuffix("_mb")
        out[f"{name}_delta_mb"] = summary([p["on"] - p["off"] for p in pairs])
        out[f"{name}_ratio"] = summary([p["on"] / p["off"] for p in pairs if p["off"]],
                                       4)["median"]
        out[f"{name}_noise_mb"] = out["off"][key]["spread"]
    return out


def is_tools_module(name: str) -> bool:
    """The tools subsystem's code: the package and the daemon's shell around it."""
    return name == "edged.tools" or name.startswith("edged.tools.") or \
        name == "edged.daemon.tools"


def imported_modules(importtime_log: str) -> list[str]:
    """The modules a process imported, each once, from its ``-X importtime`` lines (a
    submodule imported before its package is listed again after it)."""
    out: dict[str, None] = {}
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                out.setdefault(name)
    return list(out)


def all_in(delta_mb: float | None, code_mb: float | None, code_loaded_off: bool) -> float | None:
    """The tools' whole cost: on − off, plus the tools code a tools-off daemon imported
    anyway (on − off cannot see it: both daemons hold it)."""
    if delta_mb is None:
        return None
    if not code_loaded_off:
        return delta_mb
    return None if code_mb is None else round(delta_mb + code_mb, 2)


WAKE_FIGURES = {"cpu_pct": "cpu_delta_pct", "own_pct": "own_delta_pct",
                "rss_mb": "rss_delta_mb", "pss_mb": "pss_delta_mb"}
"""Each wake word daemon's figure → the name of its on − off."""


def wake_cost(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What listening for the wake word costs, from paired daemons (each sample: ``wake``
    on or off, ``pair``, and the figures): each side's figures, on − off per pair (their
    median, smallest, largest), and the noise: the spread among the wake-word-off
    daemons, which differ in nothing but being separate processes."""
    out: dict[str, Any] = {"pairs": len({s["pair"] for s in samples}),
                           "order": [s["wake"] for s in samples],
                           **each_side(samples, "wake", WAKE_FIGURES, 3)}
    for key, name in WAKE_FIGURES.items():
        out[name] = summary([p["on"] - p["off"] for p in on_off_pairs(samples, "wake", key)], 3)
        out[name.replace("_delta_", "_noise_")] = out["off"][key]["spread"]
    running = [s for s in samples if s["wake"] == "running"]
    if running:  # the model kept running: a room never quiet enough for it to rest
        out["running"] = {key: summary([s[key] for s in running if key in s], 3)
                          for key in WAKE_FIGURES}
        for key, name in WAKE_FIGURES.items():
            out["running_" + name] = summary(
                [p["on"] - p["off"] for p in on_off_pairs(samples, "wake", key, "running")], 3)
    return out


def cpu_percent(busy_s: float, wall_s: float) -> float:
    return 100.0 * busy_s / wall_s if wall_s > 0 else 0.0


def parse_pss_kb(text: str) -> int:
    """``Pss:`` in kB from /proc/PID/smaps_rollup."""
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def headline(run: dict[str, Any]) -> dict[str, float | None]:
    """The figures the targets apply to, from one transport's results."""
    lat = run.get("latency_ms", {})
    return {
        "cpu_idle_pct": run.get("cpu_idle", {}).get("pct"),
        "cpu_idle_own_pct": run.get("cpu_idle_awake", {}).get("own_pct"),
        "cpu_full_duplex_pct": run.get("cpu_full_duplex", {}).get("pct"),
        "cpu_full_duplex_own_pct": run.get("cpu_full_duplex", {}).get("own_pct"),
        "rss_steady_mb": run.get("memory", {}).get("rss_steady_mb"),
        "rss_steady_pi_like_mb": run.get("pi_like", {}).get("memory", {}).get("rss_steady_mb"),
        "rss_growth_mb": run.get("growth", {}).get("rss_mb"),
        "uplink_added_p95_ms": lat.get("uplink_added", {}).get("p95"),
        "downlink_added_p95_ms": lat.get("downlink_added", {}).get("p95"),
        "barge_in_p95_ms": lat.get("barge_in", {}).get("p95"),
        "reconnect_p95_s": run.get("reconnect_s", {}).get("p95"),
        "cold_start_p50_s": run.get("cold_start_s", {}).get("p50"),
        "stop_max_s": run.get("stop_s", {}).get("max"),
        "tools_rss_mb": run.get("tools", {}).get("rss_delta_mb", {}).get("median"),
        "tools_all_in_rss_mb": run.get("tools", {}).get("rss_all_in_mb"),
        "wake_word_cpu_pct": run.get("wake_word", {}).get("own_delta_pct", {}).get("median"),
        "wake_word_rss_mb": run.get("wake_word", {}).get("rss_delta_mb", {}).get("median"),
    }


def met(name: str, value: float | None) -> bool | None:
    if value is None:
        return None
    op, limit, _ = TARGETS[name]
    return value <= limit if op == "<=" else value < limit


def verdicts(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per target: each transport's figure and whether it meets the target."""
    out: dict[str, dict[str, Any]] = {}
    for name, (op, limit, unit) in TARGETS.items():
        row: dict[str, Any] = {"target": f"{op} {limit:g} {unit}"}
        for transport, run in runs.items():
            value = headline(run)[name]
            row[transport] = {"value": value, "met": met(name, value)}
        out[name] = row
    return out


_ROWS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("cold start, process → READY=1 p50", lambda r: r["cold_start_s"]["p50"], "s"),
    ("  process → link up (session.updated) p50", lambda r: r["start_to_link_up_s"]["p50"],
     "s"),
    ("stop, SIGTERM → exit, stuck subscriber + deaf server, max",
     lambda r: r["stop_s"]["max"], "s"),
    ("CPU idle (connected, nobody talking)", lambda r: r["cpu_idle"]["pct"], "%"),
    ("  of which the event loop", lambda r: r["cpu_idle"]["by_thread"]["main (event loop)"],
     "%"),
    ("CPU idle before standby (streams awake)", lambda r: r["cpu_idle_awake"]["pct"], "%"),
    ("  PortAudio floor, same seconds", lambda r: r["cpu_idle_awake"]["floor_pct"], "%"),
    ("  edged's share (− PortAudio floor)", lambda r: r["cpu_idle_awake"]["own_pct"], "%"),
    ("  Pi-like floor, same seconds", lambda r: r["cpu_idle_awake"]["floors"]["pi_like"], "%"),
    ("  peer pair (arecord + aplay), same seconds",
     lambda r: r["cpu_idle_awake"]["floors"]["peer_pair"], "%"),
    ("CPU full duplex (hands-free, answers)", lambda r: r["cpu_full_duplex"]["pct"], "%"),
    ("  PortAudio floor, same seconds ", lambda r: r["cpu_full_duplex"]["floor_pct"], "%"),
    ("  edged's share (− PortAudio floor) ", lambda r: r["cpu_full_duplex"]["own_pct"], "%"),
    ("  of which the event loop ",
     lambda r: r["cpu_full_duplex"]["by_thread"]["main (event loop)"], "%"),
    ("  Pi-like floor, same seconds ",
     lambda r: r["cpu_full_duplex"]["floors"]["pi_like"], "%"),
    ("  peer pair (arecord + aplay), same seconds ",
     lambda r: r["cpu_full_duplex"]["floors"]["peer_pair"], "%"),
    ("RSS steady", lambda r: r["memory"]["rss_steady_mb"], "MB"),
    ("PSS steady", lambda r: r["memory"]["pss_steady_mb"], "MB"),
    ("RSS peak", lambda r: r["memory"]["rss_peak_mb"], "MB"),
    ("  PortAudio floor RSS", lambda r: r["portaudio_floor"]["memory"]["rss_mb"], "MB"),
    ("  peer pair RSS (both processes)", lambda r: r["peer_pair"]["memory"]["rss_mb"], "MB"),
    ("  peer pair PSS (both processes)", lambda r: r["peer_pair"]["memory"]["pss_mb"], "MB"),
    ("Pi-like (minimal ALSA configuration): RSS steady",
     lambda r: r["pi_like"]["memory"]["rss_steady_mb"], "MB"),
    ("  PSS steady", lambda r: r["pi_like"]["memory"]["pss_steady_mb"], "MB"),
    ("  Pi-like floor RSS", lambda r: r["pi_like"]["floor_memory"]["rss_mb"], "MB"),
    ("  CPU idle, streams awake", lambda r: r["pi_like"]["cpu_idle_awake"]["pct"], "%"),
    ("  CPU full duplex", lambda r: r["pi_like"]["cpu_full_duplex"]["pct"], "%"),
    ("  Pi-like floor, same seconds  ",
     lambda r: r["pi_like"]["cpu_full_duplex"]["floors"]["pi_like"], "%"),
    ("  edged's share (− Pi-like floor)",
     lambda r: r["pi_like"]["cpu_full_duplex"]["own_pct_pi_like"], "%"),
    ("PSS peak", lambda r: r["memory"]["pss_peak_mb"], "MB"),
    ("RSS growth over the soak", lambda r: r["growth"]["rss_mb"], "MB"),
    ("PSS growth over the soak", lambda r: r["growth"]["pss_mb"], "MB"),
    ("uplink ADC → socket p50", lambda r: r["latency_ms"]["uplink"]["p50"], "ms"),
    ("uplink ADC → socket p95", lambda r: r["latency_ms"]["uplink"]["p95"], "ms"),
    ("  of which PortAudio input lag p50", lambda r: r["latency_ms"]["input_lag"]["p50"],
     "ms"),
    ("  less the median device lag, p95",
     lambda r: r["latency_ms"]["uplink_beyond_device_median"]["p95"], "ms"),
    ("uplink added by edged p50 (callback → socket)",
     lambda r: r["latency_ms"]["uplink_added"]["p50"], "ms"),
    ("uplink added by edged p95", lambda r: r["latency_ms"]["uplink_added"]["p95"], "ms"),
    ("downlink delta → device p50",
     lambda r: r["latency_ms"]["downlink_to_device"]["p50"], "ms"),
    ("downlink delta → device p95",
     lambda r: r["latency_ms"]["downlink_to_device"]["p95"], "ms"),
    ("downlink added beyond the output period p95",
     lambda r: r["latency_ms"]["downlink_added"]["p95"], "ms"),
    ("downlink → scheduled output p95",
     lambda r: r["latency_ms"]["downlink_scheduled"]["p95"], "ms"),
    ("downlink delta → audible (DAC) p50",
     lambda r: r["latency_ms"]["downlink_audible"]["p50"], "ms"),
    ("downlink delta → audible (DAC) p95",
     lambda r: r["latency_ms"]["downlink_audible"]["p95"], "ms"),
    ("press (idle) → earcon audible p50", lambda r: r["latency_ms"]["earcon"]["p50"], "ms"),
    ("press (idle) → earcon audible p95", lambda r: r["latency_ms"]["earcon"]["p95"], "ms"),
    ("release → commit on the socket p50",
     lambda r: r["latency_ms"]["release_commit"]["p50"], "ms"),
    ("release → commit on the socket p95",
     lambda r: r["latency_ms"]["release_commit"]["p95"], "ms"),
    ("barge-in press → answer silent p50", lambda r: r["latency_ms"]["barge_in"]["p50"],
     "ms"),
    ("barge-in p95", lambda r: r["latency_ms"]["barge_in"]["p95"], "ms"),
    ("barge-in press → flushed p95", lambda r: r["latency_ms"]["barge_in_flush"]["p95"], "ms"),
    ("device output latency (PortAudio)", lambda r: r["latency_ms"]["output_latency"], "ms"),
    ("edged run's own health: uplink p95", lambda r: r["health"]["uplink_p95_ms"], "ms"),
    ("edged run's own health: downlink p95", lambda r: r["health"]["downlink_p95_ms"], "ms"),
    ("reconnect p50", lambda r: r["reconnect_s"]["p50"], "s"),
    ("reconnect p95", lambda r: r["reconnect_s"]["p95"], "s"),
    ("tools on: RSS after a tool round, median", lambda r: r["tools"]["on"]["rss_mb"]["median"],
     "MB"),
    ("tools off: RSS after the same turn, median",
     lambda r: r["tools"]["off"]["rss_mb"]["median"], "MB"),
    ("tools subsystem RSS (on − off, median of pairs)",
     lambda r: r["tools"]["rss_delta_mb"]["median"], "MB"),
    ("  on − off, smallest pair", lambda r: r["tools"]["rss_delta_mb"]["min"], "MB"),
    ("  on − off, largest pair", lambda r: r["tools"]["rss_delta_mb"]["max"], "MB"),
    ("  on / off", lambda r: r["tools"]["rss_ratio"], "×"),
    ("  noise: RSS spread of the tools-off daemons", lambda r: r["tools"]["rss_noise_mb"],
     "MB"),
    ("tools subsystem PSS (on − off, median of pairs)",
     lambda r: r["tools"]["pss_delta_mb"]["median"], "MB"),
    ("  noise: PSS spread of the tools-off daemons", lambda r: r["tools"]["pss_noise_mb"],
     "MB"),
    ("tools code imported even with tools off",
     lambda r: len(r["tools"]["imports"]["tools_modules_off"]), "modules"),
    ("  its RSS, imported alone (fresh interpreter)",
     lambda r: r["tools"]["code"]["rss_mb"]["median"], "MB"),
    ("tools all in: on − off + that code", lambda r: r["tools"]["rss_all_in_mb"], "MB"),
    ("wake word off (idle, streams awake): CPU, median",
     lambda r: r["wake_word"]["off"]["cpu_pct"]["median"], "%"),
    ("  edged's share (− PortAudio floor), median",
     lambda r: r["wake_word"]["off"]["own_pct"]["median"], "%"),
    ("wake word on, idle (nobody talking; the mic stays awake): CPU, median",
     lambda r: r["wake_word"]["on"]["cpu_pct"]["median"], "%"),
    ("  edged's share (− PortAudio floor), median ",
     lambda r: r["wake_word"]["on"]["own_pct"]["median"], "%"),
    ("wake word listening, quiet room: edged's share on − off (median of sets)",
     lambda r: r["wake_word"]["own_delta_pct"]["median"], "%"),
    ("  on − off, smallest set ", lambda r: r["wake_word"]["own_delta_pct"]["min"], "%"),
    ("  on − off, largest set ", lambda r: r["wake_word"]["own_delta_pct"]["max"], "%"),
    ("  noise: spread of the wake-word-off daemons' share",
     lambda r: r["wake_word"]["own_noise_pct"], "%"),
    ("  whole process on − off (floor not subtracted)",
     lambda r: r["wake_word"]["cpu_delta_pct"]["median"], "%"),
    ("wake word, model always running (a room never quiet): share − off",
     lambda r: r["wake_word"]["running_own_delta_pct"]["median"], "%"),
    ("  smallest set ", lambda r: r["wake_word"]["running_own_delta_pct"]["min"], "%"),
    ("  largest set ", lambda r: r["wake_word"]["running_own_delta_pct"]["max"], "%"),
    ("  whole process − off (floor not subtracted) ",
     lambda r: r["wake_word"]["running_cpu_delta_pct"]["median"], "%"),
    ("  noise: CPU spread of the wake-word-off daemons",
     lambda r: r["wake_word"]["cpu_noise_pct"], "%"),
    ("wake word off: RSS, median", lambda r: r["wake_word"]["off"]["rss_mb"]["median"], "MB"),
    ("wake word on: RSS, median", lambda r: r["wake_word"]["on"]["rss_mb"]["median"], "MB"),
    ("wake word listening: RSS on − off (median of pairs)",
     lambda r: r["wake_word"]["rss_delta_mb"]["median"], "MB"),
    ("  noise: RSS spread of the wake-word-off daemons",
     lambda r: r["wake_word"]["rss_noise_mb"], "MB"),
    ("wake word listening: PSS on − off (median of pairs)",
     lambda r: r["wake_word"]["pss_delta_mb"]["median"], "MB"),
]

_TARGET_OF = {
    "cold start, process → READY=1 p50": "cold_start_p50_s",
    "stop, SIGTERM → exit, stuck subscriber + deaf server, max": "stop_max_s",
    "CPU idle (connected, nobody talking)": "cpu_idle_pct",
    "CPU full duplex (hands-free, answers)": "cpu_full_duplex_pct",
    "  edged's share (− PortAudio floor)": "cpu_idle_own_pct",
    "  edged's share (− PortAudio floor) ": "cpu_full_duplex_own_pct",
    "RSS steady": "rss_steady_mb",
    "RSS growth over the soak": "rss_growth_mb",
    "uplink added by edged p95": "uplink_added_p95_ms",
    "downlink added beyond the output period p95": "downlink_added_p95_ms",
    "Pi-like (minimal ALSA configuration): RSS steady": "rss_steady_pi_like_mb",
    "barge-in p95": "barge_in_p95_ms",
    "reconnect p95": "reconnect_p95_s",
    "tools subsystem RSS (on − off, median of pairs)": "tools_rss_mb",
    "tools all in: on − off + that code": "tools_all_in_rss_mb",
    "wake word listening, quiet room: edged's share on − off (median of sets)":
        "wake_word_cpu_pct",
    "wake word listening: RSS on − off (median of pairs)": "wake_word_rss_mb",
}


def table(result: dict[str, Any]) -> str:
    """The human summary: one row per figure, a column per transport, the target."""
    runs: dict[str, dict[str, Any]] = result["runs"]
    names = list(runs)
    width = max(len(label) for label, _, _ in _ROWS) + 2
    head = f"{'figure':<{width}}" + "".join(f"{n:>12}" for n in names) + "   target"
    lines = [head, "-" * len(head)]
    for label, get, unit in _ROWS:
        values = []
        for n in names:
            try:
                values.append(get(runs[n]))
            except (KeyError, TypeError):
                values.append(None)
        if result.get("only") and all(v is None for v in values):
            continue  # a phase that was not run
        cells = [f"{'—' if v is None else f'{v:g} {unit}':>12}" for v in values]
        target = _TARGET_OF.get(label)
        note = ""
        if target is not None:
            op, limit, tunit = TARGETS[target]
            oks = [met(target, headline(runs[n])[target]) for n in names]
            mark = "✓" if all(o is True for o in oks) else "✗" if any(o is False for o in oks) \
                else "?"
            note = f"   {op} {limit:g} {tunit} {mark}"
        lines.append(f"{label:<{width}}" + "".join(cells) + note)
    lines.extend(tools_note(runs))
    lines.extend(wake_note(runs))
    lines.extend(budget_lines(result))
    return "\n".join(lines)


def tools_note(runs: dict[str, dict[str, Any]]) -> list[str]:
    """Below the table: each transport's tools pairs, and what noise the delta is read
    against (a delta inside it is not resolved)."""
    out: list[str] = []
    for name, run in runs.items():
        t = run.get("tools")
        if not t:
            continue
        rss, pss = t["rss_delta_mb"], t["pss_delta_mb"]
        noise = t["rss_noise_mb"]
        resolved = "" if rss["median"] is None or noise is None else (
            " (within the noise: not resolved)" if abs(rss["median"]) <= noise
            else " (beyond the noise)")
        out.append(f"{name} tools: {t['pairs']} pairs, on − off RSS {_mb(rss['median'])} "
                   f"[{_mb(rss['min'])} … {_mb(rss['max'])}], PSS {_mb(pss['median'])} "
                   f"[{_mb(pss['min'])} … {_mb(pss['max'])}]; noise (spread of the "
                   f"{t['off']['rss_mb']['n']} tools-off daemons, alike but for being "
                   f"separate processes): RSS {_mb(noise)}{resolved}, PSS "
                   f"{_mb(t['pss_noise_mb'])} (PSS moves whenever other processes map the "
                   f"same libraries: RSS is the figure judged)")
        loaded = t["imports"]["tools_modules_off"]
        if loaded:
            out.append(f"  with tools off the daemon still imported {len(loaded)} tools "
                       f"modules ({', '.join(loaded)}): "
                       f"{_mb(t['code']['rss_mb']['median'])} imported alone, which on − off "
                       f"cannot see; all in {_mb(t['rss_all_in_mb'])}")
    if out:
        out.insert(0, "")
    return out


def wake_note(runs: dict[str, dict[str, Any]]) -> list[str]:
    """Below the table: each transport's wake word pairs against their noise, or why the
    phase did not run."""
    out: list[str] = []
    for name, run in runs.items():
        w = run.get("wake_word")
        if not w:
            continue
        if "skipped" in w:
            out.append(f"{name} wake word: skipped: {w['skipped']}")
            continue
        cpu, rss = w["own_delta_pct"], w["rss_delta_mb"]

        def within(delta: float | None, noise: float | None) -> str:
            if delta is None or noise is None:
                return ""
            return " (within the noise: not resolved)" if abs(delta) <= noise \
                else " (beyond the noise)"

        checked = all(s["heard"] for s in w["samples"] if s["wake"] == "on")
        out.append(f"{name} wake word: {w['pairs']} pairs, {w['window_s']:g} s windows; on − "
                   f"off CPU (edged's share) {cpu['median']:+.3f} % [{cpu['min']:+.3f} … "
                   f"{cpu['max']:+.3f}], noise {w['own_noise_pct']:.3f} %"
                   f"{within(cpu['median'], w['own_noise_pct'])}"
                   f"; RSS {_mb(rss['median'])} [{_mb(rss['min'])} … {_mb(rss['max'])}], noise "
                   f"{_mb(w['rss_noise_mb'])}{within(rss['median'], w['rss_noise_mb'])}; "
                   + ("every wake-word-on daemon heard the phrase played afterwards"
                      if checked else "not checked that it hears (no espeak-ng to say it)"))
    if out:
        out.insert(0, "")
    return out


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f} MB" if value < 0 else f"{value:.2f} MB"


# --------------------------------------------------------------------------- /proc


class ProcWatch:
    """CPU and memory of one process, read from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.hz = float(os.sysconf("SC_CLK_TCK"))
        self.peak_pss_kb = 0

    def _read(self, name: str) -> str:
        with open(f"/proc/{self.pid}/{name}", "rb") as f:
            return f.read().decode("ascii", "replace")

    def threads(self) -> dict[int, tuple[str, int]]:
        """tid → (name, nanoseconds on CPU)."""
        out: dict[int, tuple[str, int]] = {}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    ns = int(f.read().split()[0])
                with open(f"/proc/{self.pid}/task/{tid}/comm") as f:
                    name = f.read().strip()
            except (OSError, ValueError):
                continue
            out[int(tid)] = (name, ns)
        return out

    def ticks(self) -> int:
        return parse_cpu_ticks(self._read("stat"))

    def memory(self) -> dict[str, float]:
        rss_kb, hwm_kb = parse_status(self._read("status"))
        pss_kb = parse_pss_kb(self._read("smaps_rollup"))
        self.peak_pss_kb = max(self.peak_pss_kb, pss_kb)
        return {"rss_mb": round(rss_kb / 1024, 2), "rss_peak_mb": round(hwm_kb / 1024, 2),
                "pss_mb": round(pss_kb / 1024, 2),
                "pss_peak_mb": round(self.peak_pss_kb / 1024, 2)}

    @contextlib.contextmanager
    def cpu(self, into: dict[str, Any]) -> Iterator[None]:
        """Measure CPU over the block: % of one core, and where it went by thread."""
        t0, ticks0, threads0 = time.monotonic(), self.ticks(), self.threads()
        yield
        t1, ticks1, threads1 = time.monotonic(), self.ticks(), self.threads()
        wall = t1 - t0
        by_thread: dict[str, float] = {}
        busy_ns = 0
        for tid, (name, ns) in threads1.items():
            before = threads0.get(tid, (name, 0))[1]  # a thread born in the window: all of it
            busy_ns += ns - before
            label = "main (event loop)" if tid == self.pid else name
            by_thread[label] = by_thread.get(label, 0.0) + cpu_percent((ns - before) / 1e9, wall)
        gone = set(threads0) - set(threads1)
        ticks_pct = cpu_percent((ticks1 - ticks0) / self.hz, wall)
        into.update({
            "pct": round(cpu_percent(busy_ns / 1e9, wall), 3),
            "pct_from_ticks": round(ticks_pct, 3),
            "seconds": round(wall, 1),
            "threads_exited": len(gone),
            "by_thread": {k: round(v, 3) for k, v in sorted(by_thread.items(),
                                                             key=lambda kv: -kv[1])},
        })


class GroupWatch:
    """CPU and memory of a few processes together (the peer pair: a recorder and a
    player), as one figure."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.watches = [ProcWatch(pid) for pid in pids]

    def memory(self) -> dict[str, float]:
        each = [w.memory() for w in self.watches]
        return {k: round(sum(m[k] for m in each), 2) for k in each[0]}

    @contextlib.contextmanager
    def cpu(self, into: dict[str, Any]) -> Iterator[None]:
        parts: list[dict[str, Any]] = [{} for _ in self.watches]
        with contextlib.ExitStack() as stack:
            for watch, part in zip(self.watches, parts, strict=True):
                stack.enter_context(watch.cpu(part))
            yield
        into.update({"pct": round(sum(p["pct"] for p in parts), 3),
                     "seconds": parts[0]["seconds"],
                     "by_process": [p["pct"] for p in parts]})


# --------------------------------------------------------------------------- the processes


def daemon_config(path: Path, url: str, socket_dir: Path, periods: Periods = Periods(),
                  standby_after_s: float = 30.0, *, tools: bool = True,
                  state_dir: Path | None = None, wake_word: bool = False,
                  wake_rests: bool = True, alsa_config: Path | None = None) -> None:
    doc = {
        "audio": {"input_device": "edged_mic", "output_device": "edged_spk",
                  "input_rate": 48000, "output_rate": 48000,
                  "input_channels": 2, "output_channels": 2,
                  "frame_ms": periods.capture_ms, "output_period_ms": periods.output_ms,
                  "standby_after_s": standby_after_s,
                  **({"alsa_config": str(alsa_config)} if alsa_config else {})},
        "controls": {"enabled": False},  # no GPIO here; the bench presses through the API
        "realtime": {"provider": "custom", "url": url,
                     "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}},
        "credentials": {"credential": None, "key_file": None, "env": "EDGED_BENCH_KEY"},
        # a drop after 1 s up counts as the first failure after a healthy link (as a real
        # Wi-Fi drop after minutes up would), so the default backoff applies to each
        "link": {"healthy_after_s": 1},
        "conversation": {"responses_per_minute": 600},  # the soak answers often
        "control": {"socket": str(socket_dir / "control.sock")},
        # not the system's timers; tools on is the default, as in config/edged.yaml
        "tools": {"enabled": tools, "state_dir": str(state_dir or socket_dir / "state")},
        # off, as in config/edged.yaml, but where the wake word phase turns it on
        "wake_word": {"enabled": wake_word, "model": WAKE_MODEL,
                      # null: the model never rests, as in a room that is never quiet
                      **({} if wake_rests else {"rest_below_dbfs": None})},
    }
    path.write_text(yaml.safe_dump(doc))


class Host:
    """``scripts/bench_host.py``: the daemon plus a JSON-lines command channel."""

    def __init__(self, config: Path | None, env: dict[str, str], log: IO[bytes],
                 floor: Periods | None = None) -> None:
        args = [sys.executable, str(ROOT / "scripts" / "bench_host.py"),
                *(["--floor", "edged_mic", "edged_spk", "48000", str(floor.capture_ms),
                   str(floor.output_ms)] if floor else ["--config", str(config)])]
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=log, text=True)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True, name="bench-host-reader").start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def read(self, timeout: float = 30.0) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"the bench host said nothing for {timeout:g} s") from None
        if line is None:
            raise RuntimeError(f"the bench host exited ({self.proc.poll()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def ask(self, cmd: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()
        return self.read(timeout)

    def wait(self, since: dict[str, Any], kind: str, within: float = 20.0,
             **match: Any) -> dict[str, Any]:
        """Until the daemon emits ``kind`` (fields ``match``) after the reply ``since``."""
        reply = self.ask("wait", within + 10, kind=kind, match=match, after=since["t"],
                         within=within)
        if not reply.get("ok"):
            raise RuntimeError(f"{reply.get('error')} (waited {within:g} s for {kind} {match})")
        return reply

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- the phases


@dataclass
class Bench:
    rig: Any  # edged.rig.pulse.PulseRig
    sim: Any  # edged.simulator.SimulatorThread
    config: Path
    env: dict[str, str]
    log: IO[bytes]
    d: Durations
    say: Callable[[str], None]
    floor: ProcWatch  # a bare PyAudio process with the same streams, running alongside
    periods: Periods = Periods()
    # the other floors, measured over the same seconds: "pi_like" (the bare PyAudio
    # process with only the rig's PCMs in its ALSA configuration) and "peer_pair"
    # (arecord and aplay at their default periods on the same devices)
    floors: dict[str, ProcWatch | GroupWatch] = dataclasses.field(default_factory=dict)
    alsa_minimal: Path | None = None  # the minimal ALSA configuration (pi_like)

    @contextlib.contextmanager
    def cpu(self, watch: ProcWatch, into: dict[str, Any]) -> Iterator[None]:
        """CPU of the daemon and, over the same seconds (so under the same load), of the
        PortAudio floor process; ``own_pct`` is the difference: edged's share. The
        other floors are measured alongside (``floors``)."""
        floor: dict[str, Any] = {}
        others: dict[str, dict[str, Any]] = {name: {} for name in self.floors}
        with contextlib.ExitStack() as stack:
            stack.enter_context(watch.cpu(into))
            stack.enter_context(self.floor.cpu(floor))
            for name, other in self.floors.items():
                stack.enter_context(other.cpu(others[name]))
            yield
        into["floor_pct"] = floor["pct"]
        into["own_pct"] = round(max(0.0, into["pct"] - floor["pct"]), 3)
        into["floors"] = {name: part["pct"] for name, part in others.items()}

    def edged_run(self) -> dict[str, Any]:
        """``edged run`` itself, driven over its control socket (as ``edged ctl`` does):
        cold start, idle, a hands-free conversation, then the soak and the reconnects."""
        from edged.control.client import ControlClient
        from edged.rig.notify import NotifyListener

        out: dict[str, Any] = {}
        listener = NotifyListener()
        proc, started = self._start(listener)
        try:
            ready = listener.wait_for("READY=1", timeout=60)[0]
            starts = [ready.t - started]
            ups = [_link_up(listener) - started]
            self.say(f"  edged run: READY=1 after {starts[0]:.2f} s, link up after "
                     f"{ups[0]:.2f} s; idle {self.d.idle_s:g} s")
            time.sleep(self.d.settle_s)  # past the devices' start-up
            watch = ProcWatch(proc.pid)
            with ControlClient(str(self.config.parent / "control.sock"), timeout=15) as ctl:
                awake: dict[str, Any] = {}
                with self.cpu(watch, awake):
                    time.sleep(self.d.idle_s)
                out["cpu_idle_awake"] = awake
                steady = watch.memory()
                out["memory"] = {"rss_steady_mb": steady["rss_mb"],
                                 "pss_steady_mb": steady["pss_mb"]}
                wait_for(lambda: "standby" in ctl.request("status")["health"]["devices"].values(),
                         "the audio streams to go to standby", 30)
                self.say(f"  audio asleep (standby); idle {self.d.idle_s:g} s")
                idle: dict[str, Any] = {}
                with self.cpu(watch, idle):
                    time.sleep(self.d.idle_s)
                idle["own_pct"] = idle["pct"]  # no stream runs: all of it is edged's
                out["cpu_idle"] = idle
                self.say(f"  hands-free conversation for {self.d.full_duplex_s:g} s")
                out["cpu_full_duplex"], out["full_duplex_answers"] = self.handsfree(ctl, watch)
                out["health"] = {k: v for k, v in ctl.request("status")["health"].items()
                                 if k.endswith("_ms")}  # the daemon's own latency figures
                self.say(f"  soak: {self.d.soak_turns} push-to-talk turns, "
                         f"{self.d.soak_drops} forced reconnects")
                out.update(self.soak(ctl, watch))
        finally:
            stop_edged(proc, timeout=15)
            listener.close()
        out.update(self._cold_starts(starts, ups))
        return out

    def _cold_starts(self, starts: list[float], ups: list[float]) -> dict[str, Any]:
        """More cold starts, each ended the worst way (see the stop below)."""
        from edged.rig.notify import NotifyListener

        stops: list[float] = []
        for _ in range(self.d.cold_starts - 1):
            listener = NotifyListener()
            self.sim.inject(Fault.silent())  # up, then deaf: our close goes unanswered
            proc, started = self._start(listener)
            try:
                starts.append(listener.wait_for("READY=1", timeout=60)[0].t - started)
                ups.append(_link_up(listener) - started)
                stops.append(self._stop_with_stuck_subscriber(proc))
            finally:
                stop_edged(proc, timeout=15)
                listener.close()
        return {"cold_start_s": spread(starts, 3), "start_to_link_up_s": spread(ups, 3),
                "stop_s": spread(stops, 3)}

    def _stop_with_stuck_subscriber(self, proc: subprocess.Popen[bytes]) -> float:
        """SIGTERM → exit, the worst way: a subscriber that never reads holds a full
        socket, and the server ignores the close (the caller made it silent)."""
        import socket as socketlib

        from edged.control import protocol
        from edged.control.client import ControlClient

        stuck = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        try:
            stuck.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_RCVBUF, 4096)
            stuck.connect(str(self.config.parent / "control.sock"))
            stuck.sendall(protocol.encode({"cmd": "subscribe"}))
            with ControlClient(str(self.config.parent / "control.sock"), timeout=15) as ctl:
                for i in range(200):  # events the subscriber never reads fill its socket
                    ctl.request("mute" if i % 2 == 0 else "unmute")
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            return time.monotonic() - t0
        finally:
            stuck.close()

    def _start(self, listener: Any, config: Path | None = None, log: IO[bytes] | None = None,
               env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], float]:
        started = time.monotonic()
        proc = start_edged(config or self.config, {**self.env, **(env or {}), **listener.env()},
                           log or self.log)
        return proc, started

    def pi_like(self) -> dict[str, Any]:
        """``edged run`` with ``audio.alsa_config`` naming only the rig's PCMs, the
        closest this rig gets to a Pi with a plain USB device: CPU idle with the streams
        awake and in a hands-free conversation, and memory once settled; each CPU window
        beside the Pi-like floor (the bare PyAudio process with the same configuration)
        over the same seconds."""
        from edged.control.client import ControlClient
        from edged.rig.notify import NotifyListener

        base = self.config.parent
        config = base / f"{self.config.stem}-pi-like.yaml"
        daemon_config(config, self.sim.url, base, self.periods, standby_after_s=600,
                      alsa_config=self.alsa_minimal)
        listener = NotifyListener()
        proc, _ = self._start(listener, config)
        try:
            listener.wait_for("READY=1", timeout=60)
            _link_up(listener)
            time.sleep(self.d.settle_s)
            watch = ProcWatch(proc.pid)
            with ControlClient(str(base / "control.sock"), timeout=15) as ctl:
                awake: dict[str, Any] = {}
                with self.cpu(watch, awake):
                    time.sleep(self.d.idle_s)
                memory = watch.memory()
                duplex, answers = self.handsfree(ctl, watch)
        finally:
            stop_edged(proc, timeout=15)
            listener.close()
        for window in (awake, duplex):
            window["own_pct_pi_like"] = round(
                max(0.0, window["pct"] - window["floors"].get("pi_like", 0.0)), 3)
        return {"cpu_idle_awake": awake, "cpu_full_duplex": duplex,
                "full_duplex_answers": answers,
                "memory": {"rss_steady_mb": memory["rss_mb"], "pss_steady_mb": memory["pss_mb"]}}

    def tools_memory(self) -> dict[str, Any]:
        """What the tools subsystem costs in memory: ``edged run`` daemons alike but for
        ``tools.enabled`` (off: no tool shell, no timers, no tools offered), in pairs, the
        order alternating (off/on, on/off, ...) so a drift of the machine does not fall on
        one side. Each takes the same typed turn, a tool round with tools on, then idles
        before its RSS and PSS are read; ``tools_cost`` makes the figures. Then which tools
        code a tools-off daemon imports all the same, and what that code weighs alone:
        on − off cannot see it, so it is added for the figure "all in"."""
        samples: list[dict[str, Any]] = []
        for pair in range(self.d.tools_pairs):
            for on in ((False, True) if pair % 2 == 0 else (True, False)):
                sample = self._tools_daemon(on, len(samples))
                samples.append({"tools": "on" if on else "off", "pair": pair, **sample})
                self.say(f"  tools {'on' if on else 'off'} (pair {pair + 1}/"
                         f"{self.d.tools_pairs}): RSS {sample['rss_mb']:.2f} MB, "
                         f"PSS {sample['pss_mb']:.2f} MB")
        cost = tools_cost(samples)
        # on − off sees only what the tools-off daemon lacks: which tools code did it
        # import anyway? One more pair, run with -X importtime, not measured
        modules = {side: self._tools_daemon(side == "on", len(samples) + i,
                                            imports=True)["modules"]
                   for i, side in enumerate(("off", "on"))}
        off = [m for m in modules["off"] if is_tools_module(m)]
        imports = {"tools_modules_off": off,
                   "tools_modules_on": [m for m in modules["on"] if is_tools_module(m)],
                   "only_on": sorted(set(modules["on"]) - set(modules["off"])),
                   "only_off": sorted(set(modules["off"]) - set(modules["on"])),
                   "count": {side: len(names) for side, names in modules.items()}}
        code = code_cost(off, self.d.tools_pairs)
        self.say(f"  tools off imported {len(off)} tools modules anyway"
                 + (f", {code['rss_mb']['median']:.2f} MB imported alone" if off else ""))
        return {**cost, "imports": imports, "code": code,
                "rss_all_in_mb": all_in(cost["rss_delta_mb"]["median"],
                                        code["rss_mb"]["median"], bool(off)),
                "samples": samples,
                "turn": {"say": TOOL_TURN, "tools_on_answer": "set_timer 3600 s, then the "
                         "spoken follow-up", "tools_off_answer": "the spoken answer"},
                "settle_s": self.d.tools_settle_s}

    def _tools_daemon(self, on: bool, n: int, *, imports: bool = False) -> dict[str, Any]:
        """One daemon: up, a typed turn (with tools on the simulator answers it with a
        set_timer call; the daemon runs it, sends the output, and the model speaks), idle,
        then memory once settled. Its own state directory: no timer carried over.
        ``imports``: run with ``-X importtime`` into a log of its own, for the modules it
        imported (``modules``), start to stop; then its memory is no figure."""
        from edged.control.client import ControlClient
        from edged.rig.notify import NotifyListener

        base = self.config.parent
        config = base / f"{self.config.stem}-tools-{'on' if on else 'off'}.yaml"
        # the streams stay awake throughout, as for "RSS steady"
        daemon_config(config, self.sim.url, base, self.periods, standby_after_s=600,
                      tools=on, state_dir=base / f"{self.config.stem}-state-{n}")
        listener = NotifyListener()
        log_path = base / f"{self.config.stem}-imports-{n}.log"
        log = log_path.open("wb") if imports else None
        proc, _ = self._start(listener, config, log,
                              {"PYTHONPROFILEIMPORTTIME": "1"} if imports else None)
        try:
            listener.wait_for("READY=1", timeout=60)
            _link_up(listener)
            time.sleep(self.d.settle_s)  # past the devices' start-up
            watch = ProcWatch(proc.pid)
            with ControlClient(str(base / "control.sock"), timeout=15) as ctl:
                answers = ctl.request("status")["health"]["answers"]
                told = len(self.sim.tool_outputs())
                if on:
                    self.sim.script(TOOL_CALL)
                try:
                    ctl.request("say", text=TOOL_TURN)
                    wait_for(functools.partial(_answered, ctl, answers),
                             "the typed turn to be answered", 60)
                finally:
                    self.sim.read(lambda sim: sim.clear_scripts())
            outputs = self.sim.tool_outputs()[told:]
            if on and not (len(outputs) == 1 and _tool_ran(outputs[0])):
                raise RuntimeError(f"tools on: not one good set_timer output: {outputs}")
            if not on and outputs:
                raise RuntimeError(f"tools off, yet tool outputs came: {outputs}")
            at_idle = watch.memory()
            time.sleep(0 if imports else self.d.tools_settle_s)
            settled = watch.memory()
        finally:
            stop_edged(proc, timeout=15)
            listener.close()
            if log is not None:
                log.close()
        if imports:
            return {"modules": imported_modules(log_path.read_text(errors="replace"))}
        return {"rss_mb": settled["rss_mb"], "pss_mb": settled["pss_mb"],
                "rss_at_idle_mb": at_idle["rss_mb"], "pss_at_idle_mb": at_idle["pss_mb"],
                "rss_peak_mb": settled["rss_peak_mb"]}

    def wake_word_cost(self) -> dict[str, Any]:
        """What listening for the wake word costs: ``edged run`` daemons alike but for
        ``wake_word.enabled``, in pairs, the order alternating (off/on, on/off, ...) so a
        drift of the machine does not fall on one side. Each idles with its streams awake
        and nobody talking for one idle window (CPU, beside the PortAudio floor over the
        same seconds), then its RSS and PSS are read; ``wake_cost`` makes the figures.
        Each wake-word-on daemon is then played the phrase and must report hearing it, so
        the figures are those of a listener that works."""
        if importlib.util.find_spec("pymicro_wakeword") is None:
            why = ("the optional package pymicro-wakeword is not installed (64-bit systems "
                   "only; pip install '.[wakeword]')")
            self.say(f"  wake word: skipped: {why}")
            return {"skipped": why}
        phrase = spoken(self.config.parent, WAKE_PHRASE)
        samples: list[dict[str, Any]] = []
        sides = ("off", "on", "running")
        for pair in range(self.d.wake_pairs):
            for side in (sides if pair % 2 == 0 else sides[::-1]):
                sample = self._wake_daemon(side, len(samples), phrase)
                samples.append({"wake": side, "pair": pair, **sample})
                self.say(f"  wake word {side} (set {pair + 1}/"
                         f"{self.d.wake_pairs}): CPU {sample['cpu_pct']:.3f} % (floor "
                         f"{sample['floor_pct']:.3f} %), RSS {sample['rss_mb']:.2f} MB"
                         + (f", phrase heard: {sample['heard']}" if side != "off" else ""))
        return {**wake_cost(samples), "samples": samples, "model": WAKE_MODEL,
                "window_s": self.d.idle_s,
                "phrase_check": None if phrase is None else "espeak-ng: " + WAKE_PHRASE}

    def _wake_daemon(self, side: str, n: int,
                     phrase: tuple[bytes, int] | None) -> dict[str, Any]:
        """One daemon: up, its streams awake (standby far off), one idle window measured,
        then memory; with the wake word on, then the phrase played to the microphone.
        ``side``: off; on (the rig's microphone is silent: the model rests, as in a
        quiet room); running (``rest_below_dbfs: null``: as in a room never quiet)."""
        from edged.control.client import ControlClient
        from edged.rig.notify import NotifyListener

        on = side != "off"
        base = self.config.parent
        config = base / f"{self.config.stem}-wake-{side}.yaml"
        daemon_config(config, self.sim.url, base, self.periods, standby_after_s=600,
                      state_dir=base / f"{self.config.stem}-wake-state-{n}", wake_word=on,
                      wake_rests=side != "running")
        listener = NotifyListener()
        proc, _ = self._start(listener, config)
        try:
            listener.wait_for("READY=1", timeout=60)
            _link_up(listener)
            time.sleep(self.d.settle_s)  # past the devices' start-up
            watch = ProcWatch(proc.pid)
            with ControlClient(str(base / "control.sock"), timeout=15) as ctl:
                status = ctl.request("status").get("wake_word") or {}
                if bool(status.get("listening")) != on:
                    raise RuntimeError(f"wake word {'on' if on else 'off'} in the config, "
                                       f"yet the daemon's status says {status}")
                window: dict[str, Any] = {}
                with self.cpu(watch, window):
                    time.sleep(self.d.idle_s)
                memory = watch.memory()
                heard = self._hears(ctl, phrase) if on else None
        finally:
            stop_edged(proc, timeout=15)
            listener.close()
        return {"cpu_pct": window["pct"], "floor_pct": window["floor_pct"],
                "own_pct": window["own_pct"], "by_thread": window["by_thread"],
                "rss_mb": memory["rss_mb"], "pss_mb": memory["pss_mb"],
                "rss_peak_mb": memory["rss_peak_mb"], "heard": heard}

    def _hears(self, ctl: Any, phrase: tuple[bytes, int] | None) -> bool | None:
        """Play the phrase to the microphone: did the daemon count a detection? (None:
        no espeak-ng to say it.) Not hearing it is an error: the figures would be of a
        listener that does not work."""
        if phrase is None:
            return None
        pcm, rate = phrase
        before = ctl.request("status")["wake_word"].get("detections", 0)
        self.rig.feed_mic(bytes(rate) + pcm + bytes(rate), rate=rate)
        self.rig.wait_fed()
        try:
            wait_for(lambda: ctl.request("status")["wake_word"].get("detections", 0) > before,
                     "a wake word detection", 10)
        except RuntimeError:
            raise RuntimeError(f"the wake word daemon did not hear {WAKE_PHRASE!r} played to "
                               "its microphone") from None
        return True

    def handsfree(self, ctl: Any, watch: ProcWatch) -> tuple[dict[str, Any], int]:
        """A wake press, then a sentence every few seconds, each answered: CPU meanwhile."""
        from edged.demo.scenario import utterance

        speech = utterance("weather")
        before = ctl.request("status")["health"]["answers"]
        if ctl.request("wake")["phase"] != "handsfree":
            raise RuntimeError("a wake press did not start a hands-free conversation")
        duplex: dict[str, Any] = {}
        with self.cpu(watch, duplex):
            end = time.monotonic() + self.d.full_duplex_s
            while time.monotonic() < end:
                self.rig.feed_mic(speech, rate=24000)
                time.sleep(min(4.0, max(0.0, end - time.monotonic())))
        answers = ctl.request("status")["health"]["answers"] - before
        self.rig.wait_fed()
        ctl.request("wake")  # ends the conversation
        wait_for(lambda: ctl.request("status")["phase"] == "idle", "the conversation to end",
                 30)
        return duplex, answers

    def soak(self, ctl: Any, watch: ProcWatch) -> dict[str, Any]:
        """Many short push-to-talk turns, then forced reconnects: memory growth, and the
        time from each drop to the link being up again (session.updated)."""
        self.turns(ctl, self.d.warm_up_turns)  # first-use allocations are not growth
        before = watch.memory()
        answers = ctl.request("status")["health"]["answers"]
        refused = self.turns(ctl, self.d.soak_turns)
        after_turns = watch.memory()
        reconnects = self.drops(ctl, self.d.soak_drops)
        after = watch.memory()
        health = ctl.request("status")["health"]
        return {
            "reconnect_s": reconnects,
            "growth": {
                "turns": self.d.soak_turns, "drops": self.d.soak_drops,
                "answers": health["answers"] - answers, "refused_presses": refused,
                "rss_mb": round(after["rss_mb"] - before["rss_mb"], 2),
                "pss_mb": round(after["pss_mb"] - before["pss_mb"], 2),
                "rss_mb_after_turns": round(after_turns["rss_mb"] - before["rss_mb"], 2),
                "before": before, "after": after,
            },
            "memory_peak": {"rss_peak_mb": after["rss_peak_mb"],
                            "pss_peak_mb": after["pss_peak_mb"]},
            "xruns": [health["input_overflows"], health["output_underflows"]],
        }

    def turns(self, ctl: Any, n: int) -> int:
        """``n`` push-to-talk turns (the answer, if still playing, is barged in on)."""
        from edged.control.client import Refused

        refused = 0
        for _ in range(n):
            try:
                ctl.request("ptt.press")
                time.sleep(0.15)
                ctl.request("ptt.release")
            except Refused:  # e.g. the cost guard; counted, the soak goes on
                refused += 1
            time.sleep(0.12)
        return refused

    def drops(self, ctl: Any, n: int) -> dict[str, Any]:
        """Drop the link ``n`` times (each after 1 s up): drop → link up again, by the
        daemon's own link events on a control-socket subscription."""
        import socket as socketlib

        from edged.control import protocol

        ups: list[float] = []
        sub = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        sub.connect(ctl.path)
        sub.sendall(protocol.encode({"cmd": "subscribe"}))
        lines = sub.makefile("rb")

        def follow() -> None:
            for raw in lines:  # ends when the socket is shut down below
                event = protocol.decode(raw)
                if event.get("event") == "link" and event["data"].get("state") == "up":
                    ups.append(float(event["ts"]))

        thread = threading.Thread(target=follow, name="bench-events", daemon=True)
        thread.start()
        took: list[float] = []
        try:
            for _ in range(n):
                wait_for(lambda: ctl.request("status")["health"]["link"] == "up", "the link",
                         30)
                time.sleep(1.1)  # healthy: the default backoff starts afresh
                seen = len(ups)
                dropped = self.sim.call(_drop, self.sim.sim)
                wait_for(functools.partial(_longer, ups, seen), "a reconnect", 60)
                took.append(ups[seen] - dropped)
        finally:
            sub.shutdown(socketlib.SHUT_RDWR)  # wakes the reader; then it can be closed
            thread.join(5)
            lines.close()
            sub.close()
        return spread(took, 3)

    def host(self) -> dict[str, Any]:
        """The same daemon with its timestamps opened up (``bench_host.py``): latencies."""
        from edged.demo.scenario import utterance

        host = Host(self.config, self.env, self.log)
        try:
            wait_for(lambda: host.ask("stats")["link"] == "up", "the link to come up", 60)
            time.sleep(self.d.settle_s)
            # hands-free streaming: uplink batches, answers
            self.say("  latency: hands-free streaming, then push-to-talk turns with barge-in")
            speech = utterance("weather")
            host.ask("reset")
            if host.ask("wake")["phase"] != "handsfree":
                raise RuntimeError("a wake press did not start a hands-free conversation")
            end = time.monotonic() + self.d.full_duplex_s
            while time.monotonic() < end:
                self.rig.feed_mic(speech, rate=24000)
                time.sleep(min(4.0, max(0.0, end - time.monotonic())))
            streamed = host.ask("stats")
            host.wait(host.ask("wake"), "transition", to="idle")
            self.rig.wait_fed()
            host.ask("reset")
            # push-to-talk turns with speech, each answer interrupted by a press
            short = utterance("lights")
            for _ in range(self.d.latency_turns):
                host.ask("press")
                self.rig.feed_mic(short, rate=24000)
                self.rig.wait_fed()
                time.sleep(0.2)
                host.wait(host.ask("release"), "answer_started")
                time.sleep(0.6)
                host.ask("press")  # barge-in
                time.sleep(0.25)
                host.wait(host.ask("release"), "transition", to="idle")
            return {"latency_ms": latency(streamed, host.ask("stats"), self.periods)}
        finally:
            host.stop()


def spoken(base: Path, text: str) -> tuple[bytes, int] | None:
    """espeak-ng's default voice saying ``text`` (mono PCM16, its rate), or None without
    espeak-ng (scripts/setup installs it)."""
    if shutil.which("espeak-ng") is None:
        return None
    import wave

    wav = base / "spoken.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, timeout=30,
                   capture_output=True)
    with wave.open(str(wav)) as w:
        return w.readframes(w.getnframes()), w.getframerate()


def _link_up(listener: Any) -> float:
    """When the daemon's STATUS= first said the link is up (monotonic s)."""
    datagrams = listener.wait_until(lambda ds: any(
        "link up" in d.fields.get("STATUS", "") for d in ds), timeout=30)
    return float(next(d.t for d in datagrams if "link up" in d.fields.get("STATUS", "")))


_IMPORT_PROBE = """
import gc, importlib, json, sys
def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
names, deps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in deps:
    try:
        importlib.import_module(name)
    except Exception:
        pass
gc.collect()
before, known = rss_kb(), set(sys.modules)
for name in names:
    importlib.import_module(name)
gc.collect()
print(json.dumps({"rss_kb": rss_kb() - before, "new": sorted(set(sys.modules) - known)}))
"""


def _probe(names: list[str], deps: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, json.dumps(names),
                           json.dumps(deps)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the import probe failed: {done.stderr[-2000:]}")
    reply: dict[str, Any] = json.loads(done.stdout)
    return reply


def code_cost(names: list[str], repeat: int) -> dict[str, Any]:
    """RSS of importing ``names`` in a fresh interpreter that imported everything else
    they need first (found by a first probe), ``repeat`` times."""
    if not names:
        return {"modules": [], "rss_mb": summary([0.0] * repeat)}
    first = _probe(names, [])
    deps = [m for m in first["new"] if not is_tools_module(m)]
    runs = [_probe(names, deps)["rss_kb"] / 1024 for _ in range(repeat)]
    return {"modules": [m for m in first["new"] if is_tools_module(m)], "deps": len(deps),
            "rss_mb": summary(runs)}


def _tool_ran(output: Any) -> bool:
    """A function_call_output for the call made, and no error in it."""
    try:
        body = json.loads(output.output)
    except ValueError:
        return False
    return bool(output.known and isinstance(body, dict) and "error" not in body)


def _answered(ctl: Any, answers: int) -> bool:
    """Idle again, with an answer more than ``answers``: the turn is over."""
    status = ctl.request("status")
    return bool(status["phase"] == "idle" and status["health"]["answers"] > answers)


def _longer(items: list[float], than: int) -> bool:
    return len(items) > than


async def _drop(sim: Any) -> float:
    at = time.time()  # wall clock, as the control socket's event times are
    await sim.drop_all()
    return at


def latency(duplex: dict[str, Any], turns: dict[str, Any], periods: Periods) -> dict[str, Any]:
    """The latency figures from the daemon's own timestamps, in ms.

    ``uplink``: PortAudio's ADC time of a batch's last sample → its bytes on the socket
    (the daemon's health metric); PortAudio's ``input_lag`` (ADC → callback, the
    device's and driver's buffering) is part of it. ``uplink_added``, the daemon's
    share, is measured per batch: the callback that handed it the batch's last sample
    (or the press or release the batch waited for) → its bytes on the socket.
    ``uplink_beyond_device_median`` subtracts only the median device lag, so it also
    holds the device's delivery jitter.
    ``downlink_to_device``: answer delta handled → its first sample handed to
    PortAudio; waiting for the next output callback takes up to one output period, so
    ``downlink_added`` is what lies beyond the period.
    ``downlink_scheduled`` adds the device's output latency (the daemon's other health
    metric); ``downlink_audible`` is the delta → its first sample at the speaker by
    PortAudio's DAC time. ``earcon``: a press while idle → the listening sound's first
    sample at the speaker. ``release_commit``: a push-to-talk release → the commit on
    the socket (it waits for the microphone's period in flight). ``barge_in``: press →
    the speaker silent (PortAudio discarded the device's buffer, or the last answer
    sample handed to it played out); ``barge_in_flush``: press → playback queue flushed.
    """
    frame_ms, output_ms = periods.capture_ms, periods.output_ms
    uplink = duplex["uplink_ms"] + turns["uplink_ms"]
    lags = duplex["input_lag_ms"] + turns["input_lag_ms"]
    device_ms = max(0.0, (percentile(lags, 50) or 0.0) - frame_ms)  # ADC end → callback
    own = duplex.get("uplink_own_ms", []) + turns.get("uplink_own_ms", [])
    down = duplex["downlink"] + turns["downlink"]
    to_device = [(d[1] - d[0]) * 1000 for d in down]
    return {
        "uplink": spread(uplink),
        "input_lag": spread(lags),
        "uplink_beyond_device_median": spread([max(0.0, u - device_ms) for u in uplink]),
        "uplink_added": spread(own),
        "downlink_to_device": spread(to_device),
        "downlink_added": spread([max(0.0, t - output_ms) for t in to_device]),
        "downlink_scheduled": spread([(d[2] - d[0]) * 1000 for d in down]),
        "downlink_audible": spread([(d[3] - d[0]) * 1000 for d in down if len(d) > 3]),
        "earcon": spread(duplex.get("earcon_ms", []) + turns.get("earcon_ms", [])),
        "release_commit": spread(turns.get("release_commit_ms", [])),
        "barge_in": spread([(s - p) * 1000 for p, _, s in turns["barge_in"]]),
        "barge_in_flush": spread([(f - p) * 1000 for p, f, _ in turns["barge_in"]], 3),
        "output_latency": turns["output_latency_ms"],
    }


class PeerPair:
    """The leanest pair of processes on the same devices: ``arecord`` and ``aplay`` at
    ALSA's default periods, the one recording the microphone to nowhere, the other
    playing speech fed to it without end (a thread of the benchmark writes it)."""

    def __init__(self, env: dict[str, str], log: IO[bytes]) -> None:
        import numpy as np

        from edged.demo.scenario import utterance

        mono = np.frombuffer(utterance("weather"), np.int16)
        self.audio = np.repeat(mono, 4).tobytes()  # 48 kHz stereo (each sample twice, twice)
        fmt = ["-q", "-f", "S16_LE", "-r", "48000", "-c", "2", "-t", "raw"]
        self.recorder = subprocess.Popen(["arecord", "-D", "edged_mic", *fmt, "/dev/null"],
                                         env=env, stdout=log, stderr=log)
        self.player = subprocess.Popen(["aplay", "-D", "edged_spk", *fmt, "-"], env=env,
                                       stdin=subprocess.PIPE, stdout=log, stderr=log)
        self._feeding = True
        self._thread = threading.Thread(target=self._feed, name="bench-aplay", daemon=True)
        self._thread.start()
        self.watch = GroupWatch([self.recorder.pid, self.player.pid])

    def _feed(self) -> None:
        assert self.player.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            while self._feeding:
                self.player.stdin.write(self.audio)  # blocks: aplay reads at the device's pace

    def stop(self) -> None:
        self._feeding = False
        for proc in (self.recorder, self.player):
            if proc.poll() is None:
                proc.terminate()
        for proc in (self.recorder, self.player):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError, ValueError):
            assert self.player.stdin is not None
            self.player.stdin.close()
        self._thread.join(5)


def run_transport(transport: str, rig: Any, base: Path, *, d: Durations, log: IO[bytes],
                  say: Callable[[str], None], periods: Periods,
                  only: str | None = None) -> dict[str, Any]:
    from bench_memory import minimal_rig_config

    from edged.simulator import SimulatorThread

    env = {**rig.env, "EDGED_BENCH_KEY": KEY, "PYTHONUNBUFFERED": "1"}
    ssl_context = None
    if transport == "wss":
        from edged.rig.tls import make_loopback_tls

        tls = make_loopback_tls(base)
        ssl_context = tls.server_context()
        env["SSL_CERT_FILE"] = str(tls.cert)
    else:
        env.pop("SSL_CERT_FILE", None)
    minimal = base / "alsa-minimal.conf"
    minimal.write_text(minimal_rig_config())
    with contextlib.ExitStack() as stack:
        floor = Host(None, rig.env, log, floor=periods)
        stack.callback(floor.stop)
        floor.read(60)
        floor_watch = ProcWatch(floor.proc.pid)
        floors: dict[str, ProcWatch | GroupWatch] = {}
        if only is None:  # the Pi-like floor and the peer pair run beside the whole run
            pi_floor = Host(None, {**rig.env, "ALSA_CONFIG_PATH": str(minimal)}, log,
                            floor=periods)
            stack.callback(pi_floor.stop)
            pi_floor.read(60)
            floors["pi_like"] = ProcWatch(pi_floor.proc.pid)
            pair = PeerPair(rig.env, log)
            stack.callback(pair.stop)
            floors["peer_pair"] = pair.watch
        sim = stack.enter_context(SimulatorThread(answer="echo", pace=1.0,
                                                  ssl_context=ssl_context, record=False))
        config = base / f"edged-{transport}.yaml"
        # the streams stay awake through the first idle window, then sleep
        daemon_config(config, sim.url, base, periods, standby_after_s=d.settle_s + d.idle_s + 2)
        bench = Bench(rig, sim, config, env, log, d, say, floor_watch, periods, floors, minimal)
        say(f"{transport}: {sim.url}")
        result: dict[str, Any] = {}
        if only is None:
            result.update(bench.edged_run())
            result.update(bench.host())
            result["memory"].update(result.pop("memory_peak"))
            say(f"  Pi-like: edged run with only the rig's PCMs in its ALSA configuration, "
                f"{d.idle_s:g} s idle, {d.full_duplex_s:g} s hands-free")
            result["pi_like"] = bench.pi_like()
            result["pi_like"]["floor_memory"] = floors["pi_like"].memory()
            result["peer_pair"] = {"memory": floors["peer_pair"].memory()}
        if only in (None, "tools"):
            say(f"  tools: {d.tools_pairs} pairs of daemons, tools on / off, each a "
                f"typed turn, then {d.tools_settle_s:g} s idle")
            result["tools"] = bench.tools_memory()
        if only in (None, "wake_word"):
            say(f"  wake word: {d.wake_pairs} sets of daemons, wake word off / on (resting "
                f"in the silence) / running, streams awake, {d.idle_s:g} s idle each")
            result["wake_word"] = bench.wake_word_cost()
        result["portaudio_floor"] = {"memory": floor_watch.memory()}
        return result
    raise AssertionError("unreachable")  # the with-block returns


def memory_budget(env: dict[str, str], base: Path, d: Durations) -> dict[str, Any]:
    """``bench_memory``'s steps with the system's ALSA configuration and the minimal one,
    each beside its budget."""
    from bench_memory import budget, held, minimal_rig_config

    minimal = base / "alsa-budget.conf"
    minimal.write_text(minimal_rig_config())
    repeats = 1 if d is QUICK else 3
    out: dict[str, Any] = {}
    for name, path in (("system", None), ("minimal", str(minimal))):
        measured = budget(env, path, repeats)
        out[name] = {**measured, "held": held(measured["steps"], system=path is None)}
    return out


def budget_lines(result: dict[str, Any]) -> list[str]:
    """The memory budget per component, both ALSA configurations, as table lines."""
    budgets = result.get("memory_budget")
    if not budgets:
        return []
    lines = ["", "memory per component (RSS MB, fresh interpreters; steps in this order)",
             f"{'component':<28}{'system':>10}{'budget':>8}{'minimal':>10}{'budget':>8}"]
    for sys_row, min_row in zip(budgets["system"]["held"], budgets["minimal"]["held"],
                                strict=True):
        cells = []
        for row in (sys_row, min_row):
            mark = "" if row["met"] is None else " ✓" if row["met"] else " ✗"
            limit = "—" if row["budget_mb"] is None else f"{row['budget_mb']:g}"
            cells.append(f"{row['rss_mb']:>10.2f}{limit:>6}{mark:2}")
        lines.append(f"{sys_row['step']:<28}" + "".join(cells))
    lines.append(f"{'total':<28}{budgets['system']['total_rss_mb']:>10.2f}{'':8}"
                 f"{budgets['minimal']['total_rss_mb']:>10.2f}")
    return lines


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(), "load_avg": os.getloadavg()}


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit(143)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="seconds instead of minutes: checks that it works, not the figures")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--transport", choices=("ws", "wss", "both"), default="both")
    parser.add_argument("--frame-ms", type=int, default=Periods.capture_ms,
                        choices=range(10, 101), metavar="10-100",
                        help="audio.frame_ms, the capture period, to run the daemon with "
                        f"(default {Periods.capture_ms})")
    parser.add_argument("--output-period-ms", type=int, default=Periods.output_ms,
                        choices=range(10, 101), metavar="10-100",
                        help="audio.output_period_ms to run the daemon with (default "
                        f"{Periods.output_ms})")
    parser.add_argument("--only", choices=("tools", "wake_word"),
                        help="run one measurement alone (tools: the tools subsystem's memory; "
                        "wake_word: what listening for the wake word costs)")
    args = parser.parse_args(argv)
    # stop cleanly (the PulseAudio rig and the daemons are stopped by the with-blocks)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with &
    signal.signal(signal.SIGTERM, _terminate)
    from edged.rig.pulse import have_pulseaudio, pulse_rig

    if not have_pulseaudio():
        print("scripts/bench: PulseAudio is not installed (scripts/setup installs it)",
              file=sys.stderr)
        return 2
    d = QUICK if args.quick else FULL
    periods = Periods(args.frame_ms, args.output_period_ms)

    def say(text: str) -> None:
        print(f"bench: {text}", file=sys.stderr, flush=True)

    transports = ["ws", "wss"] if args.transport == "both" else [args.transport]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="edged-bench-") as tmp:
        base = Path(tmp)
        log_path = base / "daemon.log"
        with pulse_rig(base / "pulse") as rig, log_path.open("wb") as log:
            result: dict[str, Any] = {"quick": args.quick, "only": args.only,
                                      "memory_budget": {},
                                      "machine": machine(), "setup": {
                "devices": "PulseAudio null sinks, 48 kHz stereo, opened at 48 kHz stereo",
                "frame_ms": args.frame_ms, "output_period_ms": args.output_period_ms,
                "uplink_batch_ms": 100, "playback_prebuffer_ms": 60,
                "simulator": "answer=echo, pace=1.0 (real time), 100 ms deltas",
                "durations": d.__dict__}, "runs": {}}
            try:
                if args.only is None:
                    say("memory budget per component (fresh interpreters, both ALSA "
                        "configurations)")
                    result["memory_budget"] = memory_budget(rig.env, base, d)
                for transport in transports:
                    result["runs"][transport] = run_transport(transport, rig, base, d=d,
                                                                log=log, say=say,
                                                                periods=periods,
                                                                only=args.only)
            except (RuntimeError, OSError) as exc:
                log.flush()
                tail = log_path.read_text(errors="replace")[-3000:]
                print(f"scripts/bench: {exc}\n--- daemon log (tail) ---\n{tail}",
                      file=sys.stderr)
                return 1
    result["targets"] = verdicts(result["runs"])
    result["seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
