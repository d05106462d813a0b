"""ALSA file-PCM devices: real PortAudio streams with no clock, for data-path tests.

``$HOME/.asoundrc`` defines two PCMs that PortAudio lists and opens like
hardware:

- ``edged_test_mic``: capture returns the bytes of :attr:`AlsaFileRig.mic_in`
  (raw PCM at whatever rate/channels the stream is opened with);
- ``edged_test_spk``: playback appends what is played to :attr:`AlsaFileRig.speaker_out`.

There is no clock: reads and writes return at once, so streams run as fast as
the CPU allows. Good for "these bytes in → exactly these frames out"; useless
for timing (use :mod:`tests.rigs.pulse` for that). Past the end of ``mic_in``
the capture keeps returning data that means nothing: only look at the first
``len(mic_in)`` bytes' worth. PortAudio writes a little silence to the speaker
file before the first buffer it is given (its priming), and every ``PyAudio()``
opens each device while it lists them, which truncates the speaker file: read
it before anything re-initialises PortAudio.

Use :func:`alsa_file_rig` (a context manager) or the ``alsa_files`` fixture.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edged.rig import patched_env

MIC = "edged_test_mic"
SPEAKER = "edged_test_spk"


class AlsaFileRig:
    def __init__(self, base: Path) -> None:
        self.home = base / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.mic_in = base / "mic-in.raw"
        self.speaker_out = base / "speaker-out.raw"
        self.mic_in.write_bytes(b"")
        (self.home / ".asoundrc").write_text(
            f'pcm.{MIC} {{ type file slave.pcm "null" file "/dev/null" '
            f'infile "{self.mic_in}" format "raw" }}\n'
            f'pcm.{SPEAKER} {{ type file slave.pcm "null" file "{self.speaker_out}" '
            f'format "raw" }}\n'
            # the defaults point at the rig too, so "the system default" is testable
            f'pcm.!default {{ type file slave.pcm "null" file "{self.speaker_out}" '
            f'infile "{self.mic_in}" format "raw" }}\n'
        )
        #: Environment for anything that should see these devices (a child process).
        self.env: dict[str, str] = {**os.environ, "HOME": str(self.home)}

    def write_mic(self, pcm: bytes) -> None:
        """What the microphone will capture (read when a stream opens it)."""
        self.mic_in.write_bytes(pcm)

    def speaker_bytes(self) -> bytes:
        """Everything played to the speaker so far."""
        return self.speaker_out.read_bytes() if self.speaker_out.exists() else b""


@contextmanager
def alsa_file_rig(base: Path | None = None) -> Iterator[AlsaFileRig]:
    """File-PCM devices, with this process's HOME pointed at them inside the block."""
    owned = base is None
    root = Path(tempfile.mkdtemp(prefix="edged-alsa-")) if base is None else base
    rig = AlsaFileRig(root)
    try:
        with patched_env({"HOME": str(rig.home)}):
            yield rig
    finally:
        if owned:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def alsa_files(tmp_path: Path) -> Iterator[AlsaFileRig]:
    """File-PCM devices visible to PortAudio in this process."""
    with alsa_file_rig(tmp_path / "alsa") as rig:
        yield rig
