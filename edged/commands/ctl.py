"""``edged ctl``: press the buttons, mute, say text, set the volume and timers, read
status and watch events over the daemon's local control socket."""

from __future__ import annotations

import argparse
import re
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
    "stop": ("stop", "silence a ringing timer or alarm; with none ringing, stop the current "
             "answer or turn (as cancel)"),
}

MAX_TIMER_S = 86400
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_LEVEL = re.compile(r"[+-]?\d+")


def parse_duration(text: str) -> int:
    """Seconds from ``90``, ``90s``, ``10m``, ``1h30m`` (1 to 86400); ValueError if not."""
    spec = "".join(text.split()).lower()
    match = _DURATION.fullmatch(spec)
    if spec.isdigit():
        seconds = int(spec)
    elif spec and match is not None:
        h, m, s = (int(g or 0) for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    else:
        raise ValueError(f"{text!r} is not a duration: give seconds (90) or a number with "
                         "h, m, s (90s, 10m, 1h30m)")
    if not 1 <= seconds <= MAX_TIMER_S:
        raise ValueError(f"a timer runs from 1 second to 24 hours ({MAX_TIMER_S} s), not "
                         f"{seconds} s")
    return seconds


def parse_volume(text: str | None) -> dict[str, Any]:
    """The ``volume`` request's fields: none (read), ``level`` (``60``), ``change`` (``+5``,
    ``-5``, or ``+``/``up``, ``-``/``down`` for one ``tools.volume_step``). ValueError if
    none of these."""
    if text is None:
        return {}
    spec = text.strip().lower()
    if spec in ("+", "up"):
        return {"change": "up"}
    if spec in ("-", "down"):
        return {"change": "down"}
    if _LEVEL.fullmatch(spec):
        number = int(spec)
        if spec[0] in "+-":
            if abs(number) <= 100:
                return {"change": number}
        elif number <= 100:
            return {"level": number}
    raise ValueError(f"volume {text!r}: give a level 0-100, a change +N or -N, or + / - "
                     "(one step)")


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
        "the same events as the buttons, the volume and timers, plus status and a live "
        "event stream. Exit status: "
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
    volume = actions.add_parser(
        "volume", help="read or set the volume: 60, +10, -10, or + / - for one step",
        description="Without LEVEL print the volume (0-100). LEVEL sets it (60), moves it "
        "(+10, -10: kept within 0-100), or moves it one tools.volume_step (+ or up, - or "
        "down). Prints 'volume N', with '(no change)' when it already was.")
    volume.add_argument("level", nargs="?", metavar="LEVEL", help="N, +N, -N, +, -")
    _common(volume, argparse.SUPPRESS)
    _timers_parser(actions)
    watch = actions.add_parser(
        "watch", help="print the event stream until interrupted",
        description="Print one line per event (TIME PHASE KIND key=value...) until "
        "interrupted; the phase is always the second column.")
    watch.add_argument("--json", action="store_true", help="print the raw JSON lines")
    _common(watch, argparse.SUPPRESS)
    p.set_defaults(handler=run)


def _timers_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    timers = actions.add_parser(
        "timers", help="list, set or cancel timers and alarms",
        description="Without an action, print the timers and alarms (id, kind, label, time "
        "remaining, local time it rings), or 'no timers', and what rings now.")
    timers.add_argument("--json", action="store_true", help="print the reply as JSON")
    _common(timers, argparse.SUPPRESS)
    what = timers.add_subparsers(dest="timers_action", metavar="[ACTION]")
    cancel = what.add_parser("cancel", help="cancel by id (t1), label, or 'all'",
                             description="Cancel timers and alarms by id (t1), by label "
                             "(every match, any case) or all of them ('all'). Prints the "
                             "ids cancelled.")
    cancel.add_argument("which", metavar="WHICH", help="an id such as t1, a label, or all")
    _common(cancel, argparse.SUPPRESS)
    set_ = what.add_parser("set", help="start a timer: DURATION [LABEL]",
                           description="Start a countdown timer. DURATION: seconds (90) or "
                           "with units (90s, 10m, 1h30m), at most 24h. Prints the new timer.")
    set_.add_argument("duration", metavar="DURATION", help="90, 90s, 10m, 1h30m")
    set_.add_argument("label", metavar="LABEL", nargs="*", help="what it is for (pasta)")
    _common(set_, argparse.SUPPRESS)


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
        timeout = _timeout(args, DEFAULT_TIMEOUT_S)
        request = _tool_request(args)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    client = ControlClient(path, timeout=timeout)
    try:
        with client:
            if request is not None:
                return _tool(client, args, *request)
            return _act(client, args)
    except ControlError as exc:
        return _fail(str(exc), exc.exit_code)
    except BrokenPipeError:  # stdout closed (``| head``): nothing more to say
        return 0


def _timeout(args: argparse.Namespace, default: float) -> float:
    """--timeout (``default`` without it); ValueError for it or ``talk --seconds`` out of
    range."""
    timeout = getattr(args, "timeout", None)
    if timeout is None:
        timeout = default
    elif not 0 < timeout <= 3600:
        raise ValueError("--timeout must be above 0 and at most 3600 seconds")
    if args.action == "talk" and not 0 < args.seconds <= 3600:
        raise ValueError("--seconds must be above 0 and at most 3600")
    return float(timeout)


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
            shown = {k: reply.get(k) for k in ("phase", "priority", "reasons", "pid", "health",
                                               "volume", "next_timer")}
            print(json.dumps(shown, indent=2, sort_keys=True))
        else:
            from edged.control.render import tools_lines
            from edged.health.records import HealthRecord, table

            record = HealthRecord(health=dict(reply.get("health") or {}),
                                  priority=str(reply.get("priority", "info")),
                                  reasons=[str(r) for r in reply.get("reasons") or []],
                                  pid=reply.get("pid") if isinstance(reply.get("pid"), int)
                                  else None)
            print("\n".join([table(record), *tools_lines(reply)]))
        return 0
    if action == "reload":
        return _reload(client)
    if action == "watch":
        return _watch(client, args.json)
    return _fail(f"unknown action {action}", EXIT_USAGE)  # pragma: no cover - argparse


def _tool_request(args: argparse.Namespace) -> tuple[str, dict[str, Any]] | None:
    """The request for ``volume`` and ``timers`` (checked here: a usage error is exit 2,
    before any connection), None for the other actions."""
    if args.action == "volume":
        return "volume", parse_volume(args.level)
    if args.action != "timers":
        return None
    sub = getattr(args, "timers_action", None)
    if sub == "cancel":
        which = " ".join(args.which.split())
        if not which:
            raise ValueError("timers cancel needs an id (t1), a label, or all")
        return "timers.cancel", {"which": which}
    if sub == "set":
        fields: dict[str, Any] = {"seconds": parse_duration(args.duration)}
        label = " ".join(" ".join(args.label).split())
        if label:
            fields["label"] = label
        return "timers.set", fields
    return "timers", {}


def _tool(client: ControlClient, args: argparse.Namespace, cmd: str,
          fields: dict[str, Any]) -> int:
    import json

    from edged.control.render import format_timers, timer_phrase

    reply = client.request(cmd, **fields)
    if cmd == "volume":
        unchanged = " (no change)" if reply.get("changed") is False else ""
        print(f"volume {reply.get('level')}{unchanged}", flush=True)
    elif cmd == "timers.cancel":
        print("cancelled: " + (", ".join(str(i) for i in reply.get("cancelled") or [])
                               or "nothing (no timers)"), flush=True)
    elif cmd == "timers.set":
        timer = reply.get("timer") or {}
        print(f"{timer.get('id')}: {timer_phrase(timer)}", flush=True)
    elif args.json:
        print(json.dumps({k: reply.get(k) for k in ("timers", "ringing")}, indent=2),
              flush=True)
    else:
        print(format_timers(reply.get("timers") or [], reply.get("ringing") or []), flush=True)
    return 0


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
