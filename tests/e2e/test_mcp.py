"""Server-side MCP through the whole daemon: the token from a systemd credential, the
API's approval requests answered from the config, the calls journaled, the answer heard.

Real: the ``Daemon`` (machine, observer, link, tools), the credentials reader on a real
``$CREDENTIALS_DIRECTORY``, the redactor, the simulator over loopback WebSocket playing
the GA API that calls the MCP server itself, and the daemon's log records. Stand-ins:
the audio devices (the demo's paced virtual microphone and speaker, ``WavAudio``,
which offer the daemon what the PyAudio engine does), so this runs in-process and
needs no PulseAudio; no remote MCP server exists here, and none is needed: the API,
not the speaker, would talk to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from edged.audio.port import AudioCallbacks
from edged.config import AudioConfig, Config, McpServerConfig
from edged.conversation import Say
from edged.daemon import Daemon, Timeline
from edged.demo.scenario import demo_config
from edged.demo.wav_audio import WavAudio
from edged.simulator import ScriptedMcpCall, ScriptedResponse, Simulator

TOKEN = "mcp-e2e-Hq4Wn8Zr2Lt6Vb9Kc3Xs"


async def until(predicate: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_an_mcp_turn_is_approved_and_denied_as_configured_and_answered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "home-mcp").write_text(TOKEN)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    caplog.set_level(logging.DEBUG)
    asyncio.run(mcp_turn(tmp_path, caplog))


async def mcp_turn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with Simulator(answer="tone", pace=4.0, tone_s=0.5,
                         mcp_tools={"home": ("lights", "unlock")}) as sim:
        base = demo_config(sim.url, AudioConfig(), tmp_path / "state")
        config: Config = replace(base, realtime=replace(base.realtime, mcp_servers=(
            McpServerConfig("home", "https://mcp.example.org/mcp", ("lights", "unlock"),
                            approve=("lights",), authorization_credential="home-mcp"),
            McpServerConfig("garage", "https://garage.example.org/mcp",
                            authorization_credential="garage-mcp"),
        )))

        def make_audio(cfg: Config, loop: asyncio.AbstractEventLoop,
                       callbacks: AudioCallbacks) -> WavAudio:
            return WavAudio(cfg, loop, callbacks)

        timeline = Timeline(keep=True)
        daemon = Daemon(config, audio_factory=make_audio, key_source=lambda: "not-a-real-key",
                        timeline=timeline)
        runner = asyncio.create_task(daemon.run(install_signals=False))
        try:
            await until(lambda: daemon.metrics.link == "up", "the link")
            await until(lambda: any(what == "mcp_tools" for _, what, _ in timeline.entries),
                        "the server's tool list")
            sim.script(ScriptedResponse(mcp=(
                ScriptedMcpCall("home", "lights", '{"room": "hall"}', output="on", ask=True),
                ScriptedMcpCall("home", "unlock", '{"door": "front"}', ask=True),
            ), speak_ms=600, transcript="The hall light is on; I may not open the door."))
            mark = len(timeline.entries)
            daemon.handle(Say("turn on the hall light and open the front door"))
            approvals = await sim.wait_for_mcp_approvals(2, 60)
            await until(lambda: any(what == "transition" and f.get("to") == "idle"
                                    for _, what, f in timeline.entries[mark:]), "the turn's end")
            status = daemon.link.status if daemon.link is not None else None
        finally:
            daemon.stop()
            await runner

    # the session offered the one server whose token could be read, with its token
    update = next(e for _, e in sim.events if e["type"] == "session.update")
    assert update["session"]["tools"][-1] == {
        "type": "mcp", "server_label": "home", "server_url": "https://mcp.example.org/mcp",
        "require_approval": "always", "allowed_tools": ["lights", "unlock"],
        "authorization": TOKEN}
    assert "garage" not in str(update["session"]["tools"])
    # answered from the config: the listed tool approved, the other denied with the key
    assert [(a.approve, a.known) for a in approvals] == [(True, True), (False, True)]
    assert approvals[0].reason is None
    assert "'unlock'" in (approvals[1].reason or "")
    assert "realtime.mcp_servers[0].approve" in (approvals[1].reason or "")
    # only the approved call was made, and the answer was heard
    assert [(c.name, c.status) for c in sim.mcp_calls] == [("lights", "completed")]
    heard = [f for _, what, f in timeline.entries[mark:] if what == "answer_started"]
    assert len(heard) == 1  # the model spoke on after the calls: nothing more was asked
    # one tool round: the approved call (waited for, then run by the API) and the refusal
    rounds = [f for _, what, f in timeline.entries[mark:] if what == "remote_tool"]
    assert [(f["name"], f["pending"], f["round"]) for f in rounds] == [
        ("lights", True, 1), ("unlock", False, 1)], rounds
    assert not [f for _, what, f in timeline.entries[mark:] if what == "answer_failed"]
    # the journal: why garage is not offered, the list, each decision, the call
    lines = [r.getMessage() for r in caplog.records
             if getattr(r, "fields", {}).get("kind") == "mcp"]
    assert any(line.startswith("realtime.mcp_servers[1] (garage): not offered to the model")
               and "systemd credential 'garage-mcp'" in line for line in lines), lines
    assert "mcp server home lists 2 tool(s)" in lines
    assert "mcp lights on home approved" in lines
    assert any(line.startswith("mcp unlock on home denied (") for line in lines)
    assert "mcp lights on home completed" in lines
    # every MCP event was known to the decoder, and the token is in no log line
    assert status is not None and status.unknown_events == 0 and status.malformed_events == 0
    assert not [r for r in caplog.records if TOKEN in r.getMessage()]
