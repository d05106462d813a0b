"""The handful of numbers the conversation machine obeys, taken from the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edged.config import Config


@dataclass(frozen=True, slots=True)
class Settings:
    min_press_ms: int = 150
    """controls.min_press_ms: a shorter press is an accidental tap, not a turn."""
    min_utterance_ms: int = 100
    """conversation.min_utterance_ms: shorter audio is discarded (the server needs 100)."""
    max_utterance_s: float = 30.0
    """conversation.max_utterance_s: a longer press (stuck button) ends the turn."""
    follow_up_s: float = 8.0
    """conversation.follow_up_s: quiet that ends a hands-free conversation."""
    hold_offline_s: float = 30.0
    """conversation.hold_offline_s: audio kept while the link is down, and how long a
    finished utterance waits for the link to return."""
    responses_per_minute: int = 10
    """conversation.responses_per_minute: the cost guard."""
    preroll_ms: int = 300
    """audio.preroll_ms: what the engine puts before a press when the mic opens."""
    half_duplex: bool = False
    """audio.half_duplex: stop streaming the mic while a hands-free answer plays."""
    handsfree: bool = True
    """False when realtime.turn_detection.type is none: the wake button cannot work."""
    answer_timeout_s: float = 20.0
    """Longest wait for an answer to start, or between two of its audio deltas."""
    playback_grace_s: float = 5.0
    """Slack beyond an answer's length before a speaker that never reports idle is
    given up on."""
    error_led_s: float = 2.0
    """How long the LED shows the error pattern after an error sound."""
    tool_timeout_s: float = 5.0
    """tools.timeout_s: the daemon answers a slower tool with an error by then."""
    max_ring_s: float = 300.0
    """tools.max_ring_s: a ringing alarm stops by itself after this long."""

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        conv = config.conversation
        return cls(
            min_press_ms=config.controls.min_press_ms,
            min_utterance_ms=conv.min_utterance_ms,
            max_utterance_s=conv.max_utterance_s,
            follow_up_s=conv.follow_up_s,
            hold_offline_s=conv.hold_offline_s,
            responses_per_minute=conv.responses_per_minute,
            preroll_ms=config.audio.preroll_ms,
            half_duplex=config.audio.half_duplex,
            handsfree=config.realtime.turn_detection.type != "none",
            tool_timeout_s=config.tools.longest_call_s(),
            max_ring_s=config.tools.max_ring_s,
        )
