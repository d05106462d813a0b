"""Reloads of the ``audio``, ``control`` and ``controls`` sections, and reloads in the
middle of a turn, against the real ``edged run``.

Real everything: the daemon process with PyAudio on the PulseAudio rig's paced
virtual devices, the simulator over loopback, ``edged ctl`` (``talk``, ``watch``,
``reload``, ``status``) as separate processes, and the journal through the test
journald rig. The GPIO pins are the one thing mocked (this machine has none):
``GPIOZERO_PIN_FACTORY=mock`` gives the daemon gpiozero's MockFactory, a Pi 3B with
BCM pins 0-27 whose non-PWM pins refuse ``PWMLED``.

A turn is spoken as a finger and a mouth would: ``edged ctl talk`` holds
push-to-talk, a tone is played into the microphone, Ctrl-C releases. The simulator
answers with an echo of what was committed, so what the daemon sent is exact, and
the speaker's recording shows what was played.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.control.client import ControlClient
from tests.audio.helpers import pcm, samples, sine
from tests.e2e.daemon_rig import WAIT_S, Edged, ctl_command, ctl_env, launch, wait, watch
from tests.rigs.ctl import Event, Watcher
from tests.rigs.journald import Entry, Journal
from tests.rigs.pulse import PulseRig

pytestmark = pytest.mark.pulse

RATE = 24000  # what the daemon sends and the simulator echoes: 24 kHz mono PCM16
TONE_S = 2.0
TRAIL_S = 0.3  # silence after the tone, before the release: its tail is in the uplink
BLOCK = RATE // 200  # 5 ms


# --------------------------------------------------------------------------- helpers


def spoken(seconds: float = TONE_S) -> bytes:
    """What is said into the microphone: a steady tone, then a little silence."""
    return pcm(sine(seconds, 440, RATE, 8000.0)) + bytes(int(TRAIL_S * RATE) * 2)


def envelope(x: np.ndarray) -> np.ndarray:
    blocks = x[: len(x) // BLOCK * BLOCK].astype(np.float64).reshape(-1, BLOCK)
    env: np.ndarray = np.sqrt(np.mean(blocks ** 2, axis=1))
    return env


def tone_ms(x: np.ndarray) -> float:
    """How long the tone sounds in ``x`` (5 ms blocks above a third of its level): holes
    in it, or a lost piece, make it shorter; a starved feeder only delays it."""
    env = envelope(x)
    return float(np.count_nonzero(env > env.max() / 3) * 5.0)


def level(x: np.ndarray) -> float:
    """The tone's level: the median RMS of the blocks where it sounds."""
    env = envelope(x)
    return float(np.median(env[env > env.max() / 3]))


def appended(r: Edged, start: int) -> np.ndarray:
    """All the microphone audio the daemon sent after simulator event ``start``."""
    return samples(b"".join(base64.b64decode(e["audio"]) for _, e in r.sim.events()[start:]
                            if e["type"] == "input_audio_buffer.append"))


def committed(r: Edged, start: int) -> np.ndarray:
    """The audio of the last utterance the daemon committed after simulator event
    ``start``: its appends since the last clear."""
    events = [e for _, e in r.sim.events()[start:]]
    types = [e["type"] for e in events]
    assert "input_audio_buffer.commit" in types, types
    commit = len(types) - 1 - types[::-1].index("input_audio_buffer.commit")
    clear = commit - 1 - types[commit - 1::-1].index("input_audio_buffer.clear")
    data = b"".join(base64.b64decode(e["audio"]) for e in events[clear:commit]
                    if e["type"] == "input_audio_buffer.append")
    return samples(data)


def reloads(journald: Journal, cursor: str | None, r: Edged, count: int) -> list[Entry]:
    """The daemon's reload records, once there are ``count`` of them."""
    return journald.mine(cursor, "EDGED_KIND=reload", pid=r.proc.pid, count=count,
                         timeout=WAIT_S)


def changed(entry: Entry) -> list[str]:
    assert entry["EDGED_RELOAD"] == "applied", entry["MESSAGE"]
    return str(entry["EDGED_CHANGED"]).split(",")


def phase(watcher: Watcher, to: str) -> Event:
    """The next transition into phase ``to``."""
    return watcher.wait_for(lambda e: e["event"] == "transition" and e["data"]["to"] == to,
                            f"a transition to {to}", WAIT_S)


@contextlib.contextmanager
def talking(r: Edged) -> Iterator[subprocess.Popen[str]]:
    """``edged ctl talk`` holding push-to-talk on its own connection; leaving the block
    releases it with Ctrl-C, as a person would (``talk`` then exits 130)."""
    proc = subprocess.Popen(ctl_command(r.socket, "talk", "--seconds", "3600"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ctl_env())
    try:
        assert proc.stdout is not None
        said = proc.stdout.readline().strip()
        assert said == "listening", said
        yield proc
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT_S)
        assert proc.returncode == 130, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def speak(r: Edged, words: bytes) -> None:
    """Say ``words`` into the microphone while push-to-talk is held; returns once all
    of it has been played in (the rig paces it like a person speaking)."""
    r.pulse.feed_mic(words, rate=RATE)
    r.pulse.wait_fed(timeout=WAIT_S)


def ptt_turn(r: Edged, watcher: Watcher, words: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A whole push-to-talk turn: what was committed, and what the speaker played of the
    answer (its echo), once the speaker is idle again."""
    start = len(r.sim.events())
    recorder = r.pulse.record_speaker()
    try:
        with talking(r):
            speak(r, words)
        phase(watcher, "speaking")
        idle = phase(watcher, "idle")
    finally:
        played = samples(recorder.stop()).reshape(-1, 2)[:, 0]
    assert idle["data"]["cause"] == "playback_idle", idle
    return committed(r, start), played


# --------------------------------------------------------------------------- audio


def test_audio_reloads_by_sighup_are_recorded_and_the_speaker_keeps_working(
        pulse: PulseRig, tmp_path: Path, journald: Journal, journal_cursor: str | None) -> None:
    with launch(pulse, tmp_path, doc={"audio": {"sounds": False}}) as r:
        watcher = watch(r)
        _, loud = ptt_turn(r, watcher, spoken())
        before = r.streams()

        # in place: the volume, on the streams already open
        r.write(audio={"sounds": False, "volume": 0.5})
        r.proc.send_signal(signal.SIGHUP)
        assert changed(reloads(journald, journal_cursor, r, 1)[0]) == ["audio.volume"]
        assert r.streams() == before
        said, quiet = ptt_turn(r, watcher, spoken())
        assert tone_ms(said) >= TONE_S * 1000 - 10  # all of it
        assert level(quiet) / level(loud) == pytest.approx(0.5, abs=0.1)

        # reopened: a pre-roll of another size needs new streams
        r.write(audio={"sounds": False, "volume": 0.5, "preroll_ms": 200})
        r.proc.send_signal(signal.SIGHUP)
        assert changed(reloads(journald, journal_cursor, r, 2)[1]) == ["audio.preroll_ms"]
        wait(r.one_stream_each_way, "the reopened streams")
        after = r.streams()
        assert after["sink-inputs"] != before["sink-inputs"]
        assert after["source-outputs"] != before["source-outputs"]
        said, played = ptt_turn(r, watcher, spoken())
        # the microphone streams again (fresh streams on this rig may miss a first bit)
        assert tone_ms(said) >= TONE_S * 1000 / 2
        assert level(played) / level(loud) == pytest.approx(0.5, abs=0.1)  # still 0.5
        r.alive()
        watcher.stop(WAIT_S)


# --------------------------------------------------------------------------- control


def test_a_control_reload_moves_the_socket_and_a_bad_path_leaves_it_closed(
        pulse: PulseRig, tmp_path: Path, journald: Journal, journal_cursor: str | None) -> None:
    other = next(g for g in grp.getgrall() if g.gr_gid != os.getegid())
    with launch(pulse, tmp_path) as r:
        old, new = r.socket, str(tmp_path / "moved" / "edged.sock")
        watcher = watch(r)
        r.write(control={"socket": new, "group": other.gr_name})
        done = r.ctl("reload")
        # documented: the socket goes away under the very connection that asked
        assert (done.returncode, done.stderr.strip()) == (
            3, "edged ctl: edged closed the connection (did it stop?)"), done
        assert sorted(changed(reloads(journald, journal_cursor, r, 1)[0])) == [
            "control.group", "control.socket"]
        assert r.status(new)["pid"] == r.proc.pid
        st = os.stat(new)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_gid == other.gr_gid
        assert not os.path.exists(old)
        gone = r.ctl("status")
        assert gone.returncode == 3 and "no control socket at" in gone.stderr, gone
        # its subscribers were dropped with it: ``ctl watch`` ends, with status 3 (the
        # connection was lost)
        assert watcher.proc.wait(timeout=WAIT_S) == 3

        # a path the daemon must not take over: said in the journal, and it runs on
        # without a socket (SIGHUP still reloads)
        blocker = tmp_path / "not-a-socket"
        blocker.write_text("mine\n")
        r.write(control={"socket": str(blocker), "group": other.gr_name})
        r.proc.send_signal(signal.SIGHUP)
        assert sorted(changed(reloads(journald, journal_cursor, r, 2)[1])) == [
            "control.socket"]
        [refused] = journald.mine(journal_cursor, "EDGED_CONTROL=unavailable",
                                  pid=r.proc.pid, timeout=WAIT_S)
        assert refused["PRIORITY"] == "3"
        assert (f"control socket unavailable: {blocker} exists and is not a socket; not "
                "replacing it; running without it") == refused["MESSAGE"]
        assert blocker.read_text() == "mine\n"
        assert not os.path.exists(new)
        r.alive()

        r.write()  # the first config again: the first socket again
        r.proc.send_signal(signal.SIGHUP)
        reloads(journald, journal_cursor, r, 3)
        assert r.status(old)["pid"] == r.proc.pid


# --------------------------------------------------------------------------- controls

def unavailable_pins(journald: Journal, cursor: str | None, r: Edged) -> list[str]:
    """What the daemon said about GPIO it could not use, so far."""
    return [e["MESSAGE"] for e in journald.read("EDGED_CONTROLS=unavailable",
                                                 f"_PID={r.proc.pid}", after=cursor)]


PINS = {"enabled": True, "required": True, "ptt_pin": 17, "wake_pin": 27, "led_pin": 12,
        "led_pwm": False}


def test_a_controls_reload_claims_the_new_pins_and_runs_on_without_bad_ones(
        pulse: PulseRig, tmp_path: Path, journald: Journal, journal_cursor: str | None) -> None:
    with launch(pulse, tmp_path, doc={"controls": PINS},
                env={"GPIOZERO_PIN_FACTORY": "mock"}) as r:
        # push-to-talk moves; wake and the LED keep their pins, which the buttons being
        # replaced must have let go of first
        r.write(controls={"ptt_pin": 22})
        r.proc.send_signal(signal.SIGHUP)
        assert changed(reloads(journald, journal_cursor, r, 1)[0]) == ["controls.ptt_pin"]
        assert unavailable_pins(journald, journal_cursor, r) == []

        # a pin this board does not have: what is claimed is the new assignment
        r.write(controls={"ptt_pin": 40})
        done = r.ctl("reload")
        applied, warning = done.stdout.strip().splitlines()
        assert (done.returncode, applied) == (0, "applied: controls.ptt_pin"), done
        assert warning.startswith("warning: controls.ptt_pin: GPIO unavailable: BCM pin 40 "
                                  "does not exist on this board"), warning
        assert warning.endswith("running without buttons until a reload fixes it"), warning
        [unavailable] = journald.mine(journal_cursor, "EDGED_CONTROLS=unavailable",
                                      pid=r.proc.pid, timeout=WAIT_S)
        assert unavailable["MESSAGE"].startswith(
            "controls.ptt_pin: GPIO unavailable: BCM pin 40 does not exist on this board")
        # an error, not critical, and no advice to set controls.required: it carries on
        assert unavailable["MESSAGE"].endswith(
            "; running without buttons until a reload fixes it"), unavailable["MESSAGE"]
        assert unavailable["PRIORITY"] == "3"
        assert r.status()["pid"] == r.proc.pid  # documented: it does not exit

        # pins that exist: buttons again, without a word
        r.write(controls={"ptt_pin": 23})
        r.proc.send_signal(signal.SIGHUP)
        assert changed(reloads(journald, journal_cursor, r, 3)[2]) == ["controls.ptt_pin"]
        assert unavailable_pins(journald, journal_cursor, r) == [unavailable["MESSAGE"]]
    # and it exits 0 when stopped (the refusal above did not leave status 2 behind):
    # ``launch`` checks that


# --------------------------------------------------------------------------- during a turn


def test_a_sighup_while_push_to_talk_is_held_loses_nothing_of_the_turn(
        pulse: PulseRig, tmp_path: Path, journald: Journal, journal_cursor: str | None) -> None:
    with launch(pulse, tmp_path, doc={"audio": {"sounds": False}}) as r:
        watcher = watch(r)
        ptt_turn(r, watcher, spoken(0.5))  # the rig's fresh streams are slow to start
        connection, start = r.sim.connections(), len(r.sim.events())
        with talking(r):
            r.pulse.feed_mic(spoken(3.0), rate=RATE, background=True)
            # the reload lands in the middle of the tone, once the server has some of it
            wait(lambda: np.count_nonzero(envelope(appended(r, start)) > 1000) >= 100,
                 "half a second of the tone at the server")
            r.write(audio={"sounds": False, "volume": 0.7},
                    realtime={"instructions": "Answer in one sentence."},
                    conversation={"follow_up_s": 5})
            r.proc.send_signal(signal.SIGHUP)
            record = reloads(journald, journal_cursor, r, 1)[0]  # while still held
            r.pulse.wait_fed(timeout=WAIT_S)
        phase(watcher, "speaking")
        idle = phase(watcher, "idle")
        assert idle["data"]["cause"] == "playback_idle", idle
        assert sorted(changed(record)) == ["audio.volume", "conversation.follow_up_s",
                                           "realtime.instructions"]
        # all of the utterance went out: none of it lost where the reload was (a rig
        # under load may add a few ms, never take them away)
        said = tone_ms(committed(r, start))
        assert said >= 3000 - 10, (said, r.status()["health"]["input_overflows"])
        # all of the turn on the connection it began on, which was told the new
        # instructions there and then
        events = r.sim.events()[start:]
        turn = [n for n, e in events if e["type"] in (
            "input_audio_buffer.clear", "input_audio_buffer.commit", "response.create")]
        assert len(turn) == 3 and set(turn) == {connection}, turn
        told = [n for n, e in events if e["type"] == "session.update"
                and e["session"].get("instructions") == "Answer in one sentence."]
        assert told == [connection], told
        assert r.sim.connections() == connection
        watcher.stop(WAIT_S)


def answer_with_reload(r: Edged, **sections: dict[str, Any]) -> tuple[dict[str, Any], Event]:
    """A push-to-talk turn whose answer is reloaded under (with ``sections`` written),
    asked over the control socket as ``edged ctl reload`` does: the reply (whose phase
    says where the reload landed), and the transition that ended the answer."""
    watcher = watch(r)
    with talking(r):
        speak(r, spoken(3.0))  # a 3 s answer: time enough to reload in its middle
    phase(watcher, "speaking")
    # all of it has been sent (and so is queued for the speaker): only playing is left
    wait(lambda: r.sim.read(lambda sim: sim.answers[-1].status) == "completed",
         "the whole answer to be sent")
    r.write(**sections)
    with ControlClient(r.socket, timeout=WAIT_S) as client:
        reply = client.request("reload")
    ended = watcher.wait_for(lambda e: e["event"] == "transition"
                             and e["data"]["from"] == "speaking", "the end of the answer",
                             WAIT_S)
    watcher.stop(WAIT_S)
    return reply, ended


def test_a_socket_reload_in_place_while_the_answer_plays_lets_it_play_out(
        pulse: PulseRig, tmp_path: Path) -> None:
    with launch(pulse, tmp_path) as r:
        before = r.streams()
        reply, ended = answer_with_reload(r, audio={"volume": 0.6, "sounds_volume": 0.2})
        assert reply["changed"] == ["audio.volume", "audio.sounds_volume"]
        assert reply["phase"] == "speaking"  # it did land in the middle of the answer
        assert (ended["data"]["to"], ended["data"]["cause"]) == ("idle", "playback_idle")
        assert r.streams() == before
        assert "conversation.item.truncate" not in [e["type"] for _, e in r.sim.events()]


def test_a_reload_that_reopens_the_speaker_while_the_answer_plays_does_not_stall_it(
        pulse: PulseRig, tmp_path: Path) -> None:
    """Before: the reopen dropped the queued answer without a truncate, and the turn
    ended 5 s later as playback_stalled with the error sound."""
    with launch(pulse, tmp_path) as r:
        before = r.streams()
        reply, ended = answer_with_reload(r, audio={"output_rate": 48000})
        assert reply["changed"] == ["audio.output_rate"]
        assert reply["phase"] == "speaking"
        assert (ended["data"]["to"], ended["data"]["cause"]) == ("idle", "playback_idle")
        # then, idle, the devices reopen at the new rate: both streams are new (a
        # closed stream can still be listed for a moment after its successor appears)
        def reopened() -> bool:
            now = r.streams()
            return r.one_stream_each_way() and all(
                now[kind] != before[kind] for kind in before)
        wait(reopened, "the reopen")
        wait(lambda: "48000Hz" in r.pulse.pactl("list", "sink-inputs"),
             "the speaker stream at 48 kHz")
