"""``edged devices``: the audio devices PortAudio sees, and the ones the config picks."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edged.audio import DeviceInfo, PortAudio, StreamFormat
    from edged.config import AudioConfig, Config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "devices",
        help="list audio devices and the ones the config picks",
        description="List the PortAudio devices (index, name, input/output channels, default "
        "rate) and mark the microphone and speaker the config would open, with the rate and "
        "channels edged would use. Exit status 1 when a configured device is missing, 2 when "
        "the config is invalid.",
    )
    p.add_argument("--config", metavar="PATH", help="config file (default: $EDGED_CONFIG or "
                   "/etc/edged/edged.yaml; built-in defaults if that does not exist)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from edged import config
    from edged.audio import PortAudio
    from edged.commands.check_config import alsa_config_problem

    try:
        cfg, note = _config(args.config)
        unusable = alsa_config_problem(cfg)
        if unusable is not None:  # PortAudio would abort on a file without a default
            raise config.ConfigError([unusable])
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    audio = cfg.audio
    try:
        pa = PortAudio(alsa_config=audio.alsa_config)
    except OSError as exc:
        print(f"cannot initialise PortAudio: {exc}", file=sys.stderr)
        return 1
    try:
        devices = pa.devices()
        picks, problems = _picks(pa, audio)
    finally:
        pa.terminate()
    if args.json:
        _print_json(devices, picks, problems)
    else:
        _print_table(devices, picks, problems, note)
    return 1 if problems else 0


def _config(path_arg: str | None) -> tuple[Config, str]:
    """The config to pick by, and a note when it is the built-in defaults (no config
    named and none at the default path)."""
    from edged import config

    path = path_arg or config.default_path()
    if path_arg is None and not os.path.exists(path):
        return config.Config(), f"{path} not found: showing what the built-in defaults pick"
    return config.load(path), ""


def _picks(pa: PortAudio, audio: AudioConfig) -> tuple[dict[str, StreamFormat | None],
                                                       list[str]]:
    """The device edged would open per direction (None: missing), and why any is missing."""
    from edged.audio import AudioError

    picks: dict[str, StreamFormat | None] = {}
    problems: list[str] = []
    wanted = {"input": (audio.input_device, audio.input_rate, audio.input_channels),
              "output": (audio.output_device, audio.output_rate, audio.output_channels)}
    for direction in ("input", "output"):
        device, rate, channels = wanted[direction]
        try:
            picks[direction] = pa.resolve(device, direction, rate, channels)
        except AudioError as exc:
            picks[direction] = None
            problems.append(str(exc))
        except OSError as exc:  # PortAudio itself failed
            picks[direction] = None
            problems.append(f"cannot list the audio devices: {exc}")
    return picks, problems


def _print_json(devices: list[DeviceInfo], picks: dict[str, StreamFormat | None],
                problems: list[str]) -> None:
    def pick(fmt: StreamFormat | None) -> dict[str, Any] | None:
        if fmt is None:
            return None
        return {"index": fmt.device.index, "name": fmt.device.name, "rate": fmt.rate,
                "channels": fmt.channels}

    print(json.dumps({
        "devices": [
            {"index": d.index, "name": d.name, "max_input_channels": d.max_input_channels,
             "max_output_channels": d.max_output_channels, "default_rate": d.default_rate,
             "host_api": d.host_api, "default_input": d.default_input,
             "default_output": d.default_output}
            for d in devices
        ],
        "input": pick(picks["input"]),
        "output": pick(picks["output"]),
        "problems": problems,
    }, indent=2))


def _print_table(devices: list[DeviceInfo], picks: dict[str, StreamFormat | None],
                 problems: list[str], note: str) -> None:
    if note:
        print(note, file=sys.stderr)
    if not devices:
        print("no audio devices found (is the USB device plugged in, and may this user "
              "use /dev/snd?)")
    else:
        width = max(len("name"), *(len(d.name) for d in devices))
        print(f"{'#':>3}  {'name':<{width}}  {'in':>3}  {'out':>3}  {'rate':>6}")
        for d in devices:
            marks = []
            for direction, label in (("input", "microphone"), ("output", "speaker")):
                fmt = picks[direction]
                if fmt is not None and fmt.device.index == d.index:
                    marks.append(f"<- {label}: {fmt.rate} Hz, {fmt.channels} ch")
            default = "*" if d.default_input or d.default_output else " "
            print(f"{d.index:>3}{default} {d.name:<{width}}  {d.max_input_channels:>3}  "
                  f"{d.max_output_channels:>3}  {d.default_rate:>6}  {'  '.join(marks)}"
                  .rstrip())
        print("(* = system default; edged converts to and from 24000 Hz mono itself)")
    for line in problems:
        print(line, file=sys.stderr)
