"""``edged check-config``: validate a config file the way the daemon will."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edged import config


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
    try:
        cfg = config.load(args.path)
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return 2
    unusable = [p for p in (_wake_word_problem(cfg), alsa_config_problem(cfg)) if p is not None]
    if unusable:
        for problem in unusable:
            print(problem, file=sys.stderr)
        n = len(unusable)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return 2
    print(cfg.summary())
    return 0


def _line(cfg: config.Config, *keys: str) -> int:
    """The line of the first of ``keys`` the loaded file sets (0 if none)."""
    try:
        text = Path(cfg.source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    return next((line for key in keys if (line := config.line_of(text, key))), 0)


def alsa_config_problem(cfg: config.Config) -> config.Problem | None:
    """The file ``audio.alsa_config`` names must be readable and define a default PCM:
    the daemon reads it at every device (re)open, and PortAudio aborts the process on
    a file without a default (``edged devices`` checks this too)."""
    path = cfg.audio.alsa_config
    if path is None:
        return None
    from edged.audio.alsa_conf import file_problem

    why = file_problem(path)
    if why is None:
        return None
    return config.Problem(cfg.source, _line(cfg, "audio.alsa_config"), "audio.alsa_config",
                          why)


def _wake_word_problem(cfg: config.Config) -> config.Problem | None:
    """With the wake word on, the package must import and the model load, as the daemon
    will do at start (a 32-bit system has no package for it)."""
    if not cfg.wake_word.enabled:
        return None
    from edged.wakeword.detector import load
    from edged.wakeword.models import ModelError

    try:
        load(cfg.wake_word.model).close()
    except ModelError as exc:
        return config.Problem(cfg.source, _line(cfg, "wake_word.model", "wake_word"),
                              "wake_word.model", str(exc))
    return None
