"""The conversation machine's state: plain data, so tests can read and build it.

The machine (``machine.py``) is the only writer; the daemon reads ``phase``,
``mic`` and ``link_up`` from here instead of keeping shadows of its own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from edged.conversation.actions import LedPattern, MicMode
from edged.conversation.bucket import TokenBucket
from edged.conversation.events import pcm_ms
from edged.conversation.responses import Responses


class Phase(StrEnum):
    IDLE = "idle"
    LISTENING = "listening"  # push-to-talk held: the utterance is recorded
    HANDSFREE = "handsfree"  # wake conversation: mic streamed, server turn detection
    THINKING = "thinking"  # the turn is over; waiting for the answer (or for the link)
    TOOLS = "tools"  # the answer called tools: running them, then asking for the rest
    SPEAKING = "speaking"  # answer audio is playing
    MUTED = "muted"  # microphone closed until the next long hold


@dataclass(slots=True)
class Utterance:
    """A push-to-talk or typed turn, kept until its answer is heard.

    The audio is kept even after it was sent: a link drop before the answer
    starts loses the server's copy, and the turn is then sent again.
    """

    turn: int
    started: float
    text: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    nbytes: int = 0
    on_server: bool = False  # every chunk so far was appended on the current session
    released: float | None = None  # when the turn ended (release, stuck guard, typed)
    sent: bool = False  # committed and answer requested on the current session
    held: bool = False  # waited for the link at some point
    answered: bool = False  # its answer started

    @property
    def ms(self) -> float:
        return pcm_ms(self.nbytes)


@dataclass(slots=True)
class Answer:
    """The response being listened to."""

    response_id: str
    turn: int | None
    epoch: int  # the session it came on: a truncate only means something there
    items: dict[str, int] = field(default_factory=dict)  # item id → bytes received
    ended: set[str] = field(default_factory=set)  # items told EndAnswer
    done: bool = False  # the server finished it (or the link dropped it)

    @property
    def received_ms(self) -> float:
        return pcm_ms(sum(self.items.values()))


@dataclass(slots=True)
class Unheard:
    """An item flushed by a barge-in, waiting for the player's report."""

    nbytes: int
    epoch: int
    active: bool  # the response was still running when flushed



@dataclass(slots=True)
class Call:
    """A tool call being run, or run and waiting to be told to the model."""

    call_id: str
    name: str
    epoch: int  # the session its call_id belongs to: the output is sent only there
    output: str | None = None
    ok: bool = True
    remote: bool = False  # run by the API (MCP): nothing to send back


@dataclass(slots=True)
class ToolRound:
    """The calls one response made: their outputs, then one request for the rest of
    the answer. A barge-in or a link drop detaches the round (``State.round`` None);
    its calls still finish, and their outputs are still told where they can be."""

    response_id: str
    turn: int | None
    number: int  # rounds so far in this turn (a model that keeps calling is stopped)
    calls: list[str] = field(default_factory=list)
    response_done: bool = False
    followed_up: bool = False  # outputs sent and the rest of the answer asked for
    refused: str | None = None  # why the calls were answered without running them


@dataclass(slots=True)
class Ringing:
    """An alarm sounding: until a press, a stop, or ``until``."""

    since: float
    until: float
    labels: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Confirming:
    """A ``confirm: button`` tool waiting for a press until ``until``."""

    tool: str
    until: float


def _recent() -> deque[str]:
    return deque(maxlen=32)


@dataclass(slots=True)
class State:
    """Everything the machine knows; plain data."""

    phase: Phase = Phase.IDLE
    link_up: bool = False
    epoch: int = 0  # sessions opened so far: truncates only apply to their own
    handsfree: bool = False  # a wake conversation is on
    by_voice: bool = False  # the wake word started it: the mic opens without pre-roll
    user_speaking: bool = False  # server turn detection: speech in progress
    speech_since: float = 0.0
    quiet_since: float = 0.0
    ptt_held: bool = False
    turns: int = 0
    utterance: Utterance | None = None
    answer: Answer | None = None
    wait_until: float | None = None  # THINKING: answer or link deadline; SPEAKING: stall
    error_after_playback: bool = False
    responses: Responses = field(default_factory=Responses)
    cancelled: deque[str] = field(default_factory=_recent)
    late_noticed: deque[str] = field(default_factory=_recent)
    unheard: dict[str, Unheard] = field(default_factory=dict)
    error_led_until: float | None = None
    led: LedPattern | None = None
    mic: MicMode | None = None
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(10))
    calls: dict[str, Call] = field(default_factory=dict)
    called: deque[str] = field(default_factory=_recent)  # call ids seen: none runs twice
    round: ToolRound | None = None
    tool_rounds: int = 0  # rounds in the current turn
    ringing: Ringing | None = None
    confirming: Confirming | None = None  # a tool waits for a press
    end_after_answer: bool = False  # the model ended the hands-free conversation
    drop_server_turn: bool = False  # an alarm cut a hands-free turn the server answers

    @property
    def wanted_responses(self) -> int:
        """Responses this side still wants: an unfinished answer plus requests not abandoned."""
        running = 1 if self.answer is not None and not self.answer.done else 0
        return running + self.responses.wanted
