"""``edged demo`` end to end: the real daemon against the real simulator over loopback,
on both of its audio paths: PortAudio over a private PulseAudio server (``--audio
pulse``; scripts/setup installs PulseAudio) and the in-memory devices (``--audio
memory``). Outcomes are asserted from the JSON, not timings."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.audio.sounds import SoundName, render
from edged.demo import pulse_audio
from edged.demo.scenario import AudioUnavailable, Demo
from edged.demo.speaker import Recording, SpeakerLog, silence
from edged.demo.wav_audio import MemoryDevices
from edged.rig.pulse import have_pulseaudio

SCENES = ["push_to_talk", "barge_in", "hands_free", "link_drop", "timer"]


def run_demo(tmp: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``edged demo ARGS`` with its temporary files under ``tmp`` (so the test can see
    that it removed them)."""
    (tmp / "tmp").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "edged", "demo", *args],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "OPENAI_API_KEY": "", "TMPDIR": str(tmp / "tmp"),
                               **(env or {})})


@pytest.fixture(scope="module", params=["memory", "pulse"])
def demo(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, Path]:
    audio = request.param
    if audio == "pulse" and not have_pulseaudio():
        pytest.skip("PulseAudio (pulseaudio, pulseaudio-utils) is not installed; "
                    "scripts/setup installs it")
    tmp = tmp_path_factory.mktemp(f"demo-{audio}")
    out = tmp / "answers.wav"
    r = run_demo(tmp, "--json", "--audio", audio, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    result = json.loads(r.stdout)
    assert result["audio"] == audio
    return result, out, tmp / "tmp"


def events(result: dict[str, Any], what: str, /, **match: Any) -> list[dict[str, Any]]:
    return [e for e in result["timeline"]
            if e["event"] == what and all(e.get(k) == v for k, v in match.items())]


def first(result: dict[str, Any], what: str, after: float = -1.0, /, **match: Any) -> float:
    """When the first ``what`` entry (with ``match``) at or after ``after`` came."""
    for e in result["timeline"]:
        if e["event"] == what and e["t"] >= after and all(e.get(k) == v for k, v in match.items()):
            return float(e["t"])
    raise AssertionError(f"no {what} {match} after {after}")


def step(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in result["steps"] if s["step"] == name)


def test_every_scene_ran(demo: tuple[dict[str, Any], Path, Path]) -> None:
    result, _, _ = demo
    assert result["ok"] is True
    assert [s["step"] for s in result["steps"]] == SCENES
    # 2 push-to-talk answers + 1 after the barge-in + 1 hands-free + 1 after the link drop
    # + the timer's call and its spoken confirmation, counted by the daemon's own metrics
    assert result["answers"] == 7
    assert result["barge_ins"] == 1


def test_the_audio_path_is_said(demo: tuple[dict[str, Any], Path, Path]) -> None:
    result, _, _ = demo
    if result["audio"] == "pulse":
        assert result["audio_label"] == pulse_audio.LABEL
        # the null sink's start-up stall was waited out, and reported apart
        assert result["warmup_ms"] is not None and result["warmup_ms"] >= 0
    else:
        assert result["audio_label"] == "in-memory devices (--audio memory)"
        assert result["warmup_ms"] is None


def test_push_to_talk_turn_sends_the_protocol_in_order(
        demo: tuple[dict[str, Any], Path, Path]) -> None:
    result, _, _ = demo
    sent = [e["type"] for e in events(result, "sent")]
    start = sent.index("InputAudioClear")
    assert sent[start:start + 3] == ["InputAudioClear", "InputAudioCommit", "ResponseCreate"]


def test_barge_in_truncates_at_what_was_heard(demo: tuple[dict[str, Any], Path, Path]) -> None:
    result, _, _ = demo
    barge = step(result, "barge_in")
    # the script presses 0.6 s after the answer started playing
    assert 300 <= barge["heard_ms"] <= 1500
    truncates = [e for e in events(result, "sent") if e["type"] == "ItemTruncate"]
    assert len(truncates) == 1 and truncates[0]["audio_end_ms"] == barge["heard_ms"]
    assert barge["press_to_silent_ms"] >= 0


def test_hands_free_turn_answered_by_server_turn_detection(
        demo: tuple[dict[str, Any], Path, Path]) -> None:
    result, _, _ = demo
    woke = first(result, "WakePress")
    answered = first(result, "response_created", woke)
    ended = first(result, "handsfree_ended", answered)
    assert woke < answered < ended
    # no commit from edged in hands-free: the server committed the turn itself
    commits = [e for e in events(result, "sent")
               if e["type"] == "InputAudioCommit" and woke < e["t"] < answered]
    assert commits == []


def test_utterance_spoken_during_link_drop_is_delivered(
        demo: tuple[dict[str, Any], Path, Path]) -> None:
    result, _, _ = demo
    # four spoken turns and the typed one; the one spoken during the drop held, then sent
    assert result["utterances"] == {"held": 1, "delivered": 5, "dropped": 0}
    assert result["link"]["reconnects"] == 1
    down = first(result, "link_down")
    released = first(result, "PttUp", down)
    up = first(result, "link_up", down)
    delivered = first(result, "utterance_delivered", down)
    played = first(result, "first_audio_played", delivered)
    assert down < released < up <= delivered < played


def test_timer_is_set_by_a_tool_call_rings_and_a_press_stops_it(
        demo: tuple[dict[str, Any], Path, Path]) -> None:
    result, _, _ = demo
    timer = step(result, "timer")
    typed = first(result, "Say")
    (call,) = events(result, "tool_call", name="set_timer")
    assert call["t"] > typed and call["run"] is True
    call_id = call["call_id"]
    assert timer["call_id"] == call_id
    # the tool ran, the timer was set, and its output went back on the call's session...
    (ran,) = events(result, "tool", call_id=call_id)
    assert ran["ok"] is True
    set_at = first(result, "timer", typed, timer_event="set")
    sent = first(result, "tool_output_sent", call["t"], call_id=call_id)
    # the output, then the request for the rest of the answer
    after_call = [e["type"] for e in events(result, "sent") if e["t"] >= call["t"]]
    assert after_call[:2] == ["FunctionCallOutput", "ResponseCreate"], after_call
    # ...where the simulator knew the call_id (it refuses unknown ones)
    assert result["tool_outputs"] == [{"call_id": call_id, "known": True}]
    assert timer["output_known"] is True
    # the follow-up response spoke the confirmation
    confirmed = first(result, "first_audio_played", sent)
    # then the timer rang (once), and the press stopped it and did nothing else
    (ringing,) = events(result, "ringing")
    assert set_at < confirmed < ringing["t"]
    assert ringing["labels"] == "demo" and ringing["again"] is False
    first(result, "timer", set_at, timer_event="rang")
    pressed = first(result, "press", ringing["t"])
    (stopped,) = events(result, "ring_stopped")
    assert stopped["by"] == "ptt" and stopped["t"] >= pressed
    assert timer["stopped_by"] == "ptt" and timer["asked_s"] == 5
    assert all(e["t"] < pressed for e in events(result, "turn_started"))
    # the figures are there (their values are the run's, not asserted)
    for key in ("call_to_output_ms", "output_to_confirmation_ms", "ring_delay_s",
                "ring_to_audible_ms", "press_to_stop_ms", "press_to_silent_ms"):
        assert isinstance(timer[key], float) and timer[key] >= 0, key


def test_the_demo_leaves_no_state_behind(demo: tuple[dict[str, Any], Path, Path]) -> None:
    _, _, tmp = demo
    # the timers' state directory (and the rig's files) were temporary and are gone
    assert list(tmp.iterdir()) == []


def test_answer_audio_reaches_the_speaker(demo: tuple[dict[str, Any], Path, Path]) -> None:
    result, path, _ = demo
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    assert abs(len(pcm) / 24000 - result["answer_audio_s"]) < 0.05
    # the echo answers are speech: a good share of 100 ms blocks are clearly not silent
    blocks = pcm[: len(pcm) // 2400 * 2400].reshape(-1, 2400)
    loud = np.sqrt((blocks ** 2).mean(axis=1)) > 500
    assert loud.mean() > 0.2


def test_latencies_are_reported(demo: tuple[dict[str, Any], Path, Path]) -> None:
    result, _, _ = demo
    lat = result["latency_ms"]
    assert lat["uplink_p50"] is not None and lat["uplink_p95"] >= lat["uplink_p50"] >= 0
    assert lat["downlink_p50"] is not None and lat["downlink_p95"] >= lat["downlink_p50"] >= 0


# --------------------------------------------------------------------------- the choice


def test_auto_falls_back_to_memory_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pulse_audio, "unavailable", lambda: "no server here")
    demo = Demo(pace=2.0, out=None, say=lambda _: None, audio="auto")
    with demo.devices() as devices:
        assert isinstance(devices, MemoryDevices)
        assert devices.label == "in-memory devices (PulseAudio not available: no server here)"


def test_auto_falls_back_when_the_rig_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("pulseaudio exited (1)")

    monkeypatch.setattr(pulse_audio, "unavailable", lambda: None)
    monkeypatch.setattr(pulse_audio, "pulse_devices", broken)
    with Demo(pace=2.0, out=None, say=lambda _: None, audio="auto").devices() as devices:
        assert devices.kind == "memory"
        assert "the private server did not start: pulseaudio exited (1)" in devices.label


def test_forced_pulse_without_pulseaudio_fails_and_says_why(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pulse_audio, "unavailable", lambda: "no server here")
    with pytest.raises(AudioUnavailable, match="no server here"), Demo(
            pace=2.0, out=None, say=lambda _: None, audio="pulse").devices():
        pass
    # and on the command line: exit 1 and the reason, without running anything
    r = run_demo(tmp_path, "--audio", "pulse", env={"PATH": str(tmp_path)}, timeout=60)
    assert r.returncode == 1
    assert "PulseAudio not available" in r.stderr and "not installed" in r.stderr
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------- the speaker's figures


class FakeDevices:
    """Just what ``speaker.silence`` reads: a recording and the speaker's log."""

    def __init__(self, rec: Recording, aborts: tuple[float, ...] = ()) -> None:
        self.rec = rec
        self.speaker = SpeakerLog()
        for at in aborts:
            self.speaker.aborted(at)

    def recorded(self) -> Recording:
        return self.rec


def tone(seconds: float, rate: int = 48000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


def quiet(seconds: float, rate: int = 48000) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.int16)


def test_a_stopped_sound_is_silent_after_its_last_sample() -> None:
    # t0 = 10 s; the press at 10.5 s; what the device held plays 70 ms more
    rec = Recording(np.concatenate([tone(0.57), quiet(1.0)]), 48000, 10.0)
    assert silence_now(FakeDevices(rec), 10.5, 10.5) == pytest.approx(10.57, abs=1e-4)
    # nothing sounding at the press: silent at the press
    assert rec.silent_after(11.0, 11.5) == 11.0


def test_a_barge_in_is_silent_where_the_restart_gap_begins() -> None:
    # the answer (with a 3 ms pause, shorter than a gap) plays 30 ms past the press at
    # 10.5 s, the abort at 10.51 restarts the stream, and the chime follows 20 ms later
    samples = np.concatenate([tone(0.51), quiet(0.003), tone(0.017), quiet(0.02),
                              tone(0.1), quiet(1.0)])
    rec = Recording(samples, 48000, 10.0)
    devices = FakeDevices(rec, aborts=(10.51,))
    assert silence_now(devices, 10.5, 10.5) == pytest.approx(10.53, abs=1e-4)
    # without the abort the chime would count as the answer
    assert silence_now(FakeDevices(rec), 10.5, 10.5) == pytest.approx(10.65, abs=1e-4)


def test_a_feedback_sound_is_found_by_its_shape() -> None:
    chime = render("listening", 48000, 0.3)
    samples = np.concatenate([tone(0.5), quiet(0.04), chime, quiet(0.5)])
    rec = Recording(samples, 48000, 10.0)
    assert rec.onset("listening", 10.3, 11.0) == pytest.approx(10.54, abs=1 / 48000)
    # the silence before it: the answer ended at 10.5 s
    assert silence_now(FakeDevices(rec), 10.45, 10.45, "listening") == pytest.approx(
        10.5, abs=1e-4)
    assert rec.onset("alarm", 10.3, 11.0) is None


def silence_now(devices: FakeDevices, pressed: float, stopped: float,
                then: SoundName | None = None) -> float:
    return asyncio.run(silence(devices, pressed, stopped, then))  # type: ignore[arg-type]
