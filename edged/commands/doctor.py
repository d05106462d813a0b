"""``edged doctor``: check the config, audio, buttons, key, endpoint, journal and unit."""

from __future__ import annotations

import argparse
import json
import sys


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError("must be 0–60 seconds")
    return value


def _timeout(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be above 0 seconds")
    return value


def _check_ids(text: str) -> set[str]:
    from edged.doctor.plan import CHECKS

    known = [spec.id for spec in CHECKS]
    ids = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(ids - set(known))
    if unknown or not ids:
        raise argparse.ArgumentTypeError(f"unknown check {', '.join(unknown) or text!r}; "
                                         f"choose from: {', '.join(known)}")
    return ids


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check the setup: config, audio, buttons, API key, endpoint, journal, unit",
        description="Check, in order, everything edged needs, printing ✓/✗ (⚠ for a warning) "
        "with a one-line fix for each problem: the config file, the microphone and speaker "
        "(they open; a live level meter; a test tone), GPIO pins and groups, the API key "
        "(never shown), DNS, TLS and the WebSocket handshake with the real key, journald, "
        "and the systemd unit. Exit status 1 when a check fails (warnings do not fail). "
        "Stop the service first (sudo systemctl stop edged): it holds the devices and pins.",
    )
    p.add_argument("--config", metavar="PATH", help="config file (default: $EDGED_CONFIG or "
                   "/etc/edged/edged.yaml)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead")
    p.add_argument("--listen-s", type=_seconds, default=3.0, metavar="SECONDS",
                   help="how long the microphone level meter listens (default: 3; 0 skips it)")
    p.add_argument("--no-tone", action="store_true", help="do not play the test tone")
    p.add_argument("--timeout-s", type=_timeout, default=None, metavar="SECONDS",
                   help="network timeout (default: the config's link.open_timeout_s)")
    p.add_argument("--only", type=_check_ids, default=None, metavar="IDS",
                   help="run only these checks (comma-separated ids, with what they need "
                   "first): config, input_device, output_device, wake_word, mic_level, "
                   "speaker_tone, gpio, groups, credentials, token_service, dns, tls, "
                   "handshake, http_tools, journald, systemd")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from edged.doctor import report, runner
    from edged.doctor.context import Options
    from edged.doctor.result import CheckResult

    out = sys.stdout
    marks = report.marks_for(getattr(out, "encoding", None))
    interactive = not args.json and out.isatty()
    options = Options(config_path=args.config, listen_s=args.listen_s, tone=not args.no_tone,
                      timeout_s=args.timeout_s, live=out if interactive else None)

    def show(result: CheckResult) -> None:
        if not args.json:
            print("\n".join(report.lines(result, marks)), file=out, flush=True)

    results = runner.run(options, show, args.only)
    if args.json:
        print(json.dumps(report.to_json(results), indent=2, ensure_ascii=False), file=out)
    else:
        tally = report.tally(results)
        if marks is not report.MARKS:
            tally = tally.replace("✗", "XX").replace("—", "-")
        print(tally, file=out)
    return report.exit_status(results)
