"""What the conversation machine asks for: client events, playback, sounds, LED, mic.

The daemon carries these out in order, as soon as ``handle`` returns them.
``Send*`` actions map one-to-one onto realtime client events and are only ever
emitted while the link is up. ``Notice`` is the observable record of every
transition and every decision worth a journal line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edged.conversation.events import audio_repr

Sound = Literal["listening", "done", "error", "confirm"]
LedPattern = Literal["idle", "listening", "thinking", "tools", "speaking", "muted", "error",
                     "ringing", "confirm"]
MicMode = Literal["closed", "preroll", "stream", "live"]
"""closed: capture nothing, not even pre-roll (mute); preroll: keep only the
pre-roll ring; stream: deliver every frame to the machine as ``MicAudio``, starting
with the pre-roll; live: the same from now on, without the pre-roll (after the wake
word, whose phrase the pre-roll holds)."""
STREAMING: frozenset[str] = frozenset({"stream", "live"})
"""The mic modes that deliver audio to the machine."""

FieldValue = str | int | float | bool | None

# --------------------------------------------------------------------------- client events


@dataclass(frozen=True, slots=True)
class SendClear:
    """``input_audio_buffer.clear``."""


@dataclass(frozen=True, slots=True, repr=False)
class SendAppend:
    """``input_audio_buffer.append`` (the daemon base64-encodes ``pcm``).

    ``captured_at`` (live audio only; None for pre-roll and held audio): the
    capture time of its last sample, from :class:`MicAudio`.
    """

    pcm: bytes
    captured_at: float | None = None

    __repr__ = audio_repr


@dataclass(frozen=True, slots=True)
class SendCommit:
    """``input_audio_buffer.commit``."""


@dataclass(frozen=True, slots=True)
class SendText:
    """``conversation.item.create`` with a user ``input_text`` message."""

    text: str


@dataclass(frozen=True, slots=True)
class SendToolOutput:
    """``conversation.item.create`` with a ``function_call_output`` for ``call_id``."""

    call_id: str
    output: str


@dataclass(frozen=True, slots=True)
class SendResponseCreate:
    """``response.create``; ``event_id`` names it, so an error refusing it can say so."""

    event_id: str


@dataclass(frozen=True, slots=True)
class SendResponseCancel:
    """``response.cancel`` (the server's current response)."""


@dataclass(frozen=True, slots=True)
class SendTruncate:
    """``conversation.item.truncate`` (content_index 0): forget unheard answer audio."""

    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class SetHandsFree:
    """``session.update``: server turn detection on (wake conversation) or off (push-to-talk).

    A desired state: emitted again after every ``LinkUp``.
    """

    on: bool


# --------------------------------------------------------------------------- tools, alarms


@dataclass(frozen=True, slots=True)
class RunTool:
    """Run a tool the model called; reply ``ToolFinished`` with its output (always:
    a failure is an output too)."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Ring:
    """Start (``on``) or stop the alarm sound, repeated until stopped."""

    on: bool


@dataclass(frozen=True, slots=True)
class ConfirmTool:
    """The answer to ``ConfirmWanted``: pressed in time (``ok``), or not."""

    tool: str
    ok: bool


# --------------------------------------------------------------------------- speaker, feedback


@dataclass(frozen=True, slots=True, repr=False)
class PlayAnswer:
    """Queue answer audio (24 kHz mono PCM16) for playback."""

    response_id: str
    item_id: str
    pcm: bytes

    __repr__ = audio_repr


@dataclass(frozen=True, slots=True)
class EndAnswer:
    """No more audio will be queued for this item: play out what is left."""

    item_id: str


@dataclass(frozen=True, slots=True)
class FlushPlayback:
    """Silence the speaker now and drop queued answer audio; reply ``PlaybackFlushed``."""


@dataclass(frozen=True, slots=True)
class PlaySound:
    """A short local feedback sound."""

    sound: Sound


@dataclass(frozen=True, slots=True)
class SetLed:
    """Show a status pattern on the LED."""

    pattern: LedPattern


@dataclass(frozen=True, slots=True)
class SetMic:
    """What the capture engine does with the microphone (see ``MicMode``)."""

    mode: MicMode


WARNING_NOTICES = frozenset({
    "utterance_dropped", "stuck_button", "cost_guard", "server_error", "answer_failed",
    "playback_stalled", "no_answer", "answer_ended", "tool_output_unsent",
})
"""Notices a person would want to hear about: logged as warnings, kept as the last error."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A structured record: ``kind`` plus flat fields, for journald, health and tests.

    Kinds: transition, link, turn_started, utterance_held, utterance_resumed,
    utterance_delivered, utterance_dropped, press_ignored, stuck_button,
    cost_guard, barge_in, truncated, truncate_skipped, answer_started,
    answer_ended, answer_interrupted, answer_failed, answer_cut, no_answer,
    response_ignored, late_audio_dropped, benign_error, server_error,
    handsfree_started, handsfree_ended, wake_word, speech, muted, unmuted,
    playback_stalled, say_refused, tool_call, tool_skipped, tool_output_sent,
    tool_output_unsent, ringing, ring_stopped, conversation_ending. Never holds
    audio or secrets.
    """

    kind: str
    fields: dict[str, FieldValue] = field(default_factory=dict)


Action = (
    SendClear | SendAppend | SendCommit | SendText | SendToolOutput | SendResponseCreate
    | SendResponseCancel | SendTruncate | SetHandsFree | RunTool | Ring | ConfirmTool | PlayAnswer
    | EndAnswer | FlushPlayback | PlaySound | SetLed | SetMic | Notice
)

SEND_ACTIONS: tuple[type[Action], ...] = (
    SendClear, SendAppend, SendCommit, SendText, SendToolOutput, SendResponseCreate,
    SendResponseCancel, SendTruncate,
)
"""Actions that become client events on the wire (never emitted while the link is down)."""
