"""``edged demo``: the real daemon against the built-in simulator, no key, no hardware."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MEANING = {
    "pulse": "sound starts are PortAudio's DAC times, silences are read off the null sink's "
             "monitor; the sink's start-up stall was waited out before the first scene, and "
             "uplink latency counts from the capture of the last sample (the rig's input "
             "buffering included)",
    "memory": "in-memory devices have no buffer and no device clock: the figures show what "
              "edged adds, not what a sound card adds",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the daemon against the built-in simulator (no API key, no hardware)",
        description="Run the real daemon against the built-in realtime simulator on a "
        "loopback port, with scripted button presses: a push-to-talk turn, a barge-in, a "
        "hands-free turn, a link drop survived mid-utterance and a timer set by a tool "
        "call, rung and stopped. Its audio is PortAudio over a private PulseAudio server "
        "(null sinks) where PulseAudio is installed, else in-memory devices. Prints a "
        "timeline with measured latencies.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--out", default="edged-demo-answers.wav",
                   help="WAV file for what the speaker played (default: %(default)s; "
                   "'' for none)")
    p.add_argument("--pace", type=float, default=2.0,
                   help="simulator answer speed, × real time (default: %(default)s)")
    p.add_argument("--audio", choices=("auto", "pulse", "memory"), default="auto",
                   help="pulse: PortAudio over a private PulseAudio server's null sinks; "
                   "memory: in-memory devices; auto: pulse where it works, else memory "
                   "(default: %(default)s)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import logging

    from edged.demo.scenario import AudioUnavailable, Demo
    from edged.health.journal import setup_logging

    # The demo's own timeline is the output; the daemon's log lines would bury it.
    setup_logging(logging.ERROR, journal=False).setLevel(logging.ERROR)
    lines: list[str] = []
    say = lines.append if args.json else (lambda text: print(text, flush=True))
    demo = Demo(pace=args.pace, out=Path(args.out) if args.out else None, say=say,
                audio=args.audio)
    try:
        result = asyncio.run(demo.run())
    except AudioUnavailable as exc:
        print(f"edged demo: --audio pulse: {exc}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"edged demo: failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    summary(result)
    return 0


def summary(result: dict[str, Any]) -> None:
    print()
    for step in result["steps"]:
        figures = ", ".join(f"{k} {v}" for k, v in step.items() if k != "step")
        print(f"{step['step']:>13}: {figures}")
    u = result["utterances"]
    print(f"      answers: {result['answers']}, barge-ins {result['barge_ins']}, utterances "
          f"held {u['held']} / delivered {u['delivered']} / dropped {u['dropped']}, "
          f"reconnects {result['link']['reconnects']}")
    lat = result["latency_ms"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    print(f"      latency: uplink p50/p95 {ms(lat['uplink_p50'])}/{ms(lat['uplink_p95'])} ms, "
          f"downlink p50/p95 {ms(lat['downlink_p50'])}/{ms(lat['downlink_p95'])} ms "
          "(the daemon's meters; downlink includes the playback prebuffer)")
    print(f"        audio: {result['audio']}: {MEANING[result['audio']]}")
    if "answer_wav" in result:
        print(f"  answer audio: {result['answer_wav']} ({result['answer_audio_s']} s)")
