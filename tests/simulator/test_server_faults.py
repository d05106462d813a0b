"""Every injected fault, as a real websockets client over loopback observes it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus

from edged.simulator import Fault, Simulator
from tests.rigs.realtime_client import PTT_GA, aio, recv, recv_until, send

OPEN: dict[str, Any] = {"compression": None, "max_size": None, "open_timeout": 10,
                        "close_timeout": 1}
DELTA = "response.output_audio.delta"


async def closed(ws: object, timeout: float = 10.0) -> ConnectionClosed:
    """Read until the connection ends; return how it ended."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()  # type: ignore[attr-defined]
    except ConnectionClosed as exc:
        return exc
    raise AssertionError("unreachable")


@aio
async def test_refusals_carry_the_status_and_retry_after_then_faults_go_in_order() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.refuse(503, retry_after=7), times=2)
        sim.inject(Fault.refuse(429, retry_after=2.5))
        sim.inject(Fault.close_after_open(1011))
        seen = []
        for _ in range(3):
            with pytest.raises(InvalidStatus) as info:
                async with connect(sim.url, **OPEN):
                    pass
            response = info.value.response
            seen.append((response.status_code, response.headers.get("Retry-After")))
        assert seen == [(503, "7"), (503, "7"), (429, "2.5")]
        async with connect(sim.url, **OPEN) as ws:  # the fourth gets the close fault
            assert (await recv(ws))["type"] == "session.created"
            end = await closed(ws)
            assert end.rcvd is not None and end.rcvd.code == 1011
        async with connect(sim.url, **OPEN) as ws:  # the queue is empty: a normal session
            await send(ws, "input_audio_buffer.clear")
            await recv_until(ws, "input_audio_buffer.cleared")
        assert [status for _, status in sim.handshakes] == [503, 503, 429, 101, 101]
        assert sim.handshakes == sorted(sim.handshakes)  # monotonic times, in order
        assert sim.connections == 2
        assert sim.pending_faults() == []


@aio
async def test_refusal_without_retry_after_has_no_such_header() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.refuse(401))
        with pytest.raises(InvalidStatus) as info:
            async with connect(sim.url, **OPEN):
                pass
        assert info.value.response.status_code == 401
        assert "Retry-After" not in info.value.response.headers


@aio
async def test_close_after_open_serves_normally_until_the_delay_then_closes() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.close_after_open(4000, after_s=0.4))
        async with connect(sim.url, **OPEN) as ws:
            opened = time.monotonic()
            await recv(ws)
            await send(ws, "session.update", session=PTT_GA)
            assert (await recv(ws))["type"] == "session.updated"
            end = await closed(ws)
            assert time.monotonic() - opened >= 0.35
            assert end.rcvd is not None and end.rcvd.code == 4000


@aio
async def test_drop_mid_answer_cuts_tcp_after_some_audio_without_a_close_frame() -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        sim.inject(Fault.drop_mid_answer(after_chunks=3))
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            await send(ws, "response.create")
            received = []
            with pytest.raises(ConnectionClosed) as info:
                async with asyncio.timeout(10):
                    while True:
                        received.append(json.loads(await ws.recv())["type"])
            assert info.value.rcvd is None  # abrupt: no close frame came
            assert received.count(DELTA) == 3
            assert "response.done" not in received
        assert len(sim.answer_audio(1)[0]) == 3 * 4800


@aio
async def test_silent_connection_is_detected_by_the_clients_ping_timeout() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.silent())
        async with connect(sim.url, ping_interval=0.2, ping_timeout=0.5, **OPEN) as ws:
            await recv(ws)
            await send(ws, "session.update", session=PTT_GA)
            assert (await recv(ws))["type"] == "session.updated"  # comes up first...
            await send(ws, "response.create")  # ...then nothing is answered, not even pings
            start = time.monotonic()
            end = await closed(ws)
            took = time.monotonic() - start
            assert end.rcvd is None
            assert end.sent is not None and end.sent.code == 1011  # keepalive ping timeout
            assert 0.4 <= took < 8.0
        # the same client against a healthy connection stays up, pings answered
        async with connect(sim.url, ping_interval=0.2, ping_timeout=0.5, **OPEN) as ws:
            await recv(ws)
            await asyncio.sleep(1.5)
            await send(ws, "input_audio_buffer.clear")
            assert (await recv(ws))["type"] == "input_audio_buffer.cleared"


@aio
async def test_silent_after_a_delay_answers_nothing_after_it() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.silent(after_s=0.1))
        async with connect(sim.url, ping_interval=None, **OPEN) as ws:
            await recv(ws)
            await asyncio.sleep(0.4)
            await send(ws, "session.update", session=PTT_GA)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 1.0)
        # stop() must not hang on the silent connection
        async with asyncio.timeout(15):
            await sim.stop()


@aio
async def test_malformed_sends_garbage_then_behaves() -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        sim.inject(Fault.malformed(bad_audio=True))
        async with connect(sim.url, **OPEN) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            raw = [await asyncio.wait_for(ws.recv(), 10) for _ in range(3)]
            with pytest.raises(json.JSONDecodeError):
                json.loads(raw[0])
            assert not isinstance(json.loads(raw[1]), dict)
            assert json.loads(raw[2])["type"] == "simulator.unknown_event"
            await send(ws, "response.create")
            _, events = await recv_until(ws, "response.done")
            deltas = [e["delta"] for e in events if e["type"] == DELTA]
            with pytest.raises(binascii.Error):
                base64.b64decode(deltas[0], validate=True)
            audio = b"".join(base64.b64decode(d) for d in deltas[1:])
            assert audio == sim.answer_audio(1)[0] and len(audio) == 1.5 * 48000


@aio
async def test_session_expired_sends_the_error_then_closes_1001() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.session_expired(after_s=0.2))
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            error, _ = await recv_until(ws, "error")
            assert error["error"]["code"] == "session_expired"
            end = await closed(ws)
            assert isinstance(end, ConnectionClosedOK)
            assert end.rcvd is not None and end.rcvd.code == 1001


@pytest.mark.parametrize("header", ["Authorization", "api-key"])
@aio
async def test_quote_key_errors_with_the_presented_key_after_the_session_and_stays(
        header: str) -> None:
    key = "Hq3Rt8Wm1Zx6Vn4Pb2LyQ7"
    value = f"Bearer {key}" if header == "Authorization" else key
    async with Simulator() as sim:
        sim.inject(Fault.quote_key(after_s=0.1))
        async with connect(sim.url, additional_headers={header: value}, **OPEN) as ws:
            await recv(ws)
            await send(ws, "session.update", session=PTT_GA)
            _, early = await recv_until(ws, "session.updated")
            assert "error" not in [e["type"] for e in early]  # not before the session is set
            error, before = await recv_until(ws, "error")
            assert before == []  # nothing was due in between
            assert error["error"]["code"] == "invalid_api_key"
            assert f"provided: {key} (read as {key[3:]})" in error["error"]["message"]
            await send(ws, "input_audio_buffer.clear")  # the connection is still served
            await recv_until(ws, "input_audio_buffer.cleared")
        async with connect(sim.url, additional_headers={header: value}, **OPEN) as ws:
            await recv(ws)
            await send(ws, "session.update", session=PTT_GA)
            await recv_until(ws, "session.updated")
            await send(ws, "input_audio_buffer.clear")  # one connection only
            _, between = await recv_until(ws, "input_audio_buffer.cleared")
            assert [e["type"] for e in between] == []


@aio
async def test_surrogate_sends_valid_json_holding_a_lone_surrogate_escape() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.surrogate())
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            await send(ws, "session.update", session=PTT_GA)
            await recv_until(ws, "session.updated")
            frame = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(frame, str) and "\\ud800" in frame  # the escape, as text
            error = json.loads(frame)
            assert error["type"] == "error"
            message = error["error"]["message"]
            assert "\ud800" in message
            with pytest.raises(UnicodeEncodeError):
                message.encode("utf-8")
            await send(ws, "input_audio_buffer.clear")
            await recv_until(ws, "input_audio_buffer.cleared")


@aio
async def test_delay_answers_holds_the_audio_after_response_created() -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        sim.inject(Fault.delay_answers(0.6))
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            await send(ws, "response.create")
            await recv_until(ws, "response.created")
            created = time.monotonic()
            await recv_until(ws, DELTA)
            assert time.monotonic() - created >= 0.55
            done, _ = await recv_until(ws, "response.done")
            assert done["response"]["status"] == "completed"
