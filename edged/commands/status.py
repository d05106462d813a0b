"""``edged status``: the latest health record from the journal, as a table or JSON, with
the volume and the next timer from the running daemon when it answers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_NO_RECORD = 1
LIVE_TIMEOUT_S = 2.0
"""How long to wait for the daemon's volume and timers (the table must not hang on it)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="show the latest health record from the journal",
        description="Read the latest health record edged wrote to the journal and print it "
        "as a short table (or JSON), then the volume and the next timer if the running "
        "daemon answers on its control socket. Exit status 1 when there is no record.",
    )
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.add_argument("--directory", "-D", metavar="DIR",
                   help="read journal files from DIR instead of the system journal "
                   "(like journalctl -D)")
    p.add_argument("--socket", metavar="PATH",
                   help="control socket to ask for the volume and the next timer (default: "
                   "control.socket from the config; not asked with --directory unless given)")
    p.set_defaults(handler=run)


def _fail(message: str) -> int:
    print(f"edged status: {message}", file=sys.stderr)
    return EXIT_NO_RECORD


def run(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from edged.health import records

    try:
        import systemd.journal
    except ImportError:
        return _fail("systemd-python is not installed, so the journal cannot be read")

    where = args.directory or "the system journal"
    try:
        if args.directory:
            reader = systemd.journal.Reader(path=args.directory)
        else:
            reader = systemd.journal.Reader()
    except OSError as exc:
        return _fail(f"cannot open {where}: {exc.strerror or exc}")
    with reader:
        reader.add_match(SYSLOG_IDENTIFIER="edged", EDGED_KIND=records.KIND_HEALTH)
        try:
            reader.seek_tail()
            entry = reader.get_previous()
        except OSError as exc:
            return _fail(f"cannot read {where}: {exc.strerror or exc}")
    if not entry:
        hint = "" if args.directory else (
            " (is edged running? Reading the system journal needs root or membership "
            "of the systemd-journal or adm group)")
        return _fail(f"no health record found in {where}{hint}")
    try:
        record = records.record_from_entry(entry)
    except records.RecordError as exc:
        return _fail(f"the latest health record is unreadable: {exc}")
    live = live_status(args)
    if args.json:
        shown = record.as_json()
        if live is not None:
            shown.update({k: live.get(k) for k in ("volume", "next_timer", "wake_word")})
        print(json.dumps(shown, indent=2, sort_keys=True))
    else:
        from edged.control.render import tools_lines, wake_word_lines

        lines = [records.table(record, now=datetime.now(UTC))]
        lines.extend(tools_lines(live or {}))
        lines.extend(wake_word_lines((live or {}).get("wake_word")))
        print("\n".join(lines))
    return 0


def live_status(args: argparse.Namespace) -> dict[str, Any] | None:
    """The running daemon's ``status`` reply, or None: not asked (a journal from
    ``--directory`` is not this machine's daemon), not running, not allowed, no control
    socket. Never an error: the journal's record is what this command reports."""
    from edged.commands.ctl import socket_path
    from edged.control.client import ControlClient, ControlError

    if getattr(args, "directory", None) and not getattr(args, "socket", None):
        return None
    try:
        path = socket_path(args)
        with ControlClient(path, timeout=LIVE_TIMEOUT_S) as client:
            return client.request("status")
    except (ValueError, OSError, ControlError):
        return None
