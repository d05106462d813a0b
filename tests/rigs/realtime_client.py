"""A raw realtime client for tests: plain ``websockets`` plus JSON, no edged code.

Talks to the simulator (or anything realtime-compatible on loopback) the way a
protocol reference says, so a test that uses it checks the server, not a codec.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection

RATE = 24000
Event = dict[str, Any]


def aio(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an ``async def`` test on a fresh event loop (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


async def send(ws: ClientConnection, type_: str, **fields: Any) -> None:
    await ws.send(json.dumps({"type": type_, **fields}))


async def append(ws: ClientConnection, pcm: bytes) -> None:
    await send(ws, "input_audio_buffer.append", audio=base64.b64encode(pcm).decode("ascii"))


async def recv(ws: ClientConnection, timeout: float = 10.0) -> Event:
    message = await asyncio.wait_for(ws.recv(), timeout)
    event = json.loads(message)
    assert isinstance(event, dict), f"server sent a non-object: {message!r}"
    return event


async def recv_until(ws: ClientConnection, type_: str,
                     timeout: float = 10.0) -> tuple[Event, list[Event]]:
    """Read until an event of ``type_`` arrives; return it and everything before it."""
    before: list[Event] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                event = json.loads(await ws.recv())
                if event.get("type") == type_:
                    return event, before
                before.append(event)
    except TimeoutError:
        seen = [e.get("type") for e in before]
        raise AssertionError(f"no {type_!r} within {timeout} s; got {seen}") from None


def audio_of(events: list[Event], delta_type: str) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == delta_type)


def tone(ms: int, freq: float = 220.0, dbfs: float = -20.0) -> bytes:
    """A sine burst: loud enough for any energy VAD at the default threshold."""
    t = np.arange(RATE * ms // 1000) / RATE
    amp = 10 ** (dbfs / 20) * 32767
    return np.round(amp * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def quiet(ms: int) -> bytes:
    return bytes(RATE * ms // 1000 * 2)


def chunks(pcm: bytes, ms: int = 100) -> list[bytes]:
    size = RATE * ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


PTT_GA: Event = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
PTT_BETA: Event = {"turn_detection": None}
