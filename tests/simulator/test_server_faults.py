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
from edged.simulator.faults import TurnPoint
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


async def until_closed(ws: Any, timeout: float = 10.0) -> tuple[list[dict[str, Any]],
                                                                ConnectionClosed]:
    """Every event until the connection ends, and how it ended."""
    events: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                events.append(json.loads(await ws.recv()))
    except ConnectionClosed as exc:
        return events, exc
    raise AssertionError("unreachable")


@aio
async def test_reject_refuses_every_such_event_echoing_its_id_and_does_not_act_on_it() -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        sim.inject(Fault.reject("response.create", "invalid_value"))
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            for event_id in ("r1", "r2"):
                await send(ws, "response.create", event_id=event_id)
                error = await recv(ws)
                assert error["type"] == "error"
                assert error["error"]["code"] == "invalid_value"
                assert error["error"]["type"] == "invalid_request_error"
                assert error["error"]["event_id"] == event_id
            await send(ws, "input_audio_buffer.clear")  # other events are served...
            assert (await recv(ws))["type"] == "input_audio_buffer.cleared"  # ...nothing between
        assert sim.answers == []  # no response was ever created
        assert [e["type"] for _, e in sim.events] == ["response.create"] * 2 + [
            "input_audio_buffer.clear"]


@aio
async def test_reject_only_the_nth_without_echo_leaves_the_others_alone() -> None:
    async with Simulator(answer="tone", pace=float("inf"), tone_s=0.3) as sim:
        sim.inject(Fault.reject("response.create", "insufficient_quota", nth=2, echo=False))
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            await send(ws, "response.create", event_id="r1")
            done, _ = await recv_until(ws, "response.done")
            assert done["response"]["status"] == "completed"
            await recv_until(ws, "rate_limits.updated")
            await send(ws, "response.create", event_id="r2")
            error = await recv(ws)
            assert error["error"]["code"] == "insufficient_quota"
            assert error["error"]["type"] == "insufficient_quota"
            assert error["error"]["event_id"] is None  # noecho: which event is not said
            await send(ws, "response.create", event_id="r3")
            created = await recv(ws)  # nothing else came for r2
            assert created["type"] == "response.created"
            done, _ = await recv_until(ws, "response.done")
            assert done["response"]["status"] == "completed"
        assert len(sim.answers) == 2


_BEGIN = ["response.output_item.added", "conversation.item.added", "response.content_part.added"]


@pytest.mark.parametrize(("point", "expected"), [
    ("create", []),
    ("created", ["response.created"]),
    ("audio", ["response.created", *_BEGIN, DELTA, "response.output_audio_transcript.delta"]),
])
@aio
async def test_session_expired_at_a_point_of_the_turn_then_1001(
        point: TurnPoint, expected: list[str]) -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        sim.inject(Fault.session_expired_at(point))
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            await send(ws, "session.update", session=PTT_GA)
            await recv_until(ws, "session.updated")
            await send(ws, "response.create", event_id="c1")
            events, end = await until_closed(ws)
        assert [e["type"] for e in events] == [*expected, "error"]
        assert events[-1]["error"]["code"] == "session_expired"
        assert events[-1]["error"]["event_id"] is None
        assert isinstance(end, ConnectionClosedOK)
        assert end.rcvd is not None and end.rcvd.code == 1001
        assert len(sim.answers) == (0 if point == "create" else 1)


@aio
async def test_session_expired_right_after_response_done() -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        sim.inject(Fault.session_expired_at("done"))
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            await send(ws, "response.create")
            events, end = await until_closed(ws)
        kinds = [e["type"] for e in events]
        assert kinds[-4:] == ["response.output_item.done", "response.done",
                              "rate_limits.updated", "error"]
        assert kinds.count(DELTA) == 15  # the whole answer came first
        assert events[-1]["error"]["code"] == "session_expired"
        assert end.rcvd is not None and end.rcvd.code == 1001


@aio
async def test_error_then_close_names_the_code_and_serves_until_a_plain_1001() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.error_then_close("insufficient_quota", after_s=0.5))
        async with connect(sim.url, **OPEN) as ws:
            assert (await recv(ws))["type"] == "session.created"
            error = await recv(ws)
            seen = time.monotonic()
            assert error["type"] == "error"
            assert error["error"]["code"] == "insufficient_quota"
            await send(ws, "input_audio_buffer.clear")  # still served in between
            assert (await recv(ws))["type"] == "input_audio_buffer.cleared"
            events, end = await until_closed(ws)
            assert time.monotonic() - seen >= 0.4
        assert events == []  # the close carries no error of its own
        assert isinstance(end, ConnectionClosedOK)
        assert end.rcvd is not None and end.rcvd.code == 1001


@pytest.mark.parametrize(("fault", "chunks", "status", "why"), [
    (Fault.fail_answer(3, "server_error"), 3, "failed", "server_error"),
    (Fault.incomplete_answer(2, "content_filter"), 2, "incomplete", "content_filter"),
    (Fault.incomplete_answer(0), 0, "incomplete", "max_output_tokens"),
])
@aio
async def test_answers_that_end_badly_part_way_never_send_the_rest(
        fault: Fault, chunks: int, status: str, why: str) -> None:
    async with Simulator(answer="tone", pace=float("inf")) as sim:
        sim.inject(fault)
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            await send(ws, "response.create")
            done, events = await recv_until(ws, "response.done")
            kinds = [e["type"] for e in events]
            assert kinds.count(DELTA) == chunks
            assert "response.output_audio.done" not in kinds
            assert "response.content_part.done" not in kinds
            response = done["response"]
            assert response["status"] == status
            details = response["status_details"]
            assert details["type"] == status
            if status == "failed":
                assert details["error"]["code"] == why
                assert details["error"]["type"] == "server_error"
            else:
                assert details["reason"] == why
            if chunks:
                assert response["output"][0]["status"] == "incomplete"
            else:
                assert response["output"] == [] and "response.output_item.added" not in kinds
            await recv_until(ws, "rate_limits.updated")
            await send(ws, "input_audio_buffer.clear")  # the connection goes on
            assert (await recv(ws))["type"] == "input_audio_buffer.cleared"
        assert len(sim.answer_audio(1)[0]) == chunks * 4800
        assert sim.answers[0].status == status


@aio
async def test_big_frame_is_one_text_frame_of_that_size_that_a_small_client_refuses() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.big_frame(1.5), times=2)
        async with connect(sim.url, **{**OPEN, "max_size": 2**20}) as ws:
            await recv(ws)
            await send(ws, "session.update", session=PTT_GA)
            await recv_until(ws, "session.updated")
            _, end = await until_closed(ws)
            assert end.sent is not None and end.sent.code == 1009  # message too big
        async with connect(sim.url, **OPEN) as ws:  # no limit: it arrives, whole
            await recv(ws)
            await send(ws, "session.update", session=PTT_GA)
            await recv_until(ws, "session.updated")
            frame = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(frame, str) and len(frame.encode()) == round(1.5 * 2**20)
            event = json.loads(frame)
            assert event["type"] == "conversation.item.input_audio_transcription.delta"
            await send(ws, "input_audio_buffer.clear")
            await recv_until(ws, "input_audio_buffer.cleared")


@aio
async def test_bad_utf8_sends_a_text_frame_a_client_must_close_with_1007() -> None:
    async with Simulator() as sim:
        sim.inject(Fault.bad_utf8())
        async with connect(sim.url, **OPEN) as ws:
            await recv(ws)
            await send(ws, "session.update", session=PTT_GA)
            await recv_until(ws, "session.updated")
            _, end = await until_closed(ws)
            assert end.sent is not None and end.sent.code == 1007  # invalid frame payload
        frames = [f for _, f in sim.sent if isinstance(f, bytes)]
        assert len(frames) == 1 and b"\xff" in frames[0]
        with pytest.raises(UnicodeDecodeError):
            frames[0].decode("utf-8")
