"""``edged status``: the latest health record from the journal, as a table or JSON."""

from __future__ import annotations

import argparse
import sys

EXIT_NO_RECORD = 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="show the latest health record from the journal",
        description="Read the latest health record edged wrote to the journal and print it "
        "as a short table (or JSON). Exit status 1 when there is none.",
    )
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.add_argument("--directory", "-D", metavar="DIR",
                   help="read journal files from DIR instead of the system journal "
                   "(like journalctl -D)")
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
    if args.json:
        print(json.dumps(record.as_json(), indent=2, sort_keys=True))
    else:
        print(records.table(record, now=datetime.now(UTC)))
    return 0
