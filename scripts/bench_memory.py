"""What each component of ``edged run`` costs in memory, and what PortAudio's probe maps.

1. The budget: one fresh interpreter imports what ``edged run`` imports, a step at a
   time, and reads its own VmRSS (/proc/self/status) and PSS (/proc/self/smaps_rollup)
   after each step; the deltas are the components' costs, medians over a few fresh
   interpreters. A library two steps share is charged to the step that loads it first,
   so the order is part of the result and is printed with it.
2. The device probe: /proc/self/smaps before ``import pyaudio`` and after
   ``pyaudio.PyAudio()``, each newly mapped shared object with its resident size and
   the stage that mapped it (the import links libportaudio and libjack; the probe
   ``dlopen``s the ALSA plugins of every PCM in the ALSA configuration).

Both run on the private PulseAudio rig, with the system's ALSA configuration and then
with another one given as ALSA_CONFIG_PATH: ``--alsa-config PATH``, by default the
rig's three PCMs only (:func:`minimal_rig_config`), which is what PortAudio would find
on a speaker whose ALSA configuration defines no plugin PCMs of its own. Nothing here
is asserted.

This module imports nothing from edged at module level, so that the children start
clean and scripts/bench.py can import :func:`minimal_rig_config` from it.

Usage: .venv/bin/python scripts/bench_memory.py [--json] [--repeats N] [--alsa-config PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

# The edged modules a running ``edged run`` has loaded (tools on, as in the shipped
# config; read from PYTHONPROFILEIMPORTTIME of a daemon linked to the simulator), and
# systemd.journal, which edged's journal handler imports under systemd.
EDGED_IMPORTS = ("edged.cli", "edged.commands.run", "edged.config", "edged.audio",
                 "edged.audio.port", "edged.daemon", "edged.daemon.tools",
                 "edged.health.journal", "edged.realtime", "edged.realtime.link",
                 "edged.realtime.credentials", "edged.realtime.client_secret",
                 "edged.redact", "edged.tools.builtins", "systemd.journal")

#: (name, Python statements) in the order they run; see the module docstring.
STEPS: tuple[tuple[str, str], ...] = (
    ("interpreter", "import sys"),
    ("numpy + soxr", "import numpy, soxr"),
    ("import pyaudio", "import pyaudio"),
    ("PyAudio() device probe", "pa = pyaudio.PyAudio()"),
    # the daemon's own trust store: read lazily from the hashed system directory
    ("ssl + TLS context", "import ssl\nfrom edged.realtime.trust import system_context\n"
                          "tls = system_context()"),
    ("asyncio", "import asyncio"),
    ("websockets", "import websockets.asyncio.client"),
    ("yaml", "import yaml"),
    ("edged's modules", "\n".join(f"import {m}" for m in EDGED_IMPORTS)),
)

#: The budget per component, RSS MB, held by ``scripts/bench`` (each step's median
#: against it): what was measured 2026-12-08 with the rig's PCMs only, plus about 10 %.
#: The device probe with the system's ALSA configuration has a budget of its own.
BUDGET_MB: dict[str, float] = {
    "interpreter": 12.0, "numpy + soxr": 17.0, "import pyaudio": 2.0,
    "PyAudio() device probe": 6.5, "ssl + TLS context": 6.5, "asyncio": 3.0,
    "websockets": 4.5, "yaml": 1.0, "edged's modules": 9.0,
}
PROBE_SYSTEM_BUDGET_MB = 21.5


def held(steps: Sequence[dict[str, Any]], system: bool) -> list[dict[str, Any]]:
    """Each step beside its budget: ``[{"step", "rss_mb", "budget_mb", "met"}]``."""
    out = []
    for step in steps:
        limit = BUDGET_MB.get(step["step"])
        if system and step["step"] == "PyAudio() device probe":
            limit = PROBE_SYSTEM_BUDGET_MB
        out.append({"step": step["step"], "rss_mb": step["rss_mb"], "budget_mb": limit,
                    "met": None if limit is None else step["rss_mb"] <= limit})
    return out


#: Run after the steps, not a component: what glibc hands back, when asked, of the heap
#: freed during the imports (most of it after creating edged.config's dataclasses).
TRIM = ("malloc_trim(0)", "from edged.health.heap import trim\ntrim()")  # as the daemon does

ORDER_NOTE = ("steps run in this order in one interpreter; a module or library that "
              "several steps need is charged to the first that loads it (libstdc++ to "
              "numpy; http.client, email and urllib.request to websockets, which imports "
              "them; json and argparse to edged's modules)")

# The JACK client library and the Berkeley DB library it opens its metadata store with.
JACK_LIBRARIES = ("libjack.so", "libdb-5.3.so")

# Runs in the measured child: executes each step, prints one JSON reading per step.
_STEP_CHILD = """
import gc, json, sys
def reading():
    gc.collect()
    with open("/proc/self/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    with open("/proc/self/smaps_rollup") as f:
        pss = next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
    return {"rss_kb": rss, "pss_kb": pss, "modules": len(sys.modules)}
ns = {}
for name, code in json.loads(sys.argv[1]):
    exec(code, ns)
    print(json.dumps([name, reading()]), flush=True)
"""

# Runs in the probe child: smaps before ``import pyaudio`` (numpy and soxr loaded first,
# as in the budget), after it, and after the probe.
_SMAPS_CHILD = """
import json, sys
import numpy, soxr
def smaps():
    with open("/proc/self/smaps") as f:
        return f.read()
before = smaps()
import pyaudio
imported = smaps()
pa = pyaudio.PyAudio()
probed = smaps()
names = [pa.get_device_info_by_index(i)["name"] for i in range(pa.get_device_count())]
print(json.dumps({"before": before, "imported": imported, "probed": probed,
                  "devices": names}))
"""


# --------------------------------------------------------------------------- pure helpers


def minimal_rig_config() -> str:
    """An ALSA configuration with the private PulseAudio rig's PCMs and nothing else:
    given as ALSA_CONFIG_PATH it replaces the whole system configuration, so PortAudio
    probes these three PCMs and loads only the pulse plugin."""
    return ('pcm.edged_mic { type pulse device "edged_mic" }\n'
            'pcm.edged_spk { type pulse device "edged_spk" }\n'
            "pcm.!default { type pulse }\n"
            "ctl.!default { type pulse }\n")


def step_deltas(readings: Sequence[tuple[str, dict[str, int]]]) -> list[dict[str, Any]]:
    """Per-step costs from cumulative readings (the first step is charged from zero):
    ``[{"step", "rss_mb", "pss_mb", "modules"}]``, MB = 1024 kB."""
    out: list[dict[str, Any]] = []
    prev = {"rss_kb": 0, "pss_kb": 0, "modules": 0}
    for name, now in readings:
        out.append({"step": name,
                    "rss_mb": round((now["rss_kb"] - prev["rss_kb"]) / 1024, 2),
                    "pss_mb": round((now["pss_kb"] - prev["pss_kb"]) / 1024, 2),
                    "modules": now["modules"] - prev["modules"]})
        prev = now
    return out


def median_steps(runs: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Step by step, the median over runs of each figure, with each run's RSS beside."""
    if not runs:
        return []
    names = [s["step"] for s in runs[0]]
    for run in runs[1:]:
        if [s["step"] for s in run] != names:
            raise ValueError(f"runs measured different steps: {names} and "
                             f"{[s['step'] for s in run]}")
    out = []
    for i, name in enumerate(names):
        column = [run[i] for run in runs]
        out.append({"step": name,
                    "rss_mb": round(statistics.median(s["rss_mb"] for s in column), 2),
                    "pss_mb": round(statistics.median(s["pss_mb"] for s in column), 2),
                    "modules": int(statistics.median(s["modules"] for s in column)),
                    "rss_mb_runs": [s["rss_mb"] for s in column]})
    return out


def mapping_rss(smaps: str) -> dict[str, int]:
    """Resident kB per mapped file (all its mappings summed) from /proc/PID/smaps text;
    anonymous mappings count under ``[anon]``, ``[heap]`` and the like under their own."""
    rss: dict[str, int] = {}
    name = None
    for line in smaps.splitlines():
        fields = line.split()
        if not fields:
            continue
        if "-" in fields[0] and not fields[0].endswith(":"):
            # a mapping's header: address perms offset dev inode [path]
            name = " ".join(fields[5:]) if len(fields) > 5 else "[anon]"
        elif fields[0] == "Rss:" and name is not None:
            rss[name] = rss.get(name, 0) + int(fields[1])
    return rss


def is_library(name: str) -> bool:
    """A shared object: ``libfoo.so``, ``libfoo.so.1.2``, ``x.cpython-311-....so``."""
    base = name.rsplit("/", 1)[-1]
    return name.startswith("/") and (base.endswith(".so") or ".so." in base)


def new_libraries(before: dict[str, int], after: dict[str, int],
                  top: int | None = None) -> list[dict[str, Any]]:
    """Shared objects mapped in ``after`` but not ``before``, largest resident first
    (the ``top`` largest when given)."""
    found = sorted(((kb, name) for name, kb in after.items()
                    if is_library(name) and name not in before),
                   key=lambda row: (-row[0], row[1]))
    rows: list[dict[str, Any]] = [{"library": name, "rss_kb": kb} for kb, name in found]
    return rows if top is None else rows[:top]


def budget_mb(measured_mb: float, headroom: float = 0.10) -> float:
    """A budget for a measured figure: ``headroom`` above it, rounded up to 0.5 MB."""
    half_mbs = -(-measured_mb * (1 + headroom) * 2 // 1)
    return max(0.5, half_mbs / 2)


# --------------------------------------------------------------------------- the children


def _python() -> str:
    """The venv's interpreter (not ``-I``: the venv's site-packages must load)."""
    return str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable


def _child_env(env: dict[str, str], alsa_config: str | None) -> dict[str, str]:
    # SSL_CERT_FILE/DIR too: a speaker's environment names no trust store of its own
    out = {k: v for k, v in env.items()
           if k not in ("ALSA_CONFIG_PATH", "PYTHONPROFILEIMPORTTIME", "PYTHONSTARTUP",
                        "SSL_CERT_FILE", "SSL_CERT_DIR")}
    if alsa_config is not None:
        out["ALSA_CONFIG_PATH"] = alsa_config
    return out


class ChildFailed(RuntimeError):
    """A measuring child exited with an error; the message ends with its last line."""


def _run_child(program: str, args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([_python(), "-c", program, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        where = f" with ALSA_CONFIG_PATH={env['ALSA_CONFIG_PATH']}" \
            if "ALSA_CONFIG_PATH" in env else ""
        raise ChildFailed(f"the measuring interpreter failed{where} (exit "
                          f"{done.returncode}): {lines[-1] if lines else 'no message'}")
    return done.stdout


def measure_once(env: dict[str, str], alsa_config: str | None,
                 steps: Sequence[tuple[str, str]] = STEPS) -> list[dict[str, Any]]:
    """One fresh interpreter through ``steps``: the per-step deltas."""
    out = _run_child(_STEP_CHILD, [json.dumps(list(steps))], _child_env(env, alsa_config))
    readings = [tuple(json.loads(line)) for line in out.splitlines() if line.strip()]
    return step_deltas([(str(name), dict(r)) for name, r in readings])


def budget(env: dict[str, str], alsa_config: str | None,
           repeats: int = 3) -> dict[str, Any]:
    """The memory budget per component: medians of ``repeats`` fresh interpreters.

    ``ALSA_CONFIG_PATH`` is ``alsa_config`` when given (the system's configuration
    otherwise); ``malloc_trim_mb`` is what a trim after the steps gave back (negative).
    """
    runs = [measure_once(env, alsa_config, (*STEPS, TRIM)) for _ in range(repeats)]
    steps = [run[:-1] for run in runs]
    return {
        "alsa_config": alsa_config or "system",
        "repeats": repeats,
        "order": [name for name, _ in STEPS],
        "order_note": ORDER_NOTE,
        "steps": median_steps(steps),
        "total_rss_mb": round(statistics.median(sum(s["rss_mb"] for s in run)
                                                for run in steps), 2),
        "total_pss_mb": round(statistics.median(sum(s["pss_mb"] for s in run)
                                                for run in steps), 2),
        "malloc_trim_mb": round(statistics.median(run[-1]["rss_mb"] for run in runs), 2),
    }


def probe(env: dict[str, str], alsa_config: str | None) -> dict[str, Any]:
    """One probe child (see ``_SMAPS_CHILD``): resident kB per mapping at each stage."""
    raw = json.loads(_run_child(_SMAPS_CHILD, [], _child_env(env, alsa_config)))
    return {"before": mapping_rss(raw["before"]), "imported": mapping_rss(raw["imported"]),
            "probed": mapping_rss(raw["probed"]), "devices": raw["devices"]}


def staged_libraries(p: dict[str, Any], top: int | None = 25) -> list[dict[str, Any]]:
    """The libraries new since before ``import pyaudio``, resident after the probe,
    largest first, each with the stage that mapped it."""
    rows = new_libraries(p["before"], p["probed"], top)
    for row in rows:
        row["stage"] = "import pyaudio" if row["library"] in p["imported"] else "PyAudio()"
    return rows


def probe_libraries(env: dict[str, str], alsa_config: str | None,
                    top: int = 25) -> list[dict[str, Any]]:
    """What ``pyaudio.PyAudio()`` (and the import before it) maps, largest first."""
    return staged_libraries(probe(env, alsa_config), top)


def _grown(before: dict[str, int], after: dict[str, int], libraries: bool) -> int:
    """kB that mappings already present grew by (libraries, or everything else)."""
    return sum(kb - before[name] for name, kb in after.items()
               if name in before and is_library(name) == libraries)


def probe_totals(p: dict[str, Any]) -> dict[str, float | int]:
    """Where the probe's memory goes, in MB: libraries it mapped, libraries already
    mapped that it touched more of, and everything else (heap, anonymous memory); and
    JACK's share of the import and the probe together (see ``JACK_LIBRARIES``)."""
    import_libs = new_libraries(p["before"], p["imported"])
    probe_libs = new_libraries(p["imported"], p["probed"])
    new_other = sum(kb for name, kb in p["probed"].items()
                    if name not in p["imported"] and not is_library(name))
    jack = sum(kb for name, kb in p["probed"].items()
               if name not in p["before"] and any(j in name for j in JACK_LIBRARIES))

    def mb(kb: float) -> float:
        return round(kb / 1024, 2)

    return {"import_libraries_mb": mb(sum(r["rss_kb"] for r in import_libs)),
            "probe_libraries": len(probe_libs),
            "probe_new_libraries_mb": mb(sum(r["rss_kb"] for r in probe_libs)),
            "probe_grown_libraries_mb": mb(_grown(p["imported"], p["probed"], True)),
            "probe_heap_and_other_mb": mb(_grown(p["imported"], p["probed"], False)
                                          + new_other),
            "jack_mb": mb(jack)}


def measure(env: dict[str, str], alsa_config: str | None, repeats: int) -> dict[str, Any]:
    """The budget and the device probe under one ALSA configuration."""
    p = probe(env, alsa_config)
    return {"budget": budget(env, alsa_config, repeats),
            "probe": {"libraries": staged_libraries(p), "totals": probe_totals(p),
                      "devices": p["devices"]}}


# --------------------------------------------------------------------------- report


def report(results: dict[str, Any]) -> str:
    """The human-readable tables."""
    configs = results["configs"]
    lines = [f"memory per component: RSS (PSS) MB, median of {results['repeats']} fresh "
             f"interpreters, and a budget (+10 %, to 0.5 MB); {results['order_note']}", "",
             f"{'component':<26}" + "".join(f"{name[:24]:>24}{'budget':>8}"
                                            for name in configs)]
    names = [s["step"] for s in configs[next(iter(configs))]["budget"]["steps"]]
    for i, step in enumerate(names):
        cells = ""
        for c in configs.values():
            s = c["budget"]["steps"][i]
            cells += f"{s['rss_mb']:>16.2f} ({s['pss_mb']:>5.2f}){budget_mb(s['rss_mb']):>8.1f}"
        lines.append(f"{step:<26}{cells}")
    lines.append(f"{'total':<26}" + "".join(
        f"{c['budget']['total_rss_mb']:>16.2f} ({c['budget']['total_pss_mb']:>5.2f})"
        f"{budget_mb(c['budget']['total_rss_mb']):>8.1f}" for c in configs.values()))
    lines.append(f"{'then malloc_trim(0)':<26}" + "".join(
        f"{c['budget']['malloc_trim_mb']:>16.2f}{'':>16}" for c in configs.values()))
    for name, c in configs.items():
        t = c["probe"]["totals"]
        lines += ["", f"device probe, ALSA configuration {name}: devices "
                  f"{', '.join(c['probe']['devices'])}",
                  f"  import pyaudio mapped {t['import_libraries_mb']} MB of libraries; "
                  f"PyAudio() mapped {t['probe_libraries']} more "
                  f"({t['probe_new_libraries_mb']} MB), touched "
                  f"{t['probe_grown_libraries_mb']} MB more of those already mapped, "
                  f"heap and other {t['probe_heap_and_other_mb']} MB; "
                  f"JACK ({', '.join(JACK_LIBRARIES)}) {t['jack_mb']} MB"]
        lines += [f"  {r['rss_kb']:>7} kB  {r['stage']:<15} {r['library']}"
                  for r in c["probe"]["libraries"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh interpreters per configuration (default 3)")
    parser.add_argument("--alsa-config", metavar="PATH",
                        help="an ALSA configuration to measure beside the system's "
                        "(default: the rig's PCMs only, as minimal_rig_config() writes)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.alsa_config and not Path(args.alsa_config).is_file():
        parser.error(f"--alsa-config: no such file: {args.alsa_config}")

    sys.path.insert(0, str(ROOT))
    from edged.rig.pulse import have_pulseaudio, pulse_rig

    if not have_pulseaudio():
        print("bench_memory: PulseAudio (pulseaudio, pulseaudio-utils) is not installed; "
              "scripts/setup installs it", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="edged-memory-") as tmp, pulse_rig() as rig:
        other, label = args.alsa_config, args.alsa_config
        if other is None:
            other, label = os.path.join(tmp, "asound-minimal.conf"), "minimal"
            Path(other).write_text(minimal_rig_config())
        try:
            results = {"repeats": args.repeats, "order_note": ORDER_NOTE,
                       "configs": {"system": measure(rig.env, None, args.repeats),
                                   label: measure(rig.env, other, args.repeats)}}
        except ChildFailed as exc:
            print(f"bench_memory: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
