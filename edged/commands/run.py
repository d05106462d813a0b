"""``edged run``: the daemon, as systemd starts it."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the daemon (what the systemd unit starts)",
        description="Run the speaker: audio, buttons, the realtime link and health "
        "reporting under one event loop. SIGHUP reloads the config; SIGTERM stops.",
    )
    p.add_argument("--config", help="config file (default: $EDGED_CONFIG or "
                   "/etc/edged/edged.yaml)")
    p.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default: INFO")
    p.set_defaults(handler=run)


PR_SET_DUMPABLE = 4


def not_dumpable() -> bool:
    """Keep other processes of the service's user (a command tool, say) out of this one:
    a process that is not dumpable has its /proc files (environ, mem) owned by root and
    cannot be traced or core-dumped, so the keys in its memory and environment stay in
    it. False where the kernel refused (nothing else changes)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def run(args: argparse.Namespace) -> int:
    import asyncio

    from edged import config as config_mod
    from edged.audio.port import pyaudio_engine
    from edged.daemon import EXIT_CONFIG, Daemon
    from edged.health.journal import setup_logging

    setup_logging(args.log_level)
    not_dumpable()
    path = args.config or config_mod.default_path()
    try:
        cfg = config_mod.load(path)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    daemon = Daemon(cfg, audio_factory=pyaudio_engine, config_path=path)
    return asyncio.run(daemon.run())
