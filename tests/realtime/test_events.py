"""Session values built from the config: push-to-talk vs hands-free."""

from __future__ import annotations

import dataclasses

from edged.config import RealtimeConfig, TranscriptionConfig, TurnDetectionConfig, parse
from edged.realtime.events import (
    SemanticVad,
    ServerVad,
    Session,
    Transcription,
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
