"""One PortAudio at a time in the process: the lease the constructor takes (real PyAudio).

PortAudio's initialisation is reference-counted and not thread-safe; two live
instances defeat the terminate-and-rescan that device recovery depends on, and two
threads initialising at once crashed the daemon on a double reload.
"""

from __future__ import annotations

import threading
import time

import pytest

from edged.audio.portaudio import PortAudio, portaudio_held


def test_a_second_portaudio_waits_for_the_first_to_terminate() -> None:
    first = PortAudio()
    try:
        assert portaudio_held()
        with pytest.raises(OSError, match="still held by another audio engine"):
            PortAudio(lease_timeout_s=0.2)
        got: list[PortAudio] = []
        waiter = threading.Thread(target=lambda: got.append(PortAudio(lease_timeout_s=30)))
        waiter.start()
        time.sleep(0.2)
        assert not got  # still waiting while the first lives
    finally:
        first.terminate()
    waiter.join(timeout=30)
    assert got
    got[0].terminate()
    got[0].terminate()  # idempotent: the lease is given back once
    assert not portaudio_held()
