"""The benchmark's daemon process: ``edged run``'s daemon, driven through its own API.

``scripts/bench`` measures this process from outside (/proc). It builds the daemon
exactly as ``edged run`` does (the same config loading, logging, PyAudio engine and
``Daemon.run``), and adds only what a benchmark needs and ``edged run`` cannot give:

- a command channel on stdin/stdout (one JSON object per line): ``press``,
  ``release`` and ``wake`` call ``Daemon.button`` with the events a GPIO button or
  the control socket produces; ``stats`` returns the daemon's own timestamps;
- the barge-in figure: press → the speaker silent. The flush has the engine abort the
  output stream from a thread of its own, and PortAudio discards what the device
  holds: silent then (the moment is recorded), or, had nothing been discarded, when
  the last answer sample already handed to PortAudio reaches the speaker (the
  playback queue's DAC times);
- what a person hears when: press (while idle) → the earcon's first sample at the
  speaker, answer delta → its first sample at the speaker (PortAudio's DAC times), and
  release → the commit on the socket.

A thread blocked on stdin and one idle reader callback are all it adds while
nothing is asked, so its idle CPU matches ``edged run``'s (the bench reports both).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if "--floor" not in sys.argv:  # the floor process must not pay for edged's imports
    import numpy as np

    from edged import config as config_mod
    from edged.audio.port import AudioCallbacks, EnginePort, pyaudio_engine
    from edged.config import Config
    from edged.conversation import PttDown, PttUp, WakePress
    from edged.daemon import Daemon, Timeline
    from edged.health.journal import setup_logging
    from edged.health.metrics import LatencyWindow


class Probe:
    """The daemon's own timestamps, collected on its loop (monotonic seconds)."""

    def __init__(self) -> None:
        self.port: EnginePort | None = None
        self.presses: list[float] = []
        self.barge_ins: list[tuple[float, float, float]] = []  # (press, flushed, silent)
        # (received, handed, scheduled, heard: its first sample at the speaker)
        self.downlink: list[tuple[float, float, float, float]] = []
        self.link_ups: list[float] = []
        self._pending: dict[str, tuple[float, float]] = {}  # item → (handled, scheduled)
        self.waiters: list[Waiter] = []
        self.recent: deque[tuple[float, str, dict[str, Any]]] = deque(maxlen=256)
        self.input_lags: deque[float] = deque(maxlen=4096)
        # (capture clock after the buffer, when its callback ran): which callback handed
        # edged a batch's last sample, for the uplink's own part
        self.arrivals: deque[tuple[float, float]] = deque(maxlen=8192)
        self.sent: deque[tuple[float, float]] = deque(maxlen=8192)  # (capture end, on socket)
        self.buttons: list[float] = []  # every press, release and wake (monotonic s)
        self.idle_presses: list[float] = []  # presses that found the daemon idle
        self.releases: list[float] = []  # releases while it listened
        self.commits: list[float] = []  # input_audio_buffer.commit on the socket
        # (handed, DAC time of the first sample that is not silence), per such buffer
        self.sounding: deque[tuple[float, float]] = deque(maxlen=8192)
        self.profiler: Any = None

    def on_event(self, kind: str, fields: dict[str, Any]) -> None:
        """A daemon listener (the control socket's hook): runs on the loop."""
        now = time.monotonic()
        if kind == "link" and fields.get("state") == "up":
            self.link_ups.append(now)
        self.recent.append((now, kind, fields))
        for waiter in list(self.waiters):
            if waiter.matches(kind, fields):
                waiter.done(True)

    def engine_factory(self, cfg: Config, loop: asyncio.AbstractEventLoop,
                       callbacks: AudioCallbacks) -> EnginePort:
        port = pyaudio_engine(cfg, loop, callbacks)
        self.port = port
        flush, play = port.flush, port.play

        def timed_flush() -> dict[str, int]:
            silent = self._last_sample_at()
            result = flush()
            now = time.monotonic()
            if self.presses:
                self.barge_ins.append((self.presses[-1], now, max(now, silent)))
            return result

        playback: Any = port.engine._playback
        aborted = playback.on_aborted

        def timed_abort() -> None:  # PortAudio's thread: the device's buffer is being dropped
            at = time.monotonic()
            if self.barge_ins:
                press, flushed, silent = self.barge_ins[-1]
                if flushed <= at < silent:
                    self.barge_ins[-1] = (press, flushed, at)
            aborted()

        playback.on_aborted = timed_abort
        played = playback.callback
        sounding = self.sounding

        def timed_output(data: bytes | None, frames: int, info: dict[str, float],
                         status: int) -> tuple[bytes, int]:
            handed = time.monotonic()
            result: tuple[bytes, int] = played(data, frames, info, status)
            out = result[0]
            if out.count(0) != len(out):  # something to hear: where does it start?
                first = int(np.flatnonzero(np.frombuffer(out, np.int16))[0])
                lag = info.get("output_buffer_dac_time", 0.0) - info.get("current_time", 0.0)
                if not 0.0 <= lag < 2.0:
                    lag = playback.latency
                sounding.append((handed, handed + lag
                                 + first // playback.channels / playback.rate))
            return result

        playback.callback = timed_output

        def timed_play(item_id: str, pcm: bytes) -> float:
            received = time.monotonic()
            at = play(item_id, pcm)
            if item_id not in self._pending and len(self._pending) < 256:
                self._pending[item_id] = (received, at)
            return at

        port.flush = timed_flush  # type: ignore[method-assign]
        port.play = timed_play  # type: ignore[method-assign]
        # PortAudio's own figure for how old each captured buffer is (ADC → callback): the
        # device's and driver's part of the uplink latency, not the daemon's. The streams
        # are opened after this, so they call the wrapper.
        capture: Any = port.engine._capture
        inner = capture.callback
        lags, arrivals = self.input_lags, self.arrivals

        def timed_capture(data: bytes | None, frames: int, info: dict[str, float],
                          status: int) -> tuple[None, int]:
            now = time.monotonic()
            lags.append(info.get("current_time", 0.0) - info.get("input_buffer_adc_time", 0.0))
            result: tuple[None, int] = inner(data, frames, info, status)
            arrivals.append((capture._clock_end, now))
            return result

        capture.callback = timed_capture
        return port

    def timed_sent(self, daemon: Daemon) -> None:
        """Record when each microphone batch reached the socket, by its capture end."""
        inner = daemon._on_sent

        def timed(event: Any, at: float) -> None:
            end = daemon.observer.capture_end(event)
            if end is not None:
                self.sent.append((end, at))
            elif type(event).__name__ == "InputAudioCommit":
                self.commits.append(at)
            inner(event, at)

        daemon._on_sent = timed  # type: ignore[method-assign]  # read when the link is built

    def earcons(self) -> list[float]:
        """Per press that found the daemon idle: ms to the first sound at the speaker."""
        out = []
        for press in self.idle_presses:
            heard = next((dac for handed, dac in self.sounding if handed >= press), None)
            if heard is not None and heard - press < 1.0:
                out.append(round((heard - press) * 1000, 2))
        return out

    def release_commits(self) -> list[float]:
        """Per release while listening: ms to the commit on the socket."""
        commits = sorted(self.commits)
        out = []
        for release in self.releases:
            i = bisect.bisect_left(commits, release)
            if i < len(commits) and commits[i] - release < 1.0:
                out.append(round((commits[i] - release) * 1000, 2))
        return out

    def uplink_own(self) -> list[float]:
        """Per batch, ms from the moment edged could send it to its bytes on the socket:
        edged's own part. That moment is when the callback that handed edged the batch's
        last sample ran (so the device's delivery jitter is not counted), or, for the
        pre-roll sent on a press and the tail flushed on a release, the button event (the
        audio waited for it, as a batch waits to fill)."""
        arrivals = sorted(self.arrivals)
        ends = [end for end, _ in arrivals]
        buttons = sorted(self.buttons)
        out: list[float] = []
        for end, at in self.sent:
            # that sample's callback: the first whose buffer ends at or after it (the
            # resampler holds 1 ms back, less than a buffer)
            i = bisect.bisect_left(ends, end - 1e-4)
            if i < len(arrivals) and arrivals[i][0] - end < 0.1:
                could = arrivals[i][1]
                j = bisect.bisect_right(buttons, at) - 1
                if j >= 0:
                    could = max(could, buttons[j])
                out.append(round((at - could) * 1000, 3))
        return out

    def _last_sample_at(self) -> float:
        """When the answer audio already handed to PortAudio finishes at the speaker."""
        assert self.port is not None
        playback: Any = self.port.engine._playback
        with playback._lock:
            flight = list(playback.queue._in_flight)
            rate = playback.queue.rate
        return max((dac + n / rate for dac, _item, n in flight), default=0.0)

    def collect(self) -> None:
        """Turn answers whose first sample reached PortAudio into downlink samples."""
        if self.port is None:
            return
        now = time.monotonic()
        for item, (received, at) in list(self._pending.items()):
            started = self.port.engine.output_started(item)
            if started is not None:
                self.downlink.append((received, started[0], at, started[1]))
            elif now - received < 30:
                continue  # not played yet
            del self._pending[item]  # played, or flushed before its first sample


class Waiter:
    """A ``wait`` request: reply once the daemon emits ``kind`` (with ``match``) at or after
    ``after`` (monotonic s; an event that came before the request counts), or time out."""

    def __init__(self, probe: Probe, kind: str, *, match: dict[str, Any], after: float,
                 timeout: float, reply: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.kind, self.match, self._probe, self._reply = kind, match, probe, reply
        self._timer = loop.call_later(timeout, self.done, False)
        probe.waiters.append(self)
        if any(t >= after and self.matches(k, f) for t, k, f in probe.recent):
            self.done(True)

    def matches(self, kind: str, fields: dict[str, Any]) -> bool:
        return kind == self.kind and all(fields.get(k) == v for k, v in self.match.items())

    def done(self, seen: bool) -> None:
        if self not in self._probe.waiters:
            return
        self._probe.waiters.remove(self)
        self._timer.cancel()
        self._reply({"ok": seen, "t": time.monotonic(),
                     **({} if seen else {"error": f"no {self.kind} event in time"})})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--floor", nargs=5,
                        metavar=("MIC", "SPEAKER", "RATE", "CAPTURE_MS", "OUTPUT_MS"),
                        help="only open these devices (2 channels) with do-nothing callbacks: "
                        "what any PortAudio client pays; until stdin closes")
    args = parser.parse_args()
    if args.floor:
        mic, speaker, rate, capture_ms, output_ms = args.floor
        return floor(mic, speaker, int(rate), int(capture_ms), int(output_ms))
    setup_logging(args.log_level)
    cfg = config_mod.load(args.config)
    probe = Probe()
    daemon = Daemon(cfg, audio_factory=probe.engine_factory, config_path=args.config,
                    timeline=Timeline(keep=False))
    probe.timed_sent(daemon)
    return asyncio.run(serve(daemon, probe))


async def serve(daemon: Daemon, probe: Probe) -> int:  # noqa: PLR0915 - the command table
    loop = asyncio.get_running_loop()
    out = sys.stdout

    def reply(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    def handle(line: str) -> None:  # noqa: PLR0912, PLR0915 - one branch per command
        try:
            request = json.loads(line)
            cmd = request["cmd"]
            now = loop.time()
            if cmd in ("press", "release", "wake"):
                probe.buttons.append(time.monotonic())
            phase = daemon.conversation.phase.value
            if cmd == "press":
                probe.presses.append(now)
                if phase == "idle":
                    probe.idle_presses.append(time.monotonic())
                daemon.button(PttDown())
            elif cmd == "release":
                if phase == "listening":
                    probe.releases.append(time.monotonic())
                daemon.button(PttUp())
            elif cmd == "wake":
                held = daemon.conversation.settings.min_press_ms
                daemon.button(WakePress(held_ms=held))
            elif cmd == "reset":  # a new phase: forget the samples so far
                daemon.metrics.uplink = LatencyWindow(8192)
                daemon.metrics.downlink = LatencyWindow(8192)
                probe.barge_ins.clear()
                probe.downlink.clear()
                probe.presses.clear()
                probe.link_ups.clear()
                probe.input_lags.clear()
                probe.arrivals.clear()
                probe.sent.clear()
                probe.buttons.clear()
                probe.idle_presses.clear()
                probe.releases.clear()
                probe.commits.clear()
                probe.sounding.clear()
            elif cmd == "wait":
                Waiter(probe, request["kind"], match=request.get("match", {}),
                       after=float(request.get("after", now)),
                       timeout=float(request.get("within", 10)), reply=reply, loop=loop)
                return
            elif cmd == "stats":
                probe.collect()
                reply({"ok": True, "t": now, **stats(daemon, probe)})
                return
            elif cmd == "profile":  # cProfile the event loop's thread, for finding hot spots
                if probe.profiler is None:
                    import cProfile

                    probe.profiler = cProfile.Profile()
                    probe.profiler.enable()
                else:
                    probe.profiler.disable()
                    probe.profiler.dump_stats(request["path"])
                    probe.profiler = None
            elif cmd == "stop":
                daemon.stop()
            else:
                raise ValueError(f"unknown command {cmd!r}")
            reply({"ok": True, "t": now, "phase": daemon.conversation.phase.value})
        except Exception as exc:  # the bench reads the reason
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def read_commands() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(handle, line)
        loop.call_soon_threadsafe(daemon.stop)  # the bench went away

    daemon.listeners.append(probe.on_event)
    threading.Thread(target=read_commands, name="bench-commands", daemon=True).start()
    return await daemon.run()


def floor(mic: str, speaker: str, rate: int, capture_ms: int, output_ms: int) -> int:
    """The engine's streams (devices, rate, 2 channels, periods), doing nothing, with only
    PyAudio imported: the CPU and memory any PortAudio client pays on these devices."""
    import pyaudio

    pa = pyaudio.PyAudio()
    names = {pa.get_device_info_by_index(i)["name"]: i for i in range(pa.get_device_count())}
    frames = rate * capture_ms // 1000
    out_frames = rate * output_ms // 1000
    silence = bytes(out_frames * 2 * 2)

    def capture(*_: Any) -> tuple[None, int]:
        return None, 0

    def playback(*_: Any) -> tuple[bytes, int]:
        return silence, 0

    streams = [
        pa.open(rate=rate, channels=2, format=pyaudio.paInt16, input=True,
                input_device_index=names[mic], frames_per_buffer=frames,
                stream_callback=capture),
        pa.open(rate=rate, channels=2, format=pyaudio.paInt16, output=True,
                output_device_index=names[speaker], frames_per_buffer=out_frames,
                stream_callback=playback),
    ]
    print(json.dumps({"ok": True, "t": time.monotonic()}), flush=True)
    sys.stdin.read()  # until the bench closes it
    for stream in streams:
        stream.stop_stream()
        stream.close()
    pa.terminate()
    return 0


def stats(daemon: Daemon, probe: Probe) -> dict[str, Any]:
    m = daemon.metrics
    port = probe.port
    playback: Any = port.engine._playback if port is not None else None
    return {
        "phase": daemon.conversation.phase.value,
        "link": m.link,
        "connects": m.connects,
        "answers": m.answers,
        "barge_ins": m.barge_ins,
        "uplink_ms": _samples(m.uplink),
        "downlink_scheduled_ms": _samples(m.downlink),
        "downlink": [list(d) for d in probe.downlink],
        "earcon_ms": probe.earcons(),
        "release_commit_ms": probe.release_commits(),
        "barge_in": [[p, f, s] for p, f, s in probe.barge_ins],
        "link_ups": list(probe.link_ups),
        "output_latency_ms": round(playback.latency * 1000, 2) if playback is not None else None,
        "input_lag_ms": [round(v * 1000, 2) for v in probe.input_lags],
        "uplink_own_ms": probe.uplink_own(),
        "xruns": list(port.xruns()) if port is not None else None,
    }


def _samples(window: LatencyWindow) -> list[float]:
    held = min(window.count, window.size)
    buf: Any = window._buf  # the ring: the bench wants every sample, not two percentiles
    return [round(float(v), 3) for v in buf[:held]]


if __name__ == "__main__":
    sys.exit(main())
