"""A private PulseAudio server with paced virtual devices, for real-time audio tests.

The server runs with its own HOME and XDG_RUNTIME_DIR, so it never touches a
desktop session and several rigs can run side by side. It offers what a cheap
USB speaker and microphone offer:

- ``edged_spk``: a 48 kHz stereo null sink (the speaker); its monitor is what
  the speaker "played" (:meth:`PulseRig.record_speaker`);
- ``edged_mic``: a 48 kHz stereo source (the microphone) that hears whatever is
  played into the 48 kHz mono null sink ``edged_micsrc`` (:meth:`PulseRig.feed_mic`).

Unlike USB devices, an idle null sink renders in 2 s blocks: a stream opened on an idle
sink, or on its monitor (the microphone), gets going only when the current block ends
(measured with a bare PyAudio stream: first input buffer 1.5–2.0 s after start, ~24 ms
once something keeps the sink busy). Tests that press right after start-up wait that out.

``$HOME/.asoundrc`` maps the ALSA PCMs ``edged_mic``/``edged_spk`` (and
``default``) to them, so PortAudio lists them as devices. A child process (for
example ``edged run``) sees the same devices when given :attr:`PulseRig.env`.
:meth:`PulseRig.unplug_speaker` / :meth:`PulseRig.plug_speaker` (and the mic
equivalents) unload and reload the modules: the unplugged-USB test;
:meth:`PulseRig.stall_speaker` makes the speaker hang without an error.

Use :func:`pulse_rig` (a context manager); the tests have a ``pulse`` fixture over it.
The benchmark and the tests share it, so it lives in the package.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO

from edged.rig import patched_env

RATE = 48000
SPEAKER = "edged_spk"  # ALSA PCM and PulseAudio sink name
MIC = "edged_mic"  # ALSA PCM and PulseAudio source name
MIC_SINK = "edged_micsrc"  # play into this sink and the mic hears it

_ASOUNDRC = """\
pcm.edged_mic { type pulse device "edged_mic" }
pcm.edged_spk { type pulse device "edged_spk" }
pcm.!default { type pulse }
ctl.!default { type pulse }
"""

_SERVER_PA = """\
load-module module-native-protocol-unix auth-anonymous=1
load-module module-cli-protocol-unix
"""


def have_pulseaudio() -> bool:
    """True when the PulseAudio server and its client tools are installed."""
    return all(shutil.which(t) for t in ("pulseaudio", "pactl", "pacmd", "pacat", "parec"))


class Recorder:
    """Records what the speaker plays (its monitor), as raw s16le at 48 kHz."""

    def __init__(self, rig: PulseRig, path: Path, channels: int) -> None:
        self.path = path
        self.channels = channels
        self._out: IO[bytes] = path.open("wb")
        self._proc = subprocess.Popen(
            ["parec", f"--device={SPEAKER}.monitor", f"--rate={RATE}",
             f"--channels={channels}", "--format=s16le", "--raw", "--latency-msec=20"],
            stdout=self._out, stderr=subprocess.DEVNULL, env=rig.env, start_new_session=True,
        )

    def stop(self) -> bytes:
        """Stop recording; return everything recorded."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._out.close()
        return self.path.read_bytes()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PulseRig:
    """A running private PulseAudio server; see the module docstring."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.runtime_dir = base / "run"
        self.home.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.home / ".asoundrc").write_text(_ASOUNDRC)
        (self.home / "server.pa").write_text(_SERVER_PA)
        socket = self.runtime_dir / "pulse" / "native"
        #: Environment for anything that should see the rig's devices (PortAudio,
        #: pactl, a child ``edged run``): merge into os.environ.
        self.env: dict[str, str] = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PULSE_SERVER": f"unix:{socket}",
        }
        self._modules: dict[str, int] = {}
        self._feeders: list[subprocess.Popen[bytes]] = []
        self._log = (base / "pulseaudio.log").open("wb")
        self._proc = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n",
             "-F", str(self.home / "server.pa"), "--log-target=stderr", "--log-level=warning",
             "--disallow-exit"],
            env=self.env, stdout=self._log, stderr=self._log, start_new_session=True,
        )
        self.pid = self._proc.pid
        try:
            self._wait_ready(timeout=20.0)
            self.plug_speaker()
            self.plug_mic()
            self.pactl("set-default-sink", SPEAKER)
            self.pactl("set-default-source", MIC)
        except BaseException:
            self.close()
            raise

    # -- server

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"pulseaudio exited ({self._proc.returncode}); "
                                   f"see {self.base / 'pulseaudio.log'}")
            probe = subprocess.run(["pactl", "info"], env=self.env, capture_output=True,
                                   check=False, timeout=timeout)
            if probe.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not become ready")
            time.sleep(0.05)

    def pactl(self, *args: str) -> str:
        """Run pactl against this server; return its stdout."""
        done = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True,
                              check=False, timeout=20)
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def pacmd(self, *args: str) -> str:
        """Run a pacmd command (the CLI protocol: kill-sink-input and friends)."""
        done = subprocess.run(["pacmd", *args], env=self.env, capture_output=True, text=True,
                              check=False, timeout=20)
        if done.returncode != 0 or done.stdout.startswith(("No ", "Failed")):
            raise RuntimeError(f"pacmd {' '.join(args)}: {(done.stdout + done.stderr).strip()}")
        return done.stdout

    def _load(self, key: str, *args: str) -> None:
        if key not in self._modules:
            self._modules[key] = int(self.pactl("load-module", *args).strip())

    def _unload(self, key: str) -> None:
        index = self._modules.pop(key, None)
        if index is not None:
            self.pactl("unload-module", str(index))

    # -- devices: plugging and unplugging

    def plug_speaker(self) -> None:
        self._load("spk", "module-null-sink", f"sink_name={SPEAKER}", f"rate={RATE}",
                   "channels=2", "sink_properties=device.description=edged_spk")

    def unplug_speaker(self) -> None:
        """Make the speaker vanish, as when a USB speaker is pulled out.

        PulseAudio would rescue the playing streams by moving them to another
        sink; a pulled USB device has nowhere to go, so they are killed instead.
        """
        self._unload("spk")
        self._kill_alsa_streams("sink-inputs", "kill-sink-input")

    def stall_speaker(self, stalled: bool = True) -> None:
        """Suspend the speaker: its stream stops asking for audio without any error,
        like a USB device that hangs instead of vanishing. ``False`` resumes it."""
        self.pactl("suspend-sink", SPEAKER, "1" if stalled else "0")

    def plug_mic(self) -> None:
        self._load("micsrc", "module-null-sink", f"sink_name={MIC_SINK}", f"rate={RATE}",
                   "channels=1")
        self._load("mic", "module-remap-source", f"master={MIC_SINK}.monitor",
                   f"source_name={MIC}", f"rate={RATE}", "channels=2",
                   "channel_map=front-left,front-right", "remix=yes")

    def unplug_mic(self) -> None:
        """Make the microphone vanish, as when a USB microphone is pulled out."""
        self._unload("mic")
        self._kill_alsa_streams("source-outputs", "kill-source-output")

    def loop_speaker_into_mic(self, on: bool = True) -> None:
        """Let the microphone hear the speaker, as in a room with no echo cancellation."""
        if on:
            self._load("echo", "module-loopback", f"source={SPEAKER}.monitor",
                       f"sink={MIC_SINK}", "latency_msec=30", "source_dont_move=true",
                       "sink_dont_move=true")
        else:
            self._unload("echo")

    def _kill_alsa_streams(self, kind: str, kill: str) -> None:
        """Kill the streams of ALSA clients (PortAudio), leaving the rig's own tools."""
        index = None
        for raw in self.pactl("list", kind).splitlines():
            line = raw.strip()
            if line.startswith(("Sink Input #", "Source Output #")):
                index = line.split("#", 1)[1]
            elif line.startswith("application.name = ") and "ALSA plug-in" in line and index:
                self.pacmd(kill, index)

    # -- audio in and out

    def feed_mic(self, pcm: bytes | Path, rate: int = RATE, channels: int = 1,
                 background: bool = False) -> None:
        """Play raw s16le PCM into the microphone (paced by the server).

        Bytes are written to pacat's stdin, so this returns only once pacat has
        taken all but roughly the last second of them; with ``background`` (or a
        file path) it returns at once, which is what a caller running the audio
        engine on its own event loop needs. :meth:`wait_fed` waits for the end.
        """
        if isinstance(pcm, bytes) and background:
            fd, name = tempfile.mkstemp(prefix="mic-", suffix=".raw", dir=self.base)
            with os.fdopen(fd, "wb") as f:
                f.write(pcm)
            pcm = Path(name)
        proc = subprocess.Popen(
            ["pacat", "--playback", f"--device={MIC_SINK}", f"--rate={rate}",
             f"--channels={channels}", "--format=s16le", "--raw", "--latency-msec=20",
             *([str(pcm)] if isinstance(pcm, Path) else [])],
            stdin=subprocess.PIPE if isinstance(pcm, bytes) else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env,
            start_new_session=True,
        )
        self._feeders.append(proc)
        if isinstance(pcm, bytes):
            assert proc.stdin is not None
            proc.stdin.write(pcm)
            proc.stdin.close()

    def wait_fed(self, timeout: float = 30.0) -> None:
        """Wait until everything given to :meth:`feed_mic` has been played."""
        for proc in self._feeders:
            proc.wait(timeout=timeout)
        self._feeders.clear()

    def record_speaker(self, path: Path | None = None, channels: int = 2) -> Recorder:
        """Start recording the speaker's monitor; ``stop()`` returns the bytes."""
        if path is None:
            path = Path(tempfile.mkstemp(prefix="spk-", suffix=".raw", dir=self.base)[1])
        return Recorder(self, path, channels)

    # -- teardown

    def close(self) -> None:
        for proc in self._feeders:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._feeders.clear()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()


@contextmanager
def pulse_rig(base: Path | None = None) -> Iterator[PulseRig]:
    """Start a private PulseAudio server; stop it (by its PID) on exit."""
    owned = base is None
    root = Path(tempfile.mkdtemp(prefix="edged-pulse-")) if base is None else base
    rig = PulseRig(root)
    try:
        yield rig
    finally:
        rig.close()
        if owned:
            shutil.rmtree(root, ignore_errors=True)


def pulse_env(rig: PulseRig) -> AbstractContextManager[None]:
    """Point this process (PortAudio, pactl) at the rig inside the block."""
    return patched_env({k: rig.env[k] for k in ("HOME", "XDG_RUNTIME_DIR", "PULSE_SERVER")})

