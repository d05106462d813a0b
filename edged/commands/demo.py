"""``edged demo``: the real daemon against the built-in simulator, no key, no hardware."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the daemon against the built-in simulator (no API key, no hardware)",
        description="Run the real daemon against the built-in realtime simulator on a "
        "loopback port, with a paced virtual microphone and speaker and scripted button "
        "presses: a push-to-talk turn, a barge-in, a hands-free turn and a link drop "
        "survived mid-utterance. Prints a timeline with measured latencies.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--out", default="edged-demo-answers.wav",
                   help="WAV file for what the speaker played (default: %(default)s; "
                   "'' for none)")
    p.add_argument("--pace", type=float, default=2.0,
                   help="simulator answer speed, × real time (default: %(default)s)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import logging

    from edged.demo.scenario import Demo
    from edged.health.journal import setup_logging

    # The demo's own timeline is the output; the daemon's log lines would bury it.
    setup_logging(logging.ERROR, journal=False).setLevel(logging.ERROR)
    lines: list[str] = []
    say = lines.append if args.json else (lambda text: print(text, flush=True))
    demo = Demo(pace=args.pace, out=Path(args.out) if args.out else None, say=say)
    try:
        result = asyncio.run(demo.run())
    except TimeoutError as exc:
        print(f"edged demo: failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
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
          "(added by edged; downlink includes the playback prebuffer)")
    if "answer_wav" in result:
        print(f"  answer audio: {result['answer_wav']} ({result['answer_audio_s']} s)")
    return 0
