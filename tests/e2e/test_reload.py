"""Reloads against the real ``edged run``: bursts of SIGHUP, in-place audio keys, ctl reload.

Real everything: the daemon process with PyAudio on the PulseAudio rig's paced
virtual devices, the simulator over loopback, the control socket and ``edged ctl``
as a separate process. What PulseAudio reports (the playback and record streams
owned by the daemon's pid, and their indices) is the independent witness of how
many audio engines are alive and whether a reload reopened the devices.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.daemon_rig import Edged, wait
from tests.rigs.journald import Journal

pytestmark = pytest.mark.pulse


def settle(r: Edged) -> None:
    """Wait until every reload asked for so far is done: reloads are serialised, so the
    answer to a ``ctl reload`` comes after all of them."""
    done = r.ctl("reload")
    assert done.returncode == 0, done.stdout + done.stderr


def test_volume_is_applied_in_place_and_a_rate_change_reopens_once(edged_run: Edged) -> None:
    r = edged_run
    before, spec = r.streams(), r.pulse.pactl("list", "sink-inputs")
    assert "48000Hz" not in spec, spec  # auto: the rate PortAudio offers, not the one below
    r.write(audio={"volume": 0.5, "sounds_volume": 0.2, "half_duplex": True})
    done = r.ctl("reload")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == \
        "applied: audio.volume, audio.half_duplex, audio.sounds_volume"
    assert r.streams() == before  # the same PulseAudio streams: nothing was reopened
    r.write(audio={"volume": 0.5, "sounds_volume": 0.2, "half_duplex": True,
                   "output_rate": 48000})
    done = r.ctl("reload")
    assert done.stdout.strip() == "applied: audio.output_rate", done.stderr
    wait(r.one_stream_each_way, "the reopened streams")
    after = r.streams()
    assert after["sink-inputs"] != before["sink-inputs"]  # reopened, and only once
    assert "48000Hz" in r.pulse.pactl("list", "sink-inputs")


def test_bursts_of_sighup_neither_crash_nor_leak(edged_run: Edged, journald: Journal,
                                                  journal_cursor: str | None) -> None:
    r = edged_run
    # warm up once through a full reopen, so lazily made threads (asyncio's own
    # executor) already exist when the baseline is taken
    r.write(audio={"output_rate": 44100})
    settle(r)
    wait(r.one_stream_each_way, "reopened streams")
    base_threads, base_fds = r.threads(), r.fds()
    variants = [{"volume": 0.6, "output_rate": 48000}, {"volume": 0.7, "output_rate": 44100}]
    # two SIGHUPs 5 ms apart, five times; each file changes the volume and a device rate
    for i in range(5):
        r.write(audio=variants[i % 2])
        r.proc.send_signal(signal.SIGHUP)
        time.sleep(0.005)
        r.proc.send_signal(signal.SIGHUP)
        settle(r)
        r.alive()
    # ten in half a second
    for i in range(10):
        r.write(audio=variants[i % 2])
        r.proc.send_signal(signal.SIGHUP)
        time.sleep(0.05)
    settle(r)
    r.alive()
    wait(r.one_stream_each_way, "exactly one playback and one record stream")
    wait(lambda: r.threads() <= base_threads and r.fds() <= base_fds,
         f"threads and fds back to {base_threads} and {base_fds}", timeout=30)
    # the burst was merged, and the journal says so
    applied = journald.mine(journal_cursor, "EDGED_RELOAD=applied", pid=r.proc.pid)
    merged = [e for e in applied if int(e.get("EDGED_COALESCED", "0")) > 0]
    assert merged, [e["MESSAGE"] for e in applied]
    assert "coalesced into this one" in merged[0]["MESSAGE"]
    assert len(applied) < 20  # fewer reloads than signals
    status = r.ctl("status", "--json")
    assert status.returncode == 0, status.stderr


def test_ctl_reload_refuses_a_bad_file_with_file_line_and_keeps_running(
        edged_run: Edged) -> None:
    r = edged_run
    r.config.write_text("realtime:\n  voice: echo\n  vocie: x\naudio:\n  frame_ms: 3\n")
    done = r.ctl("reload")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"refused: {r.config}:3: realtime.vocie:") for line in lines), \
        done.stdout
    assert any(line.startswith(f"refused: {r.config}:5: audio.frame_ms:") for line in lines)
    r.alive()
    r.write()  # the original file again: nothing changed
    done = r.ctl("reload")
    assert (done.returncode, done.stdout.strip()) == (0, "applied: nothing changed")
