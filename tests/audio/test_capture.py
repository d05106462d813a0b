"""The capture side's logic, driven the way PortAudio drives it (no device needed).

The callback is called directly with the arguments PortAudio passes (raw bytes,
frame count, time info, status flags); ``wake`` collects what it would schedule
on the loop. The same code runs over real devices in test_engine_*.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edged.audio.capture import Capture
from edged.audio.devices import DeviceInfo, StreamFormat
from edged.audio.portaudio import INPUT_OVERFLOW
from edged.config import AudioConfig
from tests.audio.helpers import max_step, pcm, peak_frequency, sine, stereo

CFG = AudioConfig(frame_ms=20, preroll_ms=300, uplink_batch_ms=100)
MIC = DeviceInfo(0, "mic", 2, 0, 48000)


class Rig:
    def __init__(self, rate: int = 24000, channels: int = 1, cfg: AudioConfig = CFG) -> None:
        self.now = 1000.0
        self.rate, self.channels = rate, channels
        self.delivered: list[tuple[np.ndarray, float]] = []
        self.wakes: list[Callable[[], None]] = []
        self.gate = True
        self.cap = Capture(cfg, lambda b, t: self.delivered.append((np.frombuffer(b, np.int16),
                                                                    t)),
                           self.wakes.append, lambda _now: self.gate, clock=lambda: self.now)
        self.cap.configure(StreamFormat(MIC, rate, channels), latency=0.05)

    def feed(self, x: np.ndarray, per: int | None = None, status: int = 0) -> None:
        """Deliver ``x`` as PortAudio would: one 20 ms buffer per callback, 20 ms apart."""
        per = per or self.rate // 50
        step = per * self.channels
        for i in range(0, len(x), step):
            chunk = x[i:i + step]
            n = len(chunk) // self.channels
            self.now += n / self.rate
            adc = self.now - n / self.rate - 0.005  # 5 ms in the device's buffer
            self.cap.callback(pcm(chunk), n, {"input_buffer_adc_time": adc,
                                              "current_time": self.now}, status)

    def run_loop(self) -> None:
        while self.wakes:
            self.wakes.pop(0)()

    def audio(self) -> np.ndarray:
        return np.concatenate([a for a, _ in self.delivered]) if self.delivered else \
            np.zeros(0, np.int16)


def ramp(n: int, start: int = 0) -> np.ndarray:
    return (np.arange(start, start + n) % 30000).astype(np.int16)


def test_idle_capture_never_wakes_the_loop() -> None:
    rig = Rig()
    rig.feed(ramp(24000 * 2))
    assert rig.wakes == [] and rig.delivered == []


def test_preroll_is_the_newest_audio_in_whole_frames_and_joins_the_live_audio() -> None:
    rig = Rig()
    x = ramp(24000)
    rig.feed(x)
    pressed = rig.now
    rig.cap.open_uplink(preroll=True)
    pre, t = rig.delivered[0]
    assert len(pre) == 7200  # 300 ms = 15 frames of 480
    assert np.array_equal(pre, x[-7200:])
    assert abs(t - (pressed - 0.005)) < 1e-6  # capture time of its last sample
    y = ramp(24000, start=24000)
    rig.feed(y)
    rig.run_loop()
    assert np.array_equal(rig.audio(), np.concatenate((x[-7200:], y)))


def test_uplink_batches_whole_frames_and_wakes_once_per_batch() -> None:
    rig = Rig()
    rig.cap.open_uplink(preroll=False)
    rig.feed(ramp(480 * 4))
    assert rig.wakes == []  # 80 ms < one 100 ms batch
    rig.feed(ramp(480))
    assert len(rig.wakes) == 1
    rig.feed(ramp(480 * 5))  # the loop has not run yet: no second wake-up
    assert len(rig.wakes) == 1
    rig.run_loop()
    sizes = [len(a) for a, _ in rig.delivered]
    assert sizes == [4800] and all(s % 480 == 0 for s in sizes)
    times = [t for _, t in rig.delivered]
    assert times == sorted(times)


def test_batch_size_can_change_to_one_frame() -> None:
    rig = Rig()
    rig.cap.batch_ms = 20
    assert rig.cap.batch_ms == 20
    rig.cap.open_uplink(preroll=False)
    for _ in range(3):
        rig.feed(ramp(480))
        rig.run_loop()
    assert [len(a) for a, _ in rig.delivered] == [480, 480, 480]


def test_closing_hands_over_the_remainder_at_once_then_stops() -> None:
    rig = Rig()
    rig.cap.open_uplink(preroll=False)
    x = ramp(480 * 2 + 100)
    rig.feed(x, per=490)
    rig.cap.close_uplink()  # push-to-talk release: no waiting for a full batch
    assert np.array_equal(rig.audio(), x)
    assert not rig.cap.uplink_open
    rig.feed(ramp(4800))
    rig.run_loop()
    assert len(rig.audio()) == len(x)


def test_delivery_times_are_capture_times() -> None:
    rig = Rig()
    rig.cap.batch_ms = 20
    rig.cap.open_uplink(preroll=False)
    before = rig.now
    rig.feed(ramp(480))
    rig.run_loop()
    _, t = rig.delivered[0]
    # the ADC time PortAudio reported for the first sample, plus the 20 ms it spans
    assert abs(t - (before - 0.005 + 0.020)) < 1e-6


def test_muting_silences_and_forgets_the_preroll() -> None:
    rig = Rig()
    rig.feed(ramp(24000, start=1))
    rig.cap.mic_enabled = False
    assert rig.cap.preroll() == b""
    rig.cap.open_uplink()
    rig.feed(ramp(4800, start=1))
    rig.cap.close_uplink()
    audio = rig.audio()
    assert len(audio) == 4800 and not audio.any()
    rig.cap.mic_enabled = True
    rig.cap.open_uplink()
    rig.feed(ramp(480, start=1))
    rig.cap.close_uplink()
    assert rig.audio()[-480:].any()


def test_half_duplex_gate_silences_while_closed() -> None:
    rig = Rig()
    rig.cap.open_uplink(preroll=False)
    rig.gate = False  # the speaker is playing
    rig.feed(ramp(960, start=1))
    rig.gate = True
    rig.feed(ramp(960, start=1))
    rig.cap.close_uplink()
    audio = rig.audio()
    assert not audio[:960].any() and audio[960:].all()


def test_input_overflows_are_counted() -> None:
    rig = Rig()
    rig.feed(ramp(960), status=INPUT_OVERFLOW)
    assert rig.cap.overflows == 2


def test_48k_stereo_preroll_and_live_audio_join_without_a_seam() -> None:
    rig = Rig(48000, 2)
    tone = sine(2.0, 440, 48000, 8000.0)
    x = stereo(tone, tone)
    half = len(x) // 2
    rig.feed(x[:half])
    rig.cap.open_uplink()
    rig.feed(x[half:])
    rig.cap.close_uplink()
    audio = rig.audio()
    assert len(rig.delivered[0][0]) == 7200  # the pre-roll: 300 ms in whole frames
    # then the rest: what the resampler still held at the press (< 40 ms), the second
    # second, and the resampler's tail, flushed by the close
    assert 0 <= len(audio) - 7200 - 24000 < 960
    # no step anywhere beyond the sine's own slope, the seam at the press included; the
    # first and last few ms are where the tone starts and is cut off (a real edge, which
    # any anti-alias filter rings at)
    assert max_step(audio[100:-100]) <= 8000 * 2 * np.pi * 440 / 24000 * 1.02


def test_preroll_can_be_inspected_without_disturbing_capture() -> None:
    rig = Rig(48000, 2)
    tone = sine(1.0, 440, 48000, 8000.0)
    rig.feed(stereo(tone, tone))
    pre = np.frombuffer(rig.cap.preroll(), np.int16)
    assert len(pre) == 7200
    assert abs(peak_frequency(pre, 24000) - 440) < 2
    assert rig.delivered == [] and rig.wakes == []


class Tap:
    """The wake word's tap, as far as capture sees it: it takes every buffer."""

    def configure(self, rate: int, channels: int) -> None:
        self.format = (rate, channels)

    def feed(self, data: bytes | None, frames: int, end_t: float) -> None:
        pass


def test_a_wake_words_uplink_starts_at_its_detection_not_at_the_call() -> None:
    rig = Rig()
    rig.cap.tap = Tap()
    x = ramp(24000)
    rig.feed(x)
    detected = rig.now - 0.005 - 0.25  # a capture time 250 ms back (5 ms in the device)
    rig.cap.open_uplink(preroll=False, since=detected)
    y = ramp(4800, start=24000)
    rig.feed(y)
    rig.run_loop()
    rig.cap.flush_uplink()
    assert np.array_equal(rig.audio(), np.concatenate((x[-6000:], y)))


def test_with_a_tap_the_ring_holds_a_detections_delay_even_without_a_preroll() -> None:
    rig = Rig(cfg=AudioConfig(frame_ms=20, preroll_ms=0, uplink_batch_ms=100))
    x = ramp(24000)
    rig.feed(x)
    rig.cap.open_uplink(preroll=False, since=rig.now - 0.005 - 0.4)
    # no tap, no pre-roll: only the resampler's 60 ms of slack was kept
    assert rig.audio().size <= 24000 * 60 // 1000
    rig.cap.close_uplink()
    rig.delivered.clear()
    rig.cap.tap = Tap()
    rig.feed(x)
    rig.cap.open_uplink(preroll=False, since=rig.now - 0.005 - 0.4)
    rig.cap.flush_uplink()
    assert np.array_equal(rig.audio(), x[-9600:])
