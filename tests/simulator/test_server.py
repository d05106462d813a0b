"""The simulator over real loopback WebSockets, driven by a raw websockets client."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from edged.simulator import Simulator
from edged.simulator.audio import BYTES_PER_MS
from edged.simulator.server import redact_query
from tests.rigs.realtime_client import (
    PTT_BETA,
    PTT_GA,
    aio,
    append,
    audio_of,
    chunks,
    quiet,
    recv,
    recv_until,
    send,
    tone,
)

OPEN: dict[str, Any] = {"compression": None, "max_size": None, "open_timeout": 10}


@pytest.mark.parametrize(("path", "headers", "dialect"), [
    ("/v1/realtime?model=gpt-realtime", {"Authorization": "Bearer sk-test"}, "ga"),
    ("/openai/v1/realtime?model=dep", {"api-key": "k"}, "ga"),
    ("/v1/realtime?model=gpt-4o-realtime-preview", {"OpenAI-Beta": "realtime=v1",
                                                    "Authorization": "Bearer sk-test"}, "beta"),
    ("/openai/realtime?api-version=2024-10-01-preview&deployment=dep", {"api-key": "k"}, "beta"),
])
@aio
async def test_push_to_talk_turn_in_each_dialect_echoes_what_was_sent(
        path: str, headers: dict[str, str], dialect: str) -> None:
    names = {"ga": ("response.output_audio.delta", "response.output_audio_transcript.delta"),
             "beta": ("response.audio.delta", "response.audio_transcript.delta")}[dialect]
    pcm = tone(430, freq=330.0)
    async with Simulator(answer="echo", pace=float("inf")) as sim, \
            connect(sim.url + path, additional_headers=headers, **OPEN) as ws:
        created = await recv(ws)
        assert created["type"] == "session.created"
        assert created["session"]["model"] == ("dep" if "dep" in path else path.split("=")[1])
        await send(ws, "session.update", session=PTT_GA if dialect == "ga" else PTT_BETA)
        updated = await recv(ws)
        assert updated["type"] == "session.updated"
        for piece in chunks(pcm, 100):
            await append(ws, piece)
        await send(ws, "input_audio_buffer.commit")
        committed, _ = await recv_until(ws, "input_audio_buffer.committed")
        await send(ws, "response.create", event_id="evt_1")
        done, events = await recv_until(ws, "response.done")
        limits = await recv(ws)

        kinds = [e["type"] for e in events]
        assert next(k for k in kinds if k.startswith("response.")) == "response.created"
        assert kinds.index("response.output_item.added") < kinds.index(names[0])
        assert names[0] in kinds and names[1] in kinds
        wrong = ("response.audio.delta" if dialect == "ga" else "response.output_audio.delta")
        assert wrong not in kinds
        assert audio_of(events, names[0]) == pcm
        assert done["response"]["status"] == "completed"
        assert limits["type"] == "rate_limits.updated"
        # what the simulator recorded
        assert sim.requests[0].dialect == dialect
        assert sim.requests[0].auth == ("bearer" if "Authorization" in headers else "api-key")
        assert [t for n, t in ((n, e["type"]) for n, e in sim.events) if n == 1] == [
            "session.update", *["input_audio_buffer.append"] * 5, "input_audio_buffer.commit",
            "response.create"]
        assert sim.events[-1] == (1, {"type": "response.create", "event_id": "evt_1"})
        assert sim.answer_audio(1) == [pcm]
        assert committed["item_id"]


def _voice_update(dialect: str, voice: str, instructions: str) -> dict[str, Any]:
    """A session.update changing the voice, instructions and turn detection at once."""
    if dialect == "ga":
        return {"type": "realtime", "instructions": instructions, "audio": {
            "output": {"voice": voice},
            "input": {"turn_detection": {"type": "server_vad"}}}}
    return {"voice": voice, "instructions": instructions,
            "turn_detection": {"type": "server_vad"}}


@pytest.mark.parametrize("dialect", ["ga", "beta"])
@aio
async def test_once_the_model_has_spoken_a_voice_change_refuses_the_whole_update(
        dialect: str) -> None:
    headers = {"OpenAI-Beta": "realtime=v1"} if dialect == "beta" else {}

    def voice(session: dict[str, Any]) -> Any:
        return session["audio"]["output"]["voice"] if dialect == "ga" else session["voice"]

    def vad(session: dict[str, Any]) -> Any:
        return (session["audio"]["input"]["turn_detection"] if dialect == "ga"
                else session["turn_detection"])

    async with Simulator(answer="echo", pace=float("inf")) as sim, \
            connect(sim.url, additional_headers=headers, **OPEN) as ws:
        await recv(ws)
        await send(ws, "session.update", session=PTT_GA if dialect == "ga" else PTT_BETA)
        await recv_until(ws, "session.updated")
        # before any assistant audio the voice may change with the rest
        await send(ws, "session.update", session=_voice_update(dialect, "echo", "first"))
        updated, _ = await recv_until(ws, "session.updated")
        assert voice(updated["session"]) == "echo"
        await send(ws, "session.update", session=PTT_GA if dialect == "ga" else PTT_BETA)
        await recv_until(ws, "session.updated")
        await append(ws, tone(300))
        await send(ws, "input_audio_buffer.commit")
        await send(ws, "response.create")
        await recv_until(ws, "response.done")
        before = copy.deepcopy(sim.session(1))
        assert before is not None and vad(before) is None
        await send(ws, "session.update", session=_voice_update(dialect, "shimmer", "second"),
                   event_id="v1")
        error, _ = await recv_until(ws, "error")
        assert error["error"]["code"] == "cannot_update_voice"
        assert error["error"]["type"] == "invalid_request_error"
        assert error["error"]["event_id"] == "v1" and error["error"]["param"] is None
        after = sim.session(1)
        assert after == before  # nothing of it applied: not the instructions...
        assert after is not None and vad(after) is None and after["instructions"] == "first"
        # the same update keeping the voice goes through
        await send(ws, "session.update", session=_voice_update(dialect, "echo", "second"))
        updated, between = await recv_until(ws, "session.updated")
        assert between == []
        assert updated["session"]["instructions"] == "second"
        assert voice(updated["session"]) == "echo" and vad(updated["session"]) is not None


@aio
async def test_commit_with_less_than_100ms_is_an_error_and_the_session_goes_on() -> None:
    async with Simulator() as sim, connect(sim.url, **OPEN) as ws:
        await recv(ws)
        await send(ws, "session.update", session=PTT_GA)
        await recv(ws)
        await append(ws, tone(80))
        await send(ws, "input_audio_buffer.commit", event_id="c1")
        error = await recv(ws)
        assert error["type"] == "error"
        assert error["error"]["code"] == "input_audio_buffer_commit_empty"
        assert error["error"]["event_id"] == "c1"
        await append(ws, tone(40))
        await send(ws, "input_audio_buffer.commit")
        assert (await recv(ws))["type"] == "input_audio_buffer.committed"


@aio
async def test_cancel_mid_answer_stops_the_stream_then_truncate_and_second_cancel() -> None:
    async with Simulator(answer="tone", pace=1.0, tone_s=3.0) as sim, \
            connect(sim.url, **OPEN) as ws:
        await recv(ws)
        await send(ws, "response.create")
        first, _ = await recv_until(ws, "response.output_audio.delta")
        await send(ws, "response.create")
        busy, _ = await recv_until(ws, "error")
        assert busy["error"]["code"] == "conversation_already_has_active_response"
        await send(ws, "response.cancel")
        done, during = await recv_until(ws, "response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "client_cancelled"
        deltas = 1 + sum(e["type"] == "response.output_audio.delta" for e in during)
        assert deltas < 30  # 3 s at 100 ms per delta, stopped early
        await recv_until(ws, "rate_limits.updated")
        # nothing more of that answer arrives
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)
        sent_ms = len(sim.answer_audio(1)[0]) // BYTES_PER_MS
        assert sent_ms == deltas * 100
        await send(ws, "conversation.item.truncate", item_id=first["item_id"], content_index=0,
                   audio_end_ms=sent_ms + 1)
        beyond = await recv(ws)
        assert beyond["type"] == "error" and beyond["error"]["param"] == "audio_end_ms"
        await send(ws, "conversation.item.truncate", item_id=first["item_id"], content_index=0,
                   audio_end_ms=50)
        truncated = await recv(ws)
        assert truncated["type"] == "conversation.item.truncated"
        assert truncated["audio_end_ms"] == 50
        await send(ws, "response.cancel")
        idle = await recv(ws)
        assert idle["error"]["code"] == "response_cancel_not_active"


@aio
async def test_server_vad_turn_from_real_energy() -> None:
    audio = quiet(300) + tone(600, dbfs=-26.0) + quiet(700)
    async with Simulator(answer="echo", pace=float("inf")) as sim, \
            connect(sim.url, **OPEN) as ws:
        await recv(ws)
        await send(ws, "session.update", session={"type": "realtime", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}}}})
        await recv(ws)
        for piece in chunks(audio, 20):
            await append(ws, piece)
        started, _ = await recv_until(ws, "input_audio_buffer.speech_started")
        stopped, _ = await recv_until(ws, "input_audio_buffer.speech_stopped")
        committed, _ = await recv_until(ws, "input_audio_buffer.committed")
        done, events = await recv_until(ws, "response.done")
        assert started["audio_start_ms"] == 300
        assert stopped["audio_end_ms"] == 900
        assert started["item_id"] == stopped["item_id"] == committed["item_id"]
        assert "response.created" in [e["type"] for e in events]
        assert done["response"]["status"] == "completed"
        # the answer echoes the turn: 300 ms of prefix padding, the speech, the silence
        echoed = audio_of(events, "response.output_audio.delta")
        assert echoed == audio[0 : 1300 * BYTES_PER_MS]


def _speech(tmp: Path) -> bytes:
    wav, raw = tmp / "speech.wav", tmp / "speech.raw"
    subprocess.run(["espeak-ng", "-w", str(wav), "turn on the kitchen lights please"],
                   check=True, capture_output=True, timeout=60)
    subprocess.run(["sox", str(wav), "-r", "24000", "-c", "1", "-b", "16", "-e", "signed",
                    "-t", "raw", str(raw)], check=True, capture_output=True, timeout=60)
    return raw.read_bytes()


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="needs espeak-ng and sox (installed by scripts/setup) for speech")
@aio
async def test_server_vad_finds_one_turn_in_synthesised_speech(tmp_path: Path) -> None:
    speech = _speech(tmp_path)
    speech_ms = len(speech) // BYTES_PER_MS
    audio = quiet(500) + speech + quiet(1000)
    async with Simulator(answer="silence", pace=float("inf")) as sim, \
            connect(sim.url, additional_headers={"OpenAI-Beta": "realtime=v1"}, **OPEN) as ws:
        await recv(ws)
        await send(ws, "session.update", session={"turn_detection": {"type": "server_vad"}})
        await recv(ws)
        for piece in chunks(audio, 100):
            await append(ws, piece)
        started, _ = await recv_until(ws, "input_audio_buffer.speech_started")
        stopped, between = await recv_until(ws, "input_audio_buffer.speech_stopped")
        await recv_until(ws, "response.done")
        assert "input_audio_buffer.speech_started" not in [e["type"] for e in between]
        assert 450 <= started["audio_start_ms"] <= 700
        assert 500 + speech_ms - 400 <= stopped["audio_end_ms"] <= 500 + speech_ms + 20


@aio
async def test_speech_during_an_answer_interrupts_it() -> None:
    async with Simulator(answer="tone", pace=1.0, tone_s=3.0) as sim, \
            connect(sim.url, **OPEN) as ws:
        await recv(ws)
        await send(ws, "session.update", session={"type": "realtime", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "create_response": False}}}})
        await recv(ws)
        await send(ws, "response.create")
        await recv_until(ws, "response.output_audio.delta")
        await append(ws, tone(200))
        started, _ = await recv_until(ws, "input_audio_buffer.speech_started")
        done, _ = await recv_until(ws, "response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"
        assert started["audio_start_ms"] == 0


@aio
async def test_unknown_events_and_bad_frames_get_errors_and_the_connection_stays() -> None:
    async with Simulator() as sim, connect(sim.url, **OPEN) as ws:
        await recv(ws)
        await send(ws, "session.frobnicate", event_id="u1")
        unknown = await recv(ws)
        assert unknown["error"]["type"] == "invalid_request_error"
        assert unknown["error"]["param"] == "type" and unknown["error"]["event_id"] == "u1"
        await ws.send("{not json")
        assert (await recv(ws))["error"]["code"] == "invalid_json"
        await ws.send(b"\x00\x01")
        assert (await recv(ws))["error"]["code"] == "invalid_json"
        await ws.send("[]")
        assert (await recv(ws))["error"]["code"] == "invalid_json"
        await send(ws, "input_audio_buffer.clear")
        assert (await recv(ws))["type"] == "input_audio_buffer.cleared"
        assert [e["type"] for _, e in sim.events] == ["session.frobnicate",
                                                      "input_audio_buffer.clear"]


async def _answer_seconds(pace: float) -> float:
    """Time from the first audio delta to response.done for a 1.5 s answer."""
    async with Simulator(answer="tone", pace=pace, tone_s=1.5) as sim, \
            connect(sim.url, **OPEN) as ws:
        await recv(ws)
        await send(ws, "response.create")
        await recv_until(ws, "response.output_audio.delta")
        start = time.monotonic()
        _, events = await recv_until(ws, "response.done")
        took = time.monotonic() - start
        assert 1 + sum(e["type"] == "response.output_audio.delta" for e in events) == 15
        return took


@aio
async def test_answers_are_paced_at_pace_times_real_time() -> None:
    # 15 chunks of 100 ms: the last is sent 14 periods after the first. Sleeps only
    # ever run late, so the lower bounds are firm; the upper ones are loose.
    real_time = await _answer_seconds(1.0)
    fast = await _answer_seconds(4.0)
    assert 1.35 <= real_time < 6.0
    assert 0.33 <= fast < real_time * 0.6


@aio
async def test_require_key_refuses_a_missing_or_wrong_key_with_401() -> None:
    async with Simulator(require_key="right-key") as sim:
        for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"api-key": "nope"}):
            with pytest.raises(InvalidStatus) as info:
                async with connect(sim.url, additional_headers=headers, **OPEN):
                    pass
            assert info.value.response.status_code == 401
            assert b"right-key" not in info.value.response.body
        for headers in ({"Authorization": "Bearer right-key"}, {"api-key": "right-key"}):
            async with connect(sim.url, additional_headers=headers, **OPEN) as ws:
                assert (await recv(ws))["type"] == "session.created"
        assert [s for _, s in sim.handshakes] == [401, 401, 401, 101, 101]
        assert [r.auth for r in sim.requests] == [None, "bearer", "api-key", "bearer", "api-key"]
        assert sim.connections == 2


@aio
async def test_drop_all_aborts_connections_without_a_close_frame() -> None:
    async with Simulator() as sim, connect(sim.url, **OPEN) as ws:
        await recv(ws)
        await sim.drop_all()
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is None  # no close frame: an abrupt TCP drop
        assert sim.live_connections == []


@aio
async def test_stop_closes_open_connections_with_going_away() -> None:
    sim = Simulator()
    await sim.start()
    async with connect(sim.url, **OPEN) as ws:
        await recv(ws)
        await sim.stop()
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001


@aio
async def test_non_loopback_binds_are_refused_unless_allowed() -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        await Simulator(host="0.0.0.0").start()
    with pytest.raises(ValueError, match="not a loopback address"):
        await Simulator(host="").start()
    async with Simulator(host="localhost") as sim:
        assert sim.url.startswith("ws://")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a test cert")
@aio
async def test_wss_with_a_tls_context(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    async with Simulator(ssl_context=server_ctx) as sim:
        assert sim.url.startswith("wss://127.0.0.1:")
        async with connect(sim.url, ssl=client_ctx, **OPEN) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"


@aio
async def test_the_key_never_reaches_the_simulators_log_even_at_debug(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = "sk-simulator-log-check-0123456789"
    async with Simulator(require_key="another-key") as sim:
        with pytest.raises(InvalidStatus):
            async with connect(sim.url, additional_headers={"Authorization": f"Bearer {key}"},
                               **OPEN):
                pass
    assert sim.requests[0].auth == "bearer"
    server = [r for r in caplog.records if not r.name.startswith("websockets.client")]
    assert any(r.name.startswith("edged.simulator") for r in server)  # it does log
    assert all(key not in r.getMessage() for r in server)  # (the raw test client may)


@aio
async def test_a_stopped_simulator_restarts_on_the_same_url_for_outage_tests() -> None:
    sim = Simulator()
    await sim.start()
    url = sim.url
    try:
        async with connect(url, **OPEN) as ws:
            await recv(ws)
        await sim.stop()
        with pytest.raises(OSError):  # connection refused: the server is down
            async with connect(url, **OPEN):
                pass
        await sim.start()
        assert sim.url == url
        async with connect(url, **OPEN) as ws:
            assert (await recv(ws))["type"] == "session.created"
        assert sim.connections == 2
    finally:
        await sim.stop()


def test_logged_paths_hide_key_like_query_values() -> None:
    path = "/openai/realtime?api-version=2024-10-01-preview&deployment=d&api-key=SECRET"
    shown = redact_query(path)
    assert "SECRET" not in shown
    assert "api-version=2024-10-01-preview" in shown and "deployment=d" in shown
    assert redact_query("/v1/realtime?model=m") == "/v1/realtime?model=m"
