"""``edged check-config``: validate a config file the way the daemon will."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Validate a config file; print a summary, or every problem as "
        "PATH:LINE: key: reason (exit status 2).",
    )
    p.add_argument("path", nargs="?", help="config file (default: $EDGED_CONFIG or "
                   "/etc/edged/edged.yaml)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from edged import config

    try:
        cfg = config.load(args.path)
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return 2
    print(cfg.summary())
    return 0
