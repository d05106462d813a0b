"""The wake word end to end: espeak-ng's voice played into the rig's PulseAudio
microphone while the real ``edged run`` listens, connected to the simulator.

Only the speech is synthetic: the audio goes through PulseAudio, PortAudio, the
engine's tap, the resampler and TensorFlow Lite as on a speaker.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemon_rig import WAIT_S, Edged, ctl_command, ctl_env, launch, wait, watch
from tests.rigs.journald import Journal
from tests.rigs.pulse import RATE, PulseRig

pytest.importorskip("pymicro_wakeword", reason="the wake word's optional package is for "
                    "64-bit systems; scripts/setup installs it there")

WAKE = {"wake_word": {"enabled": True, "model": "okay_nabu"}}


def spoken(tmp_path: Path, words: str, *, pause_s: float = 1.0) -> Path:
    """``words`` in espeak-ng's default voice, raw s16le mono at the rig's rate, with
    ``pause_s`` of silence on both sides."""
    wav = tmp_path / "words.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), words], check=True)
    raw = tmp_path / f"words-{abs(hash(words))}.raw"
    subprocess.run(["sox", str(wav), "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16",
                    "-c", "1", str(raw), "pad", str(pause_s), str(pause_s)], check=True)
    return raw


def appended_bytes(r: Edged) -> int:
    """Audio bytes the server has received in input_audio_buffer.append events."""
    return sum(len(base64.b64decode(e.get("audio", ""))) for _, e in r.sim.events()
               if e.get("type") == "input_audio_buffer.append")


def session_updates(r: Edged) -> list[dict[str, Any]]:
    return [e for _, e in r.sim.events() if e.get("type") == "session.update"]


def turn_detection(update: dict[str, Any]) -> Any:
    session = update.get("session", {})
    audio_in = session.get("audio", {}).get("input", {})
    return audio_in.get("turn_detection", session.get("turn_detection"))


def test_okay_nabu_into_the_microphone_starts_a_hands_free_conversation(
        pulse: PulseRig, tmp_path: Path) -> None:
    with launch(pulse, tmp_path, doc=WAKE) as r:
        watcher = watch(r)
        try:
            assert r.status()["wake_word"]["listening"] is True
            # the rig's microphone is silent: the model rests (the default level)
            wait(lambda: r.status()["wake_word"]["resting"] is True, "the model resting")
            updates_before = len(session_updates(r))
            assert appended_bytes(r) == 0
            pulse.feed_mic(spoken(tmp_path, "okay nabu"))
            heard = watcher.wait_for(lambda e: e["event"] == "wake_word", "a wake_word event",
                                     WAIT_S)
            assert heard["data"]["model"] == "okay_nabu"
            assert heard["data"]["probability"] > 0.5
            assert heard["data"]["outcome"] == "started a hands-free conversation"
            watcher.wait_for(lambda e: e["event"] == "handsfree_started", "hands-free", WAIT_S)
            # the session now asks the server to detect turns, and audio follows
            wait(lambda: any(turn_detection(u) for u in session_updates(r)[updates_before:]),
                 "a session.update switching server turn detection on")
            wait(lambda: appended_bytes(r) > 0, "microphone audio at the server")
            status = r.status()["wake_word"]
            assert status["detections"] == 1 and status["phrase"] == "Okay Nabu"
            # ...and the phrase woke it from its rest
            assert status["rest_below_dbfs"] == -55 and 0 < status["rested_share"] < 1
        finally:
            watcher.stop()
        pulse.wait_fed(timeout=WAIT_S)


def test_other_speech_sends_not_one_byte_to_the_server(pulse: PulseRig, tmp_path: Path) -> None:
    with launch(pulse, tmp_path, doc=WAKE) as r:
        watcher = watch(r)
        try:
            pulse.feed_mic(spoken(tmp_path, "what is the weather like in the kitchen today? "
                                  "turn off the lights, and set a timer for ten minutes"))
            pulse.wait_fed(timeout=WAIT_S)
            r.status()  # a round trip: anything detected would have been handled by now
            assert r.status()["wake_word"]["detections"] == 0
            assert appended_bytes(r) == 0
            assert not [e for e in watcher.seen if e["event"] == "wake_word"]
            assert r.status()["phase"] == "idle"
        finally:
            watcher.stop()


def test_without_the_wake_word_okay_nabu_does_nothing(pulse: PulseRig, tmp_path: Path) -> None:
    """The contrast: the same phrase, the wake word off (the default)."""
    with launch(pulse, tmp_path) as r:
        assert r.status()["wake_word"] == {"enabled": False, "listening": False}
        pulse.feed_mic(spoken(tmp_path, "okay nabu"))
        pulse.wait_fed(timeout=WAIT_S)
        assert appended_bytes(r) == 0 and r.status()["phase"] == "idle"


def test_its_own_answer_saying_the_phrase_does_not_wake_it(pulse: PulseRig,
                                                             tmp_path: Path) -> None:
    """The rig loops the speaker into the microphone (no echo cancellation), and the
    simulator echoes the question back, so the answer itself says "okay nabu" at the
    configured volume: the detector hears it, the echo check recognises it as what the
    speaker played, and the answer plays to its end."""
    with launch(pulse, tmp_path, doc=WAKE) as r:
        pulse.loop_speaker_into_mic()
        watcher = watch(r)
        try:
            talk = subprocess.Popen(ctl_command(r.socket, "talk", "--seconds", "4.5"),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True, env=ctl_env())
            pulse.feed_mic(spoken(tmp_path, "okay nabu, what time is it?"))
            _, err = talk.communicate(timeout=WAIT_S)
            assert talk.returncode == 0, err
            # said during push-to-talk: heard, and left to the turn in progress
            during = watcher.wait_for(lambda e: e["event"] == "wake_word", "the phrase", WAIT_S)
            assert during["data"]["outcome"] == "ignored: push-to-talk in progress"
            watcher.wait_for(lambda e: e["event"] == "transition"
                             and e["data"]["to"] == "speaking", "the echoed answer", WAIT_S)
            echo = watcher.wait_for(lambda e: e["event"] == "wake_word", "the echo", WAIT_S)
            assert echo["data"]["outcome"] == "ignored: edged's own answer said it", echo
            assert echo["data"]["echo"] >= 0.4
            idle = watcher.wait_for(lambda e: e["event"] == "transition"
                                    and e["data"]["to"] == "idle", "the end", WAIT_S)
            assert idle["data"]["cause"] == "playback_idle", idle  # not cut by a barge-in
            assert not [e for e in watcher.seen if e["event"] == "handsfree_started"]
            status = r.status()["wake_word"]
            assert status["own_voice_ignored"] >= 1
        finally:
            watcher.stop()


def test_a_reload_switches_it_on_and_a_broken_model_off(pulse: PulseRig, tmp_path: Path) -> None:
    with launch(pulse, tmp_path) as r:
        r.write(**WAKE)
        done = r.ctl("reload")
        assert done.returncode == 0, done.stderr
        assert "wake_word.enabled" in done.stdout
        wait(lambda: r.status()["wake_word"]["listening"], "the wake word to listen")
        pulse.feed_mic(spoken(tmp_path, "okay nabu"))
        wait(lambda: r.status()["wake_word"]["detections"] == 1, "a detection after the reload")
        pulse.wait_fed(timeout=WAIT_S)
        # a model that is not there: the reload applies, says why the wake word is off,
        # and the daemon runs on
        r.write(wake_word={**WAKE["wake_word"], "model": str(tmp_path / "gone.json")})
        done = r.ctl("reload")
        assert "wake_word.model" in done.stdout + done.stderr and "no such file" in \
            done.stdout + done.stderr
        assert r.status()["wake_word"] == {"enabled": True, "listening": False}
        r.alive()
        # the model put in place: a reload of the same file tries again, and listens
        from edged.wakeword.models import manifest_path

        shipped = manifest_path("okay_nabu")
        doc = json.loads(shipped.read_text())
        shutil.copy(shipped.parent / doc["model"], tmp_path / doc["model"])
        shutil.copy(shipped, tmp_path / "gone.json")
        done = r.ctl("reload")
        assert done.returncode == 0, done.stdout + done.stderr
        wait(lambda: r.status()["wake_word"]["listening"], "the wake word after the fix")


def test_run_refuses_to_start_when_the_wake_word_cannot_load(
        pulse: PulseRig, tmp_path: Path, journald: Journal, journal_cursor: str | None) -> None:
    from edged.rig.process import start_edged
    from tests.e2e.daemon_rig import KEY, ROOT, base_doc

    doc = base_doc("ws://127.0.0.1:9/", str(tmp_path / "control.sock"))
    doc["wake_word"] = {"enabled": True, "model": str(tmp_path / "gone.json")}
    config = tmp_path / "edged.yaml"
    import yaml

    config.write_text(yaml.safe_dump(doc))
    logs = tmp_path / "edged.log"
    with logs.open("wb") as out:
        proc = start_edged(config, {**pulse.env, "PYTHONPATH": str(ROOT),
                                    "EDGED_TEST_KEY": KEY}, out)
    assert proc.wait(timeout=WAIT_S) == 2
    assert "Traceback" not in logs.read_text()
    [said] = journald.mine(journal_cursor, "EDGED_EVENT=wake_word_unavailable", pid=proc.pid)
    assert said["MESSAGE"] == f"wake_word.model: {tmp_path / 'gone.json'}: no such file"
