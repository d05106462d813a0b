"""``edged demo`` end to end: the real daemon against the real simulator over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("demo") / "answers.wav"
    r = subprocess.run([sys.executable, "-m", "edged", "demo", "--json", "--out", str(out)],
                       capture_output=True, text=True, timeout=180, check=False,
                       env={**os.environ, "OPENAI_API_KEY": ""})
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return json.loads(r.stdout), out


def events(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in result["timeline"] if e["event"] == name]


def first(result: dict[str, Any], name: str, after: float = -1.0, **match: Any) -> float:
    for e in result["timeline"]:
        if e["event"] == name and e["t"] > after and all(e.get(k) == v for k, v in match.items()):
            return float(e["t"])
    raise AssertionError(f"no {name} {match} after {after}")


def test_every_scene_ran(demo: tuple[dict[str, Any], Path]) -> None:
    result, _ = demo
    assert result["ok"] is True
    assert [s["step"] for s in result["steps"]] == ["push_to_talk", "barge_in", "hands_free",
                                                    "link_drop"]
    # 2 push-to-talk answers + 1 after the barge-in + 1 hands-free + 1 after the link drop,
    # counted by the daemon's own health metrics
    assert result["answers"] == 5
    assert result["barge_ins"] == 1


def test_push_to_talk_turn_sends_the_protocol_in_order(demo: tuple[dict[str, Any], Path]) -> None:
    result, _ = demo
    sent = [e["type"] for e in events(result, "sent")]
    start = sent.index("InputAudioClear")
    assert sent[start:start + 3] == ["InputAudioClear", "InputAudioCommit", "ResponseCreate"]


def test_barge_in_truncates_at_what_was_heard(demo: tuple[dict[str, Any], Path]) -> None:
    result, _ = demo
    step = result["steps"][1]
    # the script presses 0.6 s after the answer started playing
    assert 300 <= step["heard_ms"] <= 1500
    truncates = [e for e in events(result, "sent") if e["type"] == "ItemTruncate"]
    assert len(truncates) == 1 and truncates[0]["audio_end_ms"] == step["heard_ms"]


def test_hands_free_turn_answered_by_server_turn_detection(
        demo: tuple[dict[str, Any], Path]) -> None:
    result, _ = demo
    woke = first(result, "WakePress")
    answered = first(result, "response_created", woke)
    ended = first(result, "handsfree_ended", answered)
    assert woke < answered < ended
    # no commit from edged in hands-free: the server committed the turn itself
    commits = [e for e in events(result, "sent")
               if e["type"] == "InputAudioCommit" and woke < e["t"] < answered]
    assert commits == []


def test_utterance_spoken_during_link_drop_is_delivered(demo: tuple[dict[str, Any], Path]) -> None:
    result, _ = demo
    assert result["utterances"] == {"held": 1, "delivered": 4, "dropped": 0}
    assert result["link"]["reconnects"] == 1
    down = first(result, "link_down")
    released = first(result, "PttUp", down)
    up = first(result, "link_up", down)
    delivered = first(result, "utterance_delivered", down)
    played = first(result, "first_audio_played", delivered)
    assert down < released < up <= delivered < played


def test_answer_audio_reaches_the_speaker(demo: tuple[dict[str, Any], Path]) -> None:
    result, path = demo
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    assert abs(len(pcm) / 24000 - result["answer_audio_s"]) < 0.05
    # the echo answers are speech: a good share of 100 ms blocks are clearly not silent
    blocks = pcm[: len(pcm) // 2400 * 2400].reshape(-1, 2400)
    loud = np.sqrt((blocks ** 2).mean(axis=1)) > 500
    assert loud.mean() > 0.2


def test_latencies_are_reported(demo: tuple[dict[str, Any], Path]) -> None:
    result, _ = demo
    lat = result["latency_ms"]
    assert lat["uplink_p50"] is not None and lat["uplink_p95"] >= lat["uplink_p50"] >= 0
    assert lat["downlink_p50"] is not None and lat["downlink_p95"] >= lat["downlink_p50"] >= 0
