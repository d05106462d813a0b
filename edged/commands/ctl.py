"""``edged ctl``: press the buttons, mute, say text, read status and watch events over
the daemon's local control socket."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edged.control.client import ControlClient

EXIT_USAGE = 2

_SIMPLE = {
    "ptt-press": ("ptt.press", "press push-to-talk (until ptt-release, or the "
                  "conversation.max_utterance_s guard)"),
    "ptt-release": ("ptt.release", "release push-to-talk: send the utterance"),
    "wake": ("wake", "start or end a hands-free conversation (like a wake-button press)"),
    "mute": ("mute", "close the microphone (no-op when already muted)"),
    "unmute": ("unmute", "open the microphone again (no-op when not muted)"),
    "cancel": ("cancel", "stop the current answer or turn"),
}


def _common(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--socket", metavar="PATH", default=default,
                        help="control socket (default: control.socket from the config)")
    parser.add_argument("--config", metavar="PATH", default=default,
                        help="config file to read control.socket from (default: "
                        "$EDGED_CONFIG or /etc/edged/edged.yaml)")
    parser.add_argument("--timeout", metavar="S", type=float, default=default,
                        help="seconds to wait for the daemon's reply (default: 10)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ctl",
        help="control the running daemon over its local socket (no GPIO needed)",
        description="Send a command to the running edged over its Unix control socket: "
        "the same events as the buttons, plus status and a live event stream. Exit status: "
        "0 done, 1 refused by the daemon, 2 usage, 3 daemon not running, 4 permission denied, "
        "5 busy (no free connection slot).",
    )
    _common(p, None)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, (_, text) in _SIMPLE.items():
        _common(actions.add_parser(name, help=text, description=text), argparse.SUPPRESS)
    talk = actions.add_parser("talk", help="press push-to-talk, wait, release",
                              description="Press push-to-talk, keep it down for --seconds, "
                              "release. Interrupting releases at once.")
    talk.add_argument("--seconds", type=float, default=3.0,
                      help="how long to hold it (default: %(default)s)")
    _common(talk, argparse.SUPPRESS)
    say = actions.add_parser("say", help="ask with typed text instead of speech",
                             description="Start an answer from a text prompt (announcements, "
                             "tests).")
    say.add_argument("text", help="the prompt")
    _common(say, argparse.SUPPRESS)
    status = actions.add_parser("status", help="the daemon's live health figures",
                                description="Print the health figures from the running daemon.")
    status.add_argument("--json", action="store_true", help="print JSON")
    _common(status, argparse.SUPPRESS)
    reload = actions.add_parser(
        "reload", help="reload the config file and say what changed, or why it was refused",
        description="Ask the daemon to reload its config, as SIGHUP does, and print "
        "'applied: KEYS' (exit 0) or 'refused: PATH:LINE: key: reason' per problem (exit 1): "
        "systemctl reload reports success even when the file was refused.")
    _common(reload, argparse.SUPPRESS)
    watch = actions.add_parser(
        "watch", help="print the event stream until interrupted",
        description="Print one line per event (TIME PHASE KIND key=value...) until "
        "interrupted; the phase is always the second column.")
    watch.add_argument("--json", action="store_true", help="print the raw JSON lines")
    _common(watch, argparse.SUPPRESS)
    p.set_defaults(handler=run)


def _fail(message: str, code: int) -> int:
    print(f"edged ctl: {message}", file=sys.stderr)
    return code


def socket_path(args: argparse.Namespace) -> str:
    """--socket, else control.socket from the config (the built-in default if it has none).

    Raises ValueError with a message when the named config is bad or disables control.
    """
    from edged import config as config_mod

    if getattr(args, "socket", None):
        return str(args.socket)
    named = getattr(args, "config", None)
    path = named or config_mod.default_path()
    try:
        cfg = config_mod.load(path)
    except config_mod.ConfigError as exc:
        if named:
            raise ValueError(str(exc)) from None
        cfg = config_mod.Config()  # no readable system config: the daemon's default socket
    if not cfg.control.enabled:
        raise ValueError(f"the control socket is disabled (control.enabled is false in {path})")
    return cfg.control.socket


def run(args: argparse.Namespace) -> int:
    import signal

    from edged.control.client import DEFAULT_TIMEOUT_S, ControlClient, ControlError

    # Ctrl-C ends ``watch`` and releases ``talk`` even when this process was started with
    # SIGINT ignored, as everything started in the background by a non-interactive shell
    # is (and keeps it: Python installs its own handler only where SIGINT is not ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        path = socket_path(args)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    timeout = getattr(args, "timeout", None)
    if timeout is None:
        timeout = DEFAULT_TIMEOUT_S
    elif not 0 < timeout <= 3600:
        return _fail("--timeout must be above 0 and at most 3600 seconds", EXIT_USAGE)
    if args.action == "talk" and not 0 < args.seconds <= 3600:
        return _fail("--seconds must be above 0 and at most 3600", EXIT_USAGE)
    client = ControlClient(path, timeout=timeout)
    try:
        with client:
            return _act(client, args)
    except ControlError as exc:
        return _fail(str(exc), exc.exit_code)
    except BrokenPipeError:  # stdout closed (``| head``): nothing more to say
        return 0


def _act(client: ControlClient, args: argparse.Namespace) -> int:  # noqa: PLR0911 - one return per action: the command table
    import json

    action = args.action
    if action in _SIMPLE:
        cmd = _SIMPLE[action][0]
        reply = client.request(cmd, **({"keep": True} if cmd == "ptt.press" else {}))
        _print_phase(reply)
        return 0
    if action == "say":
        _print_phase(client.request("say", text=args.text))
        return 0
    if action == "talk":
        return _talk(client, args.seconds)
    if action == "status":
        reply = client.request("status")
        if args.json:
            shown = {k: reply.get(k) for k in ("phase", "priority", "reasons", "pid", "health")}
            print(json.dumps(shown, indent=2, sort_keys=True))
        else:
            from edged.health.records import HealthRecord, table

            record = HealthRecord(health=dict(reply.get("health") or {}),
                                  priority=str(reply.get("priority", "info")),
                                  reasons=[str(r) for r in reply.get("reasons") or []],
                                  pid=reply.get("pid") if isinstance(reply.get("pid"), int)
                                  else None)
            print(table(record))
        return 0
    if action == "reload":
        return _reload(client)
    if action == "watch":
        return _watch(client, args.json)
    return _fail(f"unknown action {action}", EXIT_USAGE)  # pragma: no cover - argparse


def _print_phase(reply: dict[str, Any]) -> None:
    phase = str(reply.get("phase", "?"))
    print(phase if reply.get("changed", True) else f"{phase} (no change)", flush=True)


def _reload(client: ControlClient) -> int:
    from edged.control.client import Refused

    try:
        reply = client.request("reload")
    except Refused as exc:
        problems = (exc.reply or {}).get("problems") or [str(exc)]
        for problem in problems:
            print(f"refused: {problem}", flush=True)
        return exc.exit_code
    changed = [str(k) for k in reply.get("changed") or []]
    print("applied: " + (", ".join(changed) if changed else "nothing changed"), flush=True)
    for warning in reply.get("warnings") or []:  # in force, but not all of it in use
        print(f"warning: {warning}", flush=True)
    return 0


def _talk(client: ControlClient, seconds: float) -> int:
    import time

    # Held by this connection: if this process dies, the daemon releases it.
    _print_phase(client.request("ptt.press"))
    try:
        # In slices: a Ctrl-C that lands just before a long sleep begins would otherwise
        # be acted on only when that sleep ends.
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(0.5, left))
    finally:  # Ctrl-C ends the utterance early rather than abandoning it
        reply = client.request("ptt.release")
    _print_phase(reply)
    return 0


def _watch(client: ControlClient, raw: bool) -> int:
    import json

    from edged.control.render import format_event

    try:
        for event in client.events():
            print(json.dumps(event, separators=(",", ":")) if raw else format_event(event),
                  flush=True)
    except KeyboardInterrupt:
        return 0
    return 0  # pragma: no cover - events() ends only by raising
