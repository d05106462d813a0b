"""What the conversation machine hears: buttons, the link, the server, the speaker, time.

The daemon builds these from gpiozero callbacks, the realtime codec's server
events and the audio engine's reports. They are the machine's own vocabulary so
that the core depends on no transport: the daemon translates at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edged import pcm

PCM_RATE = pcm.RATE
PCM_BYTES_PER_MS = pcm.BYTES_PER_MS
pcm_ms = pcm.ms


def audio_repr(obj: object) -> str:
    """A repr that shows audio as its length: logs and test reports never dump PCM."""
    parts = []
    for name in obj.__slots__:  # type: ignore[attr-defined]
        value = getattr(obj, name)
        shown = f"<{len(value)} bytes>" if isinstance(value, bytes) else repr(value)
        parts.append(f"{name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


# --------------------------------------------------------------------------- buttons


@dataclass(frozen=True, slots=True)
class PttDown:
    """The push-to-talk button went down (debounced).

    The audio from just before the press (pre-roll) arrives as the first
    ``MicAudio`` once the microphone streams: the engine keeps that ring.
    """


@dataclass(frozen=True, slots=True)
class PttUp:
    """The push-to-talk button was released."""


@dataclass(frozen=True, slots=True)
class WakePress:
    """A short press of the wake button ended; ``held_ms`` is how long it was held.

    Sent on release, because a press that lasts ``controls.mute_hold_s`` is a
    mute gesture instead (``WakeHold``).
    """

    held_ms: int


@dataclass(frozen=True, slots=True)
class WakeHold:
    """The wake button has been held for ``controls.mute_hold_s``: toggle mute."""


@dataclass(frozen=True, slots=True)
class WakeWord:
    """The wake word was heard on the device.

    Not a wake press: a press during a conversation ends it, while the wake word
    said over an answer interrupts the answer and keeps listening.
    """

    model: str = ""
    probability: float = 0.0


# --------------------------------------------------------------------------- local control


@dataclass(frozen=True, slots=True)
class Cancel:
    """Stop whatever is happening (a local control command)."""


@dataclass(frozen=True, slots=True)
class Say:
    """Ask the assistant with a typed prompt instead of speech (local control)."""

    text: str


# --------------------------------------------------------------------------- link


@dataclass(frozen=True, slots=True)
class LinkUp:
    """A realtime session is open and configured (after every reconnect too)."""


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The realtime session is gone; whatever the server held is lost."""

    reason: str = ""


# --------------------------------------------------------------------------- microphone


@dataclass(frozen=True, slots=True, repr=False)
class MicAudio:
    """Live microphone audio (24 kHz mono PCM16): one frame or an uplink batch.

    The daemon sends these only while the machine asked for ``SetMic("stream")`` (or "live"),
    starting with the first frame captured after the pre-roll it passed.
    ``captured_at``: when its last sample was captured (monotonic s), for the
    uplink meter; the machine passes it on with the audio it sends live.
    """

    pcm: bytes
    captured_at: float | None = None

    __repr__ = audio_repr

    @property
    def ms(self) -> float:
        return pcm_ms(len(self.pcm))


# --------------------------------------------------------------------------- server


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Server turn detection heard the person start speaking (hands-free only)."""


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """Server turn detection heard the person stop speaking."""


@dataclass(frozen=True, slots=True)
class Committed:
    """The server committed the input audio buffer as a user turn."""


@dataclass(frozen=True, slots=True)
class ResponseStarted:
    """``response.created``."""

    response_id: str


@dataclass(frozen=True, slots=True, repr=False)
class AnswerAudio:
    """A decoded answer audio delta (24 kHz mono PCM16)."""

    response_id: str
    item_id: str
    pcm: bytes

    __repr__ = audio_repr


@dataclass(frozen=True, slots=True)
class AnswerAudioDone:
    """No more audio will come for this item."""

    response_id: str
    item_id: str


@dataclass(frozen=True, slots=True)
class ResponseDone:
    """``response.done``: ``status`` is completed, cancelled, failed or incomplete."""

    response_id: str
    status: str = "completed"
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ServerError:
    """An ``error`` event; most leave the session usable. ``event_id`` is the client
    event it refuses, when the server says."""

    code: str | None
    message: str = ""
    event_id: str | None = None


# --------------------------------------------------------------------------- tools, alarms


@dataclass(frozen=True, slots=True)
class ToolCalled:
    """The model finished writing a function call (``response.output_item.done``).

    ``status`` is the item's: only a ``completed`` call runs, because the same
    event also comes for calls cut short by a cancel or a limit.
    """

    response_id: str
    item_id: str
    call_id: str
    name: str
    arguments: str
    status: str = "completed"


@dataclass(frozen=True, slots=True)
class ToolFinished:
    """A tool the machine asked for has run; ``output`` is what the model is told (a
    failure is an output too, ``ok`` False)."""

    call_id: str
    output: str
    ok: bool = True


@dataclass(frozen=True, slots=True)
class AlarmDue:
    """Timers or alarms fell due: ring. ``labels`` name them for the journal."""

    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StopRinging:
    """The stop_ringing tool: stop a ringing alarm, and nothing else."""


@dataclass(frozen=True, slots=True)
class RemoteToolCalled:
    """A tool the API runs itself on an MCP server, within the answer (``mcp_call``
    done), or a request to approve one (``pending``: approved, its call comes later; a
    refused one is settled at once). It is a tool round: the model speaks afterwards,
    in this response or, when it ended, in the one the machine asks for."""

    response_id: str
    item_id: str
    name: str
    pending: bool = False
    approval_id: str | None = None  # for a call: the approval request it carries out
    ok: bool = True


@dataclass(frozen=True, slots=True)
class ConfirmWanted:
    """A tool with ``confirm: button`` waits for a press within ``timeout_s`` (the LED
    and the confirm sound ask for it); the machine answers with ``ConfirmTool``."""

    tool: str
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Stop:
    """``edged ctl stop``: stop a ringing alarm if one rings, else like ``Cancel``."""


@dataclass(frozen=True, slots=True)
class EndConversation:
    """The model asked to end the hands-free conversation once its answer is heard."""


# --------------------------------------------------------------------------- speaker


@dataclass(frozen=True, slots=True)
class PlaybackIdle:
    """The speaker played everything it was given and every item was ended."""


@dataclass(frozen=True, slots=True)
class PlaybackFlushed:
    """Answer playback was flushed; ``played`` maps item id → milliseconds really heard.

    Covers every item the player was given since the previous flush; an item it
    does not name counts as 0 ms heard.
    """

    played: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- time


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed. Send one at ``Conversation.next_deadline()`` (or periodically)."""


Event = (
    PttDown | PttUp | WakePress | WakeHold | WakeWord | Cancel | Say | LinkUp | LinkDown | MicAudio
    | SpeechStarted | SpeechStopped | Committed | ResponseStarted | AnswerAudio
    | AnswerAudioDone | ResponseDone | ServerError | ToolCalled | ToolFinished
    | RemoteToolCalled | ConfirmWanted
    | AlarmDue
    | StopRinging | Stop | EndConversation | PlaybackIdle | PlaybackFlushed | Tick
)

EVENT_TYPES: tuple[type[Event], ...] = (
    PttDown, PttUp, WakePress, WakeHold, WakeWord, Cancel, Say, LinkUp, LinkDown, MicAudio,
    SpeechStarted, SpeechStopped, Committed, ResponseStarted, AnswerAudio, AnswerAudioDone,
    ResponseDone, ServerError, ToolCalled, ToolFinished, RemoteToolCalled, ConfirmWanted,
    AlarmDue, StopRinging, Stop,
    EndConversation, PlaybackIdle, PlaybackFlushed, Tick,
)
