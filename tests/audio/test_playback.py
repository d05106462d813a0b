"""The playback side's logic, driven the way PortAudio drives it (no device needed).

The output callback is called directly with PortAudio's arguments (frame count,
time info, status flags) and returns the bytes the device would play. The same
code runs over real devices in test_engine_*.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from edged.audio.devices import DeviceInfo, StreamFormat
from edged.audio.playback import Playback
from edged.audio.portaudio import OUTPUT_UNDERFLOW
from edged.config import AudioConfig
from tests.audio.helpers import db, pcm, peak_frequency, rms, sine

SPK = DeviceInfo(1, "spk", 0, 2, 48000)
LATENCY = 0.03


class Rig:
    def __init__(self, rate: int = 24000, channels: int = 1, **cfg: object) -> None:
        self.now = 500.0
        self.rate, self.channels = rate, channels
        self.drained = 0
        self.pb = Playback(AudioConfig(frame_ms=20, **cfg),  # type: ignore[arg-type]
                           self._on_drained, clock=lambda: self.now)
        self.pb.configure(StreamFormat(SPK, rate, channels), LATENCY)
        self.warm_up()

    def warm_up(self) -> None:
        """The device's initial fill, one buffer before now: the stream is running."""
        n = self.rate // 50
        self.now -= n / self.rate
        self.pb.callback(None, n, {"current_time": self.now,
                                   "output_buffer_dac_time": self.now + LATENCY}, 0)
        self.now += n / self.rate

    def _on_drained(self) -> None:
        self.drained += 1

    def tick(self, status: int = 0) -> np.ndarray:
        """One 20 ms output buffer, as the device asks for it."""
        n = self.rate // 50
        data, flag = self.pb.callback(None, n, {"current_time": self.now,
                                                "output_buffer_dac_time": self.now + LATENCY},
                                      status)
        assert flag == 0 and len(data) == n * self.channels * 2
        self.now += n / self.rate
        return np.frombuffer(data, np.int16)

    def ticks(self, k: int) -> np.ndarray:
        return np.concatenate([self.tick() for _ in range(k)])


def test_idle_output_is_silence() -> None:
    rig = Rig()
    assert not rig.ticks(5).any()
    assert not rig.pb.is_playing


def test_answer_plays_exactly_after_the_prebuffer() -> None:
    rig = Rig(playback_prebuffer_ms=60)
    x = sine(0.5, 440, 24000)
    rig.pb.play("a", pcm(x[:960]))  # 40 ms < 60 ms prebuffer
    assert not rig.tick().any()
    rig.pb.play("a", pcm(x[960:]))
    rig.pb.end_of_answer("a")
    out = rig.ticks(26)
    assert np.array_equal(out[: len(x)], x) and not out[len(x):].any()
    assert rig.drained == 1 and not rig.pb.is_playing
    assert rig.pb.flush() == {}


def test_device_format_is_48k_stereo_with_the_same_tone() -> None:
    rig = Rig(48000, 2, playback_prebuffer_ms=0)
    rig.pb.play("a", pcm(sine(1.0, 1000, 24000, 8000.0)))
    rig.pb.end_of_answer("a")
    frames = rig.ticks(51).reshape(-1, 2)
    assert np.array_equal(frames[:, 0], frames[:, 1])
    body = frames[4800:43200, 0]
    assert abs(peak_frequency(body, 48000) - 1000) < 0.5
    assert abs(db(rms(body) / (8000 / np.sqrt(2)))) < 0.1


def test_barge_in_silences_the_next_buffer_and_reports_what_was_played() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    rig.pb.play("a", pcm(sine(2.0, 440, 24000)))
    assert rig.ticks(10).any()  # 200 ms handed to the device
    assert rig.pb.flush() == {"a": 200}
    assert not rig.tick().any()  # within one output buffer
    # the server may still be sending the cancelled answer: it stays silent
    rig.pb.play("a", pcm(sine(0.5, 440, 24000)))
    assert not rig.ticks(5).any()
    rig.pb.play("b", pcm(sine(0.1, 440, 24000)))
    rig.pb.end_of_answer("b")
    assert rig.ticks(6).any()


def test_played_ms_counts_what_reached_the_speaker() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    rig.pb.play("a", pcm(sine(1.0, 440, 24000)))
    rig.ticks(10)  # 200 ms handed; each buffer reaches the speaker 30 ms after it is taken
    assert rig.pb.played_ms("a") == 170
    rig.now += 1.0
    assert rig.pb.played_ms("a") == 200
    handed, heard = rig.pb.started("a") or (0.0, 0.0)
    assert abs(heard - handed - LATENCY) < 1e-9


def test_play_says_when_the_audio_will_be_heard() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    at = rig.pb.play("a", pcm(sine(0.5, 440, 24000)))
    assert at == rig.now + LATENCY
    later = rig.pb.play("a", pcm(sine(0.5, 440, 24000)))
    assert abs(later - (rig.now + 0.5 + LATENCY)) < 1e-9  # behind the first half second


def test_underruns_and_device_underflows_are_counted() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    rig.pb.play("a", pcm(sine(0.03, 440, 24000)))  # 30 ms, then the network stalls
    out = rig.ticks(3)
    assert out[:720].any() and not out[720:].any()
    assert rig.pb.queue.underruns == 1 and rig.pb.is_playing
    rig.tick(status=OUTPUT_UNDERFLOW)
    assert rig.pb.underflows == 1


def test_volume_scales_the_answer() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    rig.pb.volume = 0.5
    x = sine(0.2, 440, 24000, 8000.0)
    rig.pb.play("a", pcm(x))
    rig.pb.end_of_answer("a")
    out = rig.ticks(10)
    assert abs(db(rms(out) / rms(x)) - db(0.5)) < 0.05
    rig.pb.volume = 99
    assert rig.pb.volume == 4.0


def test_sounds_play_over_silence_and_over_an_answer() -> None:
    rig = Rig(sounds_volume=0.2)
    rig.pb.sound("listening")
    alone = rig.ticks(15)
    assert 0.15 * 32767 < np.abs(alone.astype(np.int32)).max() <= 0.2 * 32767 + 1
    assert not rig.tick().any()  # and then it is over
    quiet = Rig(sounds=False)
    quiet.pb.sound("error")
    assert not quiet.ticks(15).any()


def test_the_spoken_volume_scales_answers_and_sounds_from_the_next_one_on() -> None:
    rig = Rig(playback_prebuffer_ms=0, volume=0.8, sounds_volume=0.2)
    rig.pb.sound("done")  # rendered (and kept) at the full level
    full = np.abs(rig.ticks(15).astype(np.int32)).max()
    rig.pb.set_level(0.25)
    rig.pb.sound("done")  # not the one kept from before: rendered again at the new level
    quarter = np.abs(rig.ticks(15).astype(np.int32)).max()
    assert quarter / full == pytest.approx(0.25, abs=0.01)
    x = sine(0.2, 440, 24000, 8000.0)
    rig.pb.play("a", pcm(x))
    rig.pb.end_of_answer("a")
    out = rig.ticks(10)
    assert abs(db(rms(out) / rms(x)) - db(0.8 * 0.25)) < 0.05  # audio.volume stays the top
    rig.pb.reconfigure(AudioConfig(frame_ms=20, playback_prebuffer_ms=0, volume=0.4,
                                   sounds_volume=0.2))
    assert rig.pb.volume == 0.4 * 0.25  # a reload keeps the level


def test_an_alarm_sounds_with_sounds_off_and_a_stop_silences_it_at_once() -> None:
    rig = Rig(sounds=False, sounds_volume=0.3)
    rig.pb.set_level(0.0)  # all the way down
    rig.pb.sound("done")
    assert not rig.ticks(15).any()
    rig.pb.sound("alarm")
    assert np.abs(rig.ticks(5).astype(np.int32)).max() > 0.1 * 32767
    rig.pb.stop_sounds()
    assert not rig.ticks(5).any()


def test_half_duplex_signal_covers_the_echo_tail() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    rig.pb.play("a", pcm(sine(0.04, 440, 24000)))
    rig.pb.end_of_answer("a")
    rig.ticks(2)
    assert rig.pb.speaking(rig.now)  # audio still on its way out of the speaker
    assert not rig.pb.speaking(rig.now + 1.0)


def test_barge_in_with_an_abort_function_has_the_device_drop_its_buffer_now() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    asked: list[float] = []
    aborted: list[float] = []
    rig.pb._request_abort = lambda: asked.append(rig.now)
    rig.pb.on_aborted = lambda: aborted.append(rig.now)
    rig.pb.play("a", pcm(sine(2.0, 440, 24000)))
    rig.ticks(10)  # 200 ms handed; the next buffer is due now, the last 30 ms in flight
    rig.now -= 0.01  # a press 10 ms before the next buffer
    heard = rig.pb.flush()
    # the abort comes now (from the engine's thread), not with the next buffer (which
    # would make it 170)
    assert asked == [rig.now] and heard == {"a": 200 - 40}
    assert rig.pb.busy(rig.now + 1.0)  # until the abort is done, it still counts
    rig.pb.aborted(rig.now)
    assert aborted == [rig.now] and rig.pb.aborts == 1 and rig.pb.aborted_at == rig.now
    assert rig.pb.played_ms("a") == 200 - 40  # the rest was discarded by the device
    assert not rig.pb.busy(rig.now)
    # the restarted stream plays on as usual
    assert not rig.ticks(2).any()


def test_an_abort_that_did_not_happen_leaves_nothing_pending() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    rig.pb._request_abort = lambda: None
    rig.pb.play("a", pcm(sine(1.0, 440, 24000)))
    rig.ticks(5)
    rig.pb.flush()
    assert rig.pb.busy(rig.now + 1.0)
    rig.pb.abort_failed()  # e.g. the stream went to standby meanwhile
    assert not rig.pb.busy(rig.now + 1.0) and rig.pb.aborts == 0


def test_nothing_in_flight_means_no_abort() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    asked: list[float] = []
    rig.pb._request_abort = lambda: asked.append(rig.now)
    rig.ticks(3)
    assert rig.pb.flush() == {}
    assert asked == []
    assert len(rig.ticks(2))  # tick() asserts the flag is paContinue


def test_a_restarted_stream_plays_silence_until_the_device_runs() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    rig.pb.starting()
    rig.pb.play("a", pcm(sine(0.2, 440, 24000)))
    n = rig.rate // 50
    for _ in range(3):  # PortAudio's fill: three buffers at once, before the clock runs
        data, _ = rig.pb.callback(None, n, {"current_time": rig.now,
                                           "output_buffer_dac_time": rig.now}, 0)
        assert not np.frombuffer(data, np.int16).any()
    rig.now += n / rig.rate
    assert rig.tick().any()  # one buffer later: the device runs, the answer starts
    assert rig.pb.played_ms("a") == 0  # nothing of it was spent on the fill


def test_an_unpaced_device_gets_its_audio_after_a_bounded_fill() -> None:
    rig = Rig(playback_prebuffer_ms=0)
    rig.pb.starting()
    rig.pb.play("a", pcm(sine(0.5, 440, 24000)))
    n = rig.rate // 50
    out = [rig.pb.callback(None, n, {"current_time": rig.now,
                                     "output_buffer_dac_time": rig.now}, 0)[0]
           for _ in range(12)]  # a file-like device: every buffer at once, no clock
    loud = [np.frombuffer(d, np.int16).any() for d in out]
    assert loud == [False] * 8 + [True] * 4
