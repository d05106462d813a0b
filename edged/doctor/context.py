"""What every check may use: the options, the config once loaded, and shared resources.

One PortAudio instance serves all audio checks (initialising it probes every ALSA
device, which is slow on a Pi), and ``close()`` releases it however the run ended.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from edged.audio.devices import StreamFormat
    from edged.audio.portaudio import PortAudio
    from edged.config import Config

JOURNAL_SOCKET = "/run/systemd/journal/socket"
SYSTEMD_RUN_DIR = "/run/systemd/system"  # exists exactly when systemd is PID 1
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/lib/systemd/system", "/usr/lib/systemd/system")
UNIT = "edged.service"


@dataclass
class Options:
    """What the command line asked for (and what tests point elsewhere)."""

    config_path: str | None = None  # None: $EDGED_CONFIG or /etc/edged/edged.yaml
    listen_s: float = 3.0  # 0 skips the level meter
    tone: bool = True
    timeout_s: float | None = None  # None: the config's link.open_timeout_s
    pin_factory: Any = None  # a gpiozero factory; None = gpiozero's default
    environ: Mapping[str, str] | None = None  # None: os.environ
    live: TextIO | None = None  # where the live meter goes (a terminal), or nowhere
    journal_socket: str = JOURNAL_SOCKET
    systemd_run_dir: str = SYSTEMD_RUN_DIR
    unit_dirs: tuple[str, ...] = UNIT_DIRS


@dataclass
class Context:
    options: Options
    config: Config | None = None
    formats: dict[str, StreamFormat] = field(default_factory=dict)  # by direction, once opened
    _pa: PortAudio | None = field(default=None, repr=False)

    @property
    def environ(self) -> Mapping[str, str]:
        env = self.options.environ
        return os.environ if env is None else env

    def say(self, text: str) -> None:
        """A transient line for a person watching (the live meter); nothing otherwise."""
        live = self.options.live
        if live is not None:
            live.write(text)
            live.flush()

    def portaudio(self) -> PortAudio:
        """The shared PortAudio (raises OSError if it cannot initialise)."""
        if self._pa is None:
            from edged.audio.portaudio import PortAudio

            self._pa = PortAudio(alsa_config=self.config.audio.alsa_config
                                 if self.config is not None else None)
        return self._pa

    def close(self) -> None:
        pa, self._pa = self._pa, None
        if pa is not None:
            try:
                pa.terminate()
            except OSError as exc:  # nothing left to do about it but say so
                print(f"edged doctor: PortAudio did not terminate cleanly: {exc}",
                      file=sys.stderr)
