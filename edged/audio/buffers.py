"""The playback jitter buffer (pure: the playback side adds the lock).

A plain object: bytes in, bytes out, time passed in as a parameter. It never
sleeps, never calls back and does no per-sample work, so it can run inside
PortAudio's callback thread under a short lock.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

Int16 = npt.NDArray[np.int16]
PlayState = Literal["idle", "buffering", "playing"]
T = TypeVar("T")

_KEEP_ITEMS = 64  # per-item accounting kept for this many recent items


@dataclass(slots=True)
class _Segment:
    item: str
    data: bytes  # device frames, interleaved
    pos: int = 0  # bytes already handed out


@dataclass(frozen=True, slots=True)
class Pulled:
    """What one output buffer got from the queue."""

    audio: int  # frames of answer audio handed out (the rest is silence)
    underrun: bool  # the queue ran dry in the middle of an answer
    drained: bool  # the last queued answer finished playing


class PlayQueue:
    """The jitter buffer between answer deltas and the speaker.

    Holds answer audio already in the device's format (bytes of interleaved
    frames), so taking a buffer's worth is a byte slice. Playback starts once
    ``prebuffer`` frames are queued (or the item has ended); a queue that runs
    dry mid-answer counts an underrun, plays silence and buffers again. Per
    item it knows how many frames went to the device and when each output
    buffer reaches the speaker, so it can say exactly how much was heard.
    """

    def __init__(self, rate: int, frame_bytes: int, prebuffer: int, capacity: int) -> None:
        self.rate = rate
        self.frame_bytes = frame_bytes
        self.prebuffer = max(0, prebuffer)
        self.capacity = max(1, capacity)
        self.state: PlayState = "idle"
        self.queued = 0  # frames
        self.underruns = 0
        self.dropped = 0  # frames refused because the buffer was full
        self._segments: deque[_Segment] = deque()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._flushed: OrderedDict[str, None] = OrderedDict()
        self._handed: OrderedDict[str, int] = OrderedDict()
        self._received: OrderedDict[str, int] = OrderedDict()
        # (dac time, item, frames) of the buffers on their way to the speaker; bounded
        # because nobody may ask for a while
        self._in_flight: deque[tuple[float, str, int]] = deque(maxlen=256)
        self._started: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._last_item: str | None = None
        self._silence: dict[int, bytes] = {}

    # -- producer side (the event loop)

    def push(self, item: str, data: bytes) -> int | None:
        """Queue audio for ``item``; the frames ahead of it, or None if refused.

        Audio for an item that was flushed (barge-in) is refused: the server
        may still be sending it while the cancel is on its way.
        """
        if item in self._flushed:
            return None
        fb = self.frame_bytes
        frames = len(data) // fb
        room = max(0, self.capacity - self.queued)
        if frames > room:
            self.dropped += frames - room
            frames = room
        data = data[: frames * fb]
        ahead = self.queued
        _remember(self._received, item, self._received.get(item, 0) + frames)
        _remember(self._handed, item, self._handed.get(item, 0))
        if frames:
            self._segments.append(_Segment(item, data))
            self.queued += frames
            self._last_item = item
            if self.state == "idle":
                self.state = "buffering"
        return ahead

    def end(self, item: str) -> None:
        """No more audio will come for ``item``: play its tail without waiting."""
        _remember(self._ended, item, None)

    def flush(self) -> dict[str, int]:
        """Drop everything queued; frames handed to the device per item touched."""
        touched = {s.item for s in self._segments}
        if self._last_item is not None:
            touched.add(self._last_item)
        for item in touched:
            _remember(self._flushed, item, None)
        self._segments.clear()
        self.queued = 0
        self._last_item = None
        self.state = "idle"
        return {item: self._handed.get(item, 0) for item in touched}

    def sounding_until(self) -> float:
        """When the last frame already handed to the device reaches the speaker (0: none)."""
        rate = self.rate
        return max((dac + n / rate for dac, _, n in self._in_flight), default=0.0)

    def drop_in_flight(self, now: float) -> None:
        """The device discarded its buffer at ``now``: what had not reached the
        speaker by then was never heard, so it no longer counts as handed."""
        rate = self.rate
        for dac, item, n in self._in_flight:
            unheard = n - min(n, max(0, int((now - dac) * rate + 1e-6)))
            if unheard and item in self._handed:
                self._handed[item] -= unheard
        self._in_flight.clear()

    def handed(self, item: str) -> int:
        """Frames of ``item`` given to the device so far (less any it discarded)."""
        return self._handed.get(item, 0)

    def received(self, item: str) -> int:
        return self._received.get(item, 0)

    def started(self, item: str) -> tuple[float, float] | None:
        """When ``item``'s first frame went to the device, and when it reached the speaker."""
        return self._started.get(item)

    def heard(self, item: str, now: float) -> int:
        """Frames of ``item`` that have reached the speaker by ``now``."""
        rate = self.rate
        while self._in_flight:
            dac, _, n = self._in_flight[0]
            if dac + n / rate > now:
                break
            self._in_flight.popleft()
        pending = 0
        for dac, it, n in self._in_flight:
            if it == item:
                pending += n - min(n, max(0, int((now - dac) * rate + 1e-6)))
        return self._handed.get(item, 0) - pending

    # -- consumer side (the output callback)

    def pull(self, n: int, dac_time: float, now: float = 0.0) -> tuple[bytes, Pulled]:
        """``n`` frames for the device: queued audio, then silence where there is none.

        ``dac_time`` is when the first of them reaches the speaker, ``now``
        when the device takes them.
        """
        ended = self._last_item in self._ended
        if self.state == "buffering":
            if self._segments and (self.queued >= self.prebuffer or ended):
                self.state = "playing"
            elif not self._segments and ended:  # ended while starved: nothing more to come
                self.state = "idle"
                self._last_item = None
                return self._silent(n), Pulled(0, False, True)
        if self.state != "playing":
            return self._silent(n), Pulled(0, False, False)
        fb = self.frame_bytes
        parts: list[bytes] = []
        written = 0
        rate = self.rate
        while written < n and self._segments:
            seg = self._segments[0]
            take = min(n - written, (len(seg.data) - seg.pos) // fb)
            parts.append(seg.data[seg.pos:seg.pos + take * fb])
            if seg.pos == 0 and seg.item not in self._started:
                _remember(self._started, seg.item, (now, dac_time + written / rate))
            self._in_flight.append((dac_time + written / rate, seg.item, take))
            self._handed[seg.item] = self._handed.get(seg.item, 0) + take
            seg.pos += take * fb
            written += take
            if seg.pos >= len(seg.data):
                self._segments.popleft()
        self.queued -= written
        if written < n:
            parts.append(self._silent(n - written))
        underrun = drained = False
        if not self._segments and self._last_item in self._ended:
            self.state = "idle"
            self._last_item = None
            drained = True
        elif written < n:  # ran dry mid-answer: the rest of this buffer is silence
            self.state = "buffering"
            underrun = True
            self.underruns += 1
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        return data, Pulled(written, underrun, drained)

    def _silent(self, n: int) -> bytes:
        silence = self._silence.get(n)
        if silence is None:
            if len(self._silence) > 8:
                self._silence.clear()
            silence = self._silence[n] = bytes(n * self.frame_bytes)
        return silence


def _remember(table: OrderedDict[str, T], key: str, value: T) -> None:
    """Set ``table[key]``, keeping only the most recent items."""
    table[key] = value
    table.move_to_end(key)
    if len(table) > _KEEP_ITEMS:
        table.popitem(last=False)
