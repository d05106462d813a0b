"""Session values built from the config: push-to-talk vs hands-free."""

from __future__ import annotations

import dataclasses

from edged.config import RealtimeConfig, TranscriptionConfig, TurnDetectionConfig, parse
from edged.realtime.events import (
    SemanticVad,
    ServerVad,
    Session,
    ToolSpec,
    Transcription,
    session_changes,
    session_from_config,
)


def _rt(**turn: object) -> RealtimeConfig:
    return dataclasses.replace(RealtimeConfig(), turn_detection=TurnDetectionConfig(**turn))  # type: ignore[arg-type]


def test_push_to_talk_never_uses_server_turn_detection() -> None:
    for kind in ("server_vad", "semantic_vad", "none"):
        assert session_from_config(_rt(type=kind), handsfree=False).turn_detection is None


def test_handsfree_server_vad_carries_the_configured_thresholds_and_interrupts() -> None:
    rt = _rt(type="server_vad", threshold=0.7, prefix_padding_ms=250, silence_duration_ms=800)
    s = session_from_config(rt, handsfree=True)
    assert s.turn_detection == ServerVad(threshold=0.7, prefix_padding_ms=250,
                                         silence_duration_ms=800, create_response=True,
                                         interrupt_response=True)
    assert s.handsfree


def test_handsfree_semantic_vad_carries_eagerness() -> None:
    s = session_from_config(_rt(type="semantic_vad", eagerness="high"), handsfree=True)
    assert s.turn_detection == SemanticVad("high", create_response=True, interrupt_response=True)


def test_handsfree_with_turn_detection_none_stays_manual() -> None:
    assert session_from_config(_rt(type="none"), handsfree=True).turn_detection is None


def test_session_takes_voice_instructions_transcription_noise_tokens_speed_from_yaml() -> None:
    cfg = parse("""
realtime:
  voice: marin
  instructions: Be terse.
  language: de
  speed: 1.25
  noise_reduction: near_field
  max_output_tokens: 300
  transcription: {enabled: true, model: whisper-1}
""")
    s = session_from_config(cfg.realtime, handsfree=False)
    assert s == Session(voice="marin", instructions="Be terse.", modalities=("audio",),
                        input_format="pcm16", output_format="pcm16", turn_detection=None,
                        transcription=Transcription("whisper-1", "de"),
                        noise_reduction="near_field", max_output_tokens=300, speed=1.25)


def test_disabled_transcription_and_noise_reduction_become_none() -> None:
    rt = dataclasses.replace(RealtimeConfig(), noise_reduction="none",
                             transcription=TranscriptionConfig(enabled=False))
    s = session_from_config(rt, handsfree=True)
    assert s.transcription is None
    assert s.noise_reduction is None


def test_tools_pass_through_and_tool_choice_comes_from_yaml() -> None:
    cfg = parse("realtime:\n  tool_choice: required\n")
    tools = (ToolSpec("get_time", "The local time.", {"type": "object", "properties": {}}),)
    for handsfree in (False, True):
        s = session_from_config(cfg.realtime, handsfree=handsfree, tools=tools)
        assert (s.tools, s.tool_choice) == (tools, "required")


def test_without_tools_the_session_offers_none() -> None:
    s = session_from_config(RealtimeConfig(), handsfree=False)
    assert (s.tools, s.tool_choice) == ((), RealtimeConfig().tool_choice)


def test_session_changes_names_tools_and_tool_choice() -> None:
    tool = ToolSpec("stop", "End the conversation.", {"type": "object"})
    base = Session()
    assert session_changes(base, Session(tools=(tool,))) == {"tools"}
    assert session_changes(base, Session(tool_choice="none")) == {"tool_choice"}
    assert session_changes(Session(tools=(tool,)), Session(tools=(tool,))) == frozenset()
