"""The conversation state machine: events in, actions out, time passed in.

One ``Conversation`` owns the whole dialogue policy of the speaker: when to
clear, append and commit audio, when to ask for an answer, when an answer is
interrupted and how much of it was heard, what to do while the link is down,
and when to refuse. It does no I/O, starts no threads and reads no clock: the
daemon calls ``handle(event, now)`` on its event loop and carries out the
returned actions in order. Its state is plain data (``Conversation.state``), so
tests drive it with plain values.

Turns are numbered: every push-to-talk or typed turn gets a ``turn_started``
notice and, in the end, at least one outcome notice (``answer_started``,
``utterance_dropped``, ``press_ignored``, ``cost_guard``, ``no_answer`` or
``answer_failed``). Whatever is lost without the person asking for it comes
with the error sound: nothing is dropped silently.

An answer may call tools: the machine asks the daemon to run each completed call
(``RunTool``), tells the model every output on the session the call came from,
and asks once for the rest of the answer (a tool round, phase ``tools``). What a
tool did is never undone by a barge-in or a link drop. A due alarm rings over
whatever phase the machine is in until a press, a stop or ``max_ring_s``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from edged.conversation.actions import (
    STREAMING,
    Action,
    ConfirmTool,
    EndAnswer,
    FieldValue,
    FlushPlayback,
    LedPattern,
    MicMode,
    Notice,
    PlayAnswer,
    PlaySound,
    Ring,
    RunTool,
    SendAppend,
    SendClear,
    SendCommit,
    SendResponseCancel,
    SendResponseCreate,
    SendText,
    SendToolOutput,
    SendTruncate,
    SetHandsFree,
    SetLed,
    SetMic,
    Sound,
)
from edged.conversation.bucket import TokenBucket
from edged.conversation.events import (
    PCM_BYTES_PER_MS,
    AlarmDue,
    AnswerAudio,
    AnswerAudioDone,
    Cancel,
    Committed,
    ConfirmWanted,
    EndConversation,
    Event,
    LinkDown,
    LinkUp,
    MicAudio,
    PlaybackFlushed,
    PlaybackIdle,
    PttDown,
    PttUp,
    RemoteToolCalled,
    ResponseDone,
    ResponseStarted,
    Say,
    ServerError,
    SpeechStarted,
    SpeechStopped,
    Stop,
    StopRinging,
    Tick,
    ToolCalled,
    ToolFinished,
    WakeHold,
    WakePress,
    WakeWord,
)
from edged.conversation.settings import Settings
from edged.conversation.state import (
    Answer,
    Call,
    Confirming,
    Phase,
    Ringing,
    State,
    ToolRound,
    Unheard,
    Utterance,
)

MAX_APPEND_BYTES = 5_000 * PCM_BYTES_PER_MS
"""Held audio is re-sent in pieces of at most 5 s (well under the 15 MiB event limit)."""
BENIGN_ERRORS = frozenset({
    "response_cancel_not_active",
    "conversation_already_has_active_response",
    "input_audio_buffer_commit_empty",
})
"""Server errors that races produce and that leave the session fine: noticed, no sound."""
SESSION_ENDING_ERRORS = frozenset({"session_expired"})
MAX_TOOL_ROUNDS = 5
"""Tool rounds one question may take; a model that keeps calling is stopped there."""
TOOL_GRACE_S = 5.0
"""Beyond tools.timeout_s, how long the machine waits for a tool's output (the daemon
answers a slow tool with an error at the timeout; this only guards against a bug)."""
"""Errors that announce the session's end: a turn waiting for its answer is held and
asked again on the next session (the link reconnects at once), not failed."""

_PHASE_LED: dict[Phase, LedPattern] = {
    Phase.IDLE: "idle",
    Phase.LISTENING: "listening",
    Phase.HANDSFREE: "listening",
    Phase.THINKING: "thinking",
    Phase.TOOLS: "tools",
    Phase.SPEAKING: "speaking",
    Phase.MUTED: "muted",
}


def _error_output(sentence: str) -> str:
    return json.dumps({"error": sentence})


def _pieces(chunks: list[bytes]) -> Iterator[bytes]:
    data = b"".join(chunks)
    for i in range(0, len(data), MAX_APPEND_BYTES):
        yield data[i : i + MAX_APPEND_BYTES]


class Conversation:
    """The machine. ``handle(event, now) -> actions``; ``now`` is monotonic seconds."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings or Settings()
        self.state = State(bucket=TokenBucket(self._settings.responses_per_minute))
        self._now = 0.0
        self._out: list[Action] = []
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            PttDown: self._ptt_down,
            PttUp: self._ptt_up,
            WakePress: self._wake_press,
            WakeHold: self._wake_hold,
            WakeWord: self._wake_word,
            Cancel: self._cancel,
            Say: self._say,
            LinkUp: self._link_up,
            LinkDown: self._link_down,
            MicAudio: self._mic_audio,
            SpeechStarted: self._speech_started,
            SpeechStopped: self._speech_stopped,
            Committed: self._committed,
            ResponseStarted: self._response_started,
            AnswerAudio: self._answer_audio,
            AnswerAudioDone: self._answer_audio_done,
            ResponseDone: self._response_done,
            ServerError: self._server_error,
            ToolCalled: self._tool_called,
            ToolFinished: self._tool_finished,
            AlarmDue: self._alarm_due,
            ConfirmWanted: self._confirm_wanted,
            RemoteToolCalled: self._remote_tool_called,
            StopRinging: self._stop_ringing_event,
            Stop: self._stop,
            EndConversation: self._end_conversation,
            PlaybackIdle: self._playback_idle,
            PlaybackFlushed: self._playback_flushed,
            Tick: self._tick,
        }

    # ------------------------------------------------------------------ public

    @property
    def phase(self) -> Phase:
        return self.state.phase

    @property
    def idle(self) -> bool:
        """Nobody talking and nothing pending: a session may be renewed now."""
        return self.state.phase in (Phase.IDLE, Phase.MUTED)

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        """A reload: the new numbers apply from the next event; spent answers stay spent."""
        self._settings = value
        bucket = self.state.bucket
        spent = bucket.capacity - bucket.tokens
        bucket.capacity = float(value.responses_per_minute)
        bucket.tokens = max(0.0, bucket.capacity - spent)

    def start(self, now: float) -> list[Action]:
        """The actions that put the LED and microphone in their initial state."""
        return self._run(None, now)

    def handle(self, event: Event, now: float) -> list[Action]:
        """Feed one event; return what to do, in order."""
        if type(event) not in self._handlers:
            raise TypeError(f"not a conversation event: {event!r}")
        return self._run(event, now)

    def next_deadline(self) -> float | None:
        """When a ``Tick`` next matters (None: not until another event arrives)."""
        s = self.state
        times: list[float] = []
        if s.error_led_until is not None:
            times.append(s.error_led_until)
        if s.ringing is not None:
            times.append(s.ringing.until)
        if s.confirming is not None:
            times.append(s.confirming.until)
        if s.phase is Phase.LISTENING and s.utterance is not None:
            times.append(s.utterance.started + self.settings.max_utterance_s)
        if s.phase is Phase.HANDSFREE:
            times.append(s.speech_since + self.settings.max_utterance_s if s.user_speaking
                         else s.quiet_since + self.settings.follow_up_s)
        if s.wait_until is not None:
            times.append(s.wait_until)
        return min(times) if times else None

    # ------------------------------------------------------------------ plumbing

    def _run(self, event: Event | None, now: float) -> list[Action]:
        self._now = now
        out: list[Action] = []
        self._out = out
        if event is not None:
            self._handlers[type(event)](event)
        self._sync_outputs()
        self._out = []
        return out

    def _emit(self, action: Action) -> None:
        self._out.append(action)

    def _send(self, action: Action) -> bool:
        """Emit a client event, only while there is a session to send it on."""
        if self.state.link_up:
            self._out.append(action)
            return True
        return False

    def _notice(self, kind: str, **fields: FieldValue) -> None:
        self._out.append(Notice(kind, dict(fields)))

    def _sound(self, sound: Sound) -> None:
        self._out.append(PlaySound(sound))

    def _beep_error(self) -> None:
        self._sound("error")
        self.state.error_led_until = self._now + self.settings.error_led_s

    def _error(self, kind: str, **fields: FieldValue) -> None:
        """The error sound, the error LED, and the notice that says why."""
        self._beep_error()
        self._notice(kind, **fields)

    def _goto(self, phase: Phase, cause: str) -> None:
        s = self.state
        if phase is s.phase:
            return
        self._notice("transition", **{"from": s.phase.value, "to": phase.value, "cause": cause})
        s.phase = phase
        if phase not in (Phase.THINKING, Phase.TOOLS, Phase.SPEAKING):
            s.wait_until = None

    def _rest(self) -> Phase:
        return Phase.HANDSFREE if self.state.handsfree else Phase.IDLE

    def _sync_outputs(self) -> None:
        s = self.state
        led = self._led_for()
        if led != s.led:
            s.led = led
            self._emit(SetLed(led))
        mic = self._mic_for()
        if mic != s.mic:
            s.mic = mic
            self._emit(SetMic(mic))

    def _led_for(self) -> LedPattern:
        s = self.state
        if s.ringing is not None:
            return "ringing"
        if s.confirming is not None:
            return "confirm"
        if s.phase is Phase.IDLE:
            flashing = s.error_led_until is not None and self._now < s.error_led_until
            return "error" if flashing or not s.link_up else "idle"
        return _PHASE_LED[s.phase]

    def _mic_for(self) -> MicMode:
        s = self.state
        if s.phase is Phase.MUTED:
            return "closed"
        if s.phase is Phase.LISTENING:
            return "stream"
        streaming = s.handsfree and (
            s.phase in (Phase.HANDSFREE, Phase.THINKING, Phase.TOOLS)
            or (s.phase is Phase.SPEAKING and not self.settings.half_duplex))
        if streaming:
            return "live" if s.by_voice else "stream"
        return "preroll"

    # ------------------------------------------------------------------ shared moves

    def _barge_in(self, by: str, *, server_cancels: bool) -> None:
        """Stop the answer being played or awaited; truncation follows PlaybackFlushed."""
        s = self.state
        a = s.answer
        r = s.round
        if a is None and r is not None and not r.followed_up:  # only tools are running
            self._notice("barge_in", by=by, response_id=r.response_id, turn=r.turn,
                         cancel_sent=False)
        if a is not None:
            if a.items:
                self._emit(FlushPlayback())
                for item, nbytes in a.items.items():
                    s.unheard[item] = Unheard(nbytes, a.epoch, active=not a.done)
            cancel_sent = False
            if not a.done:
                s.cancelled.append(a.response_id)
                if not server_cancels:
                    cancel_sent = self._send(SendResponseCancel())
            s.answer = None
            s.error_after_playback = False
            self._notice("barge_in", by=by, response_id=a.response_id, turn=a.turn,
                         cancel_sent=cancel_sent)
        elif s.responses.abandon():
            cancel_sent = False if server_cancels else self._send(SendResponseCancel())
            self._notice("barge_in", by=by, response_id=None, turn=None, cancel_sent=cancel_sent)
        s.responses.queued = False
        if s.round is not None:  # what ran stays done; the model is still told
            s.round = None
            self._tell_detached()

    def _abandon_requests(self) -> None:
        """No longer wait for responses asked for but not started (the server may be
        making one already: cancel it)."""
        if self.state.responses.abandon():
            self._send(SendResponseCancel())

    def _supersede(self, why: str) -> None:
        """A new turn replaces one still waiting for its answer."""
        s = self.state
        u = s.utterance
        if u is None:
            return
        if not u.answered:
            self._notice("utterance_dropped", turn=u.turn, reason=f"superseded by {why}",
                         ms=round(u.ms))
        s.utterance = None
        s.wait_until = None

    def _end_handsfree(self, reason: str, sound: Sound | None, *, clear: bool = True) -> None:
        s = self.state
        s.handsfree = False
        s.by_voice = False
        s.user_speaking = False
        s.end_after_answer = False
        self._emit(SetHandsFree(False))
        if clear:
            self._send(SendClear())
        if sound is not None:
            self._sound(sound)
        self._notice("handsfree_ended", reason=reason)

    def _record(self, pcm: bytes, captured_at: float | None = None) -> None:
        s = self.state
        u = s.utterance
        if u is None or not pcm:
            return
        u.chunks.append(pcm)
        u.nbytes += len(pcm)
        if u.on_server:
            self._send(SendAppend(pcm, captured_at))
        else:
            self._check_hold_bound()

    def _check_hold_bound(self) -> None:
        s = self.state
        u = s.utterance
        bound = self.settings.hold_offline_s
        if u is None or u.on_server or u.ms <= bound * 1000:
            return
        s.utterance = None
        self._error("utterance_dropped", turn=u.turn, ms=round(u.ms),
                    reason=f"more than conversation.hold_offline_s ({bound:g} s) of speech "
                    "while the link is down")
        self._goto(self._rest(), "hold_bound")

    def _finish(self, u: Utterance, cause: str) -> None:
        """End a push-to-talk turn: discard, refuse, send, or hold it for the link."""
        s = self.state
        u.released = self._now
        if u.ms < self.settings.min_utterance_ms:
            self._send(SendClear())
            s.utterance = None
            self._error("utterance_dropped", turn=u.turn, ms=round(u.ms),
                        reason="shorter than conversation.min_utterance_ms "
                        f"({self.settings.min_utterance_ms} ms)")
            self._goto(self._rest(), cause)
            return
        if not s.bucket.take(self._now):
            self._send(SendClear())
            s.utterance = None
            self._refuse_cost(turn=u.turn)
            self._goto(self._rest(), cause)
            return
        self._sound("done")
        if s.link_up:
            self._deliver(u)
        else:
            self._hold(u, "link down; waiting for it to return")
        self._goto(Phase.THINKING, cause)

    def _refuse_cost(self, turn: int | None) -> None:
        s = self.state
        self._error("cost_guard", turn=turn, limit=self.settings.responses_per_minute,
                    retry_in_s=round(s.bucket.wait_s(self._now), 1),
                    reason="more than conversation.responses_per_minute answers")

    def _hold(self, u: Utterance, reason: str) -> None:
        s = self.state
        u.held = True
        u.sent = False
        u.on_server = False
        s.wait_until = self._now + self.settings.hold_offline_s
        self._notice("utterance_held", turn=u.turn, ms=round(u.ms), reason=reason)

    def _deliver(self, u: Utterance) -> None:
        """Send a finished turn on the current session and ask for its answer."""
        s = self.state
        if u.text is not None:
            self._send(SendText(u.text))
        else:
            if not u.on_server:
                self._send(SendClear())
                for piece in _pieces(u.chunks):
                    self._send(SendAppend(piece))
                u.on_server = True
            self._send(SendCommit())
        u.sent = True
        self._notice("utterance_delivered", turn=u.turn, ms=round(u.ms), held=u.held)
        event_id = s.responses.ask()  # now, or once the server has finished what it runs
        if event_id is not None:
            self._send(SendResponseCreate(event_id))
        s.wait_until = self._now + self.settings.answer_timeout_s

    def _flush_pending_create(self) -> None:
        s = self.state
        event_id = s.responses.flush() if s.link_up else None
        if event_id is not None:
            self._send(SendResponseCreate(event_id))

    def _accept(self, response_id: str) -> None:
        s = self.state
        u = s.utterance
        turn = self._waiting_turn_number()
        s.answer = Answer(response_id, turn, s.epoch)
        if u is not None:
            u.answered = True
        s.wait_until = self._now + self.settings.answer_timeout_s
        self._notice("answer_started", response_id=response_id, turn=turn,
                     follow_up=s.round is not None)
        self._goto(Phase.THINKING, "response_started")

    def _ignore_response(self, response_id: str, reason: str, *, cancel: bool) -> None:
        s = self.state
        s.cancelled.append(response_id)
        sent = self._send(SendResponseCancel()) if cancel else False
        self._notice("response_ignored", response_id=response_id, reason=reason,
                     cancel_sent=sent)

    def _end_items(self, a: Answer) -> None:
        for item in a.items:
            if item not in a.ended:
                a.ended.add(item)
                self._emit(EndAnswer(item))

    def _playing_out(self, a: Answer) -> None:
        """The answer is complete (or cut): allow the speaker its length plus slack."""
        self.state.wait_until = (self._now + a.received_ms / 1000
                                 + self.settings.playback_grace_s)

    def _after_answer(self, cause: str) -> None:
        s = self.state
        s.answer = None
        s.utterance = None
        if s.error_after_playback:
            s.error_after_playback = False
            self._beep_error()
        r = s.round
        if r is not None and not r.followed_up:  # it spoke, then called: ask for the rest
            self._goto(Phase.TOOLS, cause)
            s.wait_until = self._now + self._tool_wait_s()  # not the playing-out deadline
            self._follow_up()
            return
        s.round = None
        if s.handsfree:
            s.quiet_since = self._now
            s.user_speaking = False
            if s.end_after_answer:
                self._end_handsfree("the assistant ended the conversation", "done")
        self._goto(self._rest(), cause)

    # ------------------------------------------------------------------ buttons

    def _ptt_down(self, ev: PttDown) -> None:
        s = self.state
        s.ptt_held = True
        # a press a tool waits for, or one while ringing, does that and nothing else
        if self._confirm("ptt") or self._ring_off("ptt"):
            return
        if s.phase is Phase.MUTED:
            self._notice("press_ignored", button="ptt", turn=None, reason="muted")
            return
        if s.phase is Phase.LISTENING:
            self._notice("press_ignored", button="ptt", turn=None, reason="already listening")
            return
        self._barge_in("ptt", server_cancels=False)
        self._supersede("a new push-to-talk press")
        if s.handsfree:
            self._end_handsfree("push-to-talk pressed", None, clear=False)
        s.turns += 1
        s.tool_rounds = 0
        u = Utterance(turn=s.turns, started=self._now)
        s.utterance = u
        if self._send(SendClear()):
            u.on_server = True
        # The engine prepends its ring when the mic opens; one already streaming has none.
        preroll = self.settings.preroll_ms if s.mic not in STREAMING else 0
        self._notice("turn_started", turn=u.turn, mode="ptt", preroll_ms=preroll,
                     link_up=s.link_up)
        self._sound("listening")
        self._goto(Phase.LISTENING, "ptt_down")
        if not s.link_up:
            u.held = True
            self._notice("utterance_held", turn=u.turn, ms=0, reason="link down")

    def _ptt_up(self, ev: PttUp) -> None:
        s = self.state
        s.ptt_held = False
        u = s.utterance
        if s.phase is not Phase.LISTENING or u is None:
            return  # the turn already ended (stuck guard, hold bound, mute): noticed then
        held_ms = round((self._now - u.started) * 1000, 3)  # float noise must not flip it
        if held_ms < self.settings.min_press_ms:
            s.utterance = None
            self._send(SendClear())
            self._notice("press_ignored", button="ptt", turn=u.turn, held_ms=round(held_ms),
                         reason="a tap shorter than controls.min_press_ms "
                         f"({self.settings.min_press_ms} ms)")
            self._goto(self._rest(), "tap")
            return
        self._finish(u, "ptt_up")

    def _wake_press(self, ev: WakePress) -> None:
        s = self.state
        if self._confirm("wake") or self._ring_off("wake") or self._wake_ignored(ev):
            return
        if s.handsfree:
            self._barge_in("wake", server_cancels=False)
            self._supersede("the wake button")
            self._end_handsfree("wake button pressed", "done")
            self._goto(Phase.IDLE, "wake_press")
            return
        why_not = self._handsfree_impossible()
        if why_not:
            self._error("press_ignored", button="wake", turn=None, reason=why_not)
            return
        self._start_handsfree("wake", "the wake button", "wake_press")

    def _handsfree_impossible(self) -> str | None:
        if not self.settings.handsfree:
            return "hands-free needs server turn detection (realtime.turn_detection.type is none)"
        if not self.state.link_up:
            return "the link is down; a hands-free conversation needs it"
        return None

    def _start_handsfree(self, by: str, who: str, cause: str) -> None:
        s = self.state
        self._barge_in(by, server_cancels=False)
        self._supersede(who)
        s.handsfree = True
        s.by_voice = by == "wake_word"
        s.user_speaking = False
        s.quiet_since = self._now
        self._send(SendClear())
        self._emit(SetHandsFree(True))
        self._sound("listening")
        self._notice("handsfree_started", follow_up_s=self.settings.follow_up_s, by=by)
        self._goto(Phase.HANDSFREE, cause)

    # ------------------------------------------------------------------ confirmation

    def _confirm_wanted(self, ev: ConfirmWanted) -> None:
        """Ask for a press (LED, sound); the next press answers it and does nothing else."""
        s = self.state
        if s.confirming is not None:  # one at a time: the older one is refused
            self._refuse_confirmation("another tool asked")
        if s.phase is Phase.MUTED:  # muted means nothing happens, a tool's wish included
            self._emit(ConfirmTool(ev.tool, False))
            self._notice("confirm_refused", tool=ev.tool, reason="muted")
            return
        s.confirming = Confirming(ev.tool, self._now + ev.timeout_s)
        self._sound("confirm")
        self._notice("confirm_wanted", tool=ev.tool, timeout_s=ev.timeout_s)

    def _confirm(self, by: str) -> bool:
        """A press while a tool waits for one confirms it: True, the press is spent."""
        c = self.state.confirming
        if c is None:
            return False
        self.state.confirming = None
        self._emit(ConfirmTool(c.tool, True))
        self._notice("confirmed", tool=c.tool, by=by)
        return True

    def _refuse_confirmation(self, reason: str) -> None:
        c = self.state.confirming
        if c is None:
            return
        self.state.confirming = None
        self._emit(ConfirmTool(c.tool, False))
        self._notice("confirm_refused", tool=c.tool, reason=reason)

    def _wake_word(self, ev: WakeWord) -> None:
        """Start a hands-free conversation, or interrupt the answer of one and listen on."""
        s = self.state
        heard: dict[str, FieldValue] = {"model": ev.model, "probability": ev.probability}
        if self._ring_off("wake_word"):
            self._notice("wake_word", **heard, outcome="stopped the ringing")
            return
        if s.phase is Phase.MUTED:  # the microphone is closed: only a race gets here
            self._notice("wake_word", **heard, outcome="ignored: muted")
            return
        if s.phase is Phase.LISTENING:
            self._notice("wake_word", **heard, outcome="ignored: push-to-talk in progress")
            return
        why_not = self._handsfree_impossible()
        if why_not:
            self._notice("wake_word", **heard, outcome=f"ignored: {why_not}")
            self._beep_error()
            return
        if s.handsfree:
            interrupted = s.answer is not None or s.phase in (Phase.THINKING, Phase.TOOLS)
            self._barge_in("wake_word", server_cancels=False)
            self._supersede("the wake word")
            s.user_speaking = False
            s.quiet_since = self._now
            self._sound("listening")
            self._notice("wake_word", **heard, outcome="interrupted the answer"
                         if interrupted else "kept listening")
            self._goto(Phase.HANDSFREE, "wake_word")
            return
        self._notice("wake_word", **heard, outcome="started a hands-free conversation")
        self._start_handsfree("wake_word", "the wake word", "wake_word")

    def _wake_ignored(self, ev: WakePress) -> bool:
        """A tap, or a press that cannot start or end a conversation now: noticed."""
        s = self.state
        if ev.held_ms < self.settings.min_press_ms:
            reason = f"a tap shorter than controls.min_press_ms ({self.settings.min_press_ms} ms)"
        elif s.phase is Phase.MUTED:
            reason = "muted (hold the wake button to unmute)"
        elif s.phase is Phase.LISTENING:
            reason = "push-to-talk in progress"
        else:
            return False
        held = {"held_ms": ev.held_ms} if ev.held_ms < self.settings.min_press_ms else {}
        self._notice("press_ignored", button="wake", turn=None, **held, reason=reason)
        return True

    def _wake_hold(self, ev: WakeHold) -> None:
        s = self.state
        self._refuse_confirmation("muted")
        if self._ring_off("wake"):
            return
        if s.phase is Phase.MUTED:
            self._sound("listening")
            self._notice("unmuted")
            self._goto(Phase.IDLE, "wake_hold")
            return
        self._barge_in("mute", server_cancels=False)
        u = s.utterance
        if u is not None:
            if s.phase is Phase.LISTENING:
                self._send(SendClear())
            if not u.answered:
                self._notice("utterance_dropped", turn=u.turn, ms=round(u.ms), reason="muted")
            s.utterance = None
        self._abandon_requests()
        if s.handsfree:
            self._end_handsfree("muted", None)
        self._sound("done")
        self._notice("muted")
        self._goto(Phase.MUTED, "wake_hold")

    # ------------------------------------------------------------------ local control

    def _cancel(self, ev: Cancel) -> None:
        s = self.state
        self._refuse_confirmation("cancelled")
        if self._ring_off("cancel"):
            return
        if s.phase is Phase.MUTED:
            return
        busy = s.phase is not Phase.IDLE
        self._barge_in("cancel", server_cancels=False)
        u = s.utterance
        if u is not None:
            if s.phase is Phase.LISTENING:
                self._send(SendClear())
            if not u.answered:
                self._notice("utterance_dropped", turn=u.turn, ms=round(u.ms),
                             reason="cancelled")
            s.utterance = None
        self._abandon_requests()
        if s.handsfree:
            self._end_handsfree("cancelled", None)
        if busy:
            self._sound("done")
        self._goto(Phase.IDLE, "cancel")

    def _say(self, ev: Say) -> None:
        s = self.state
        text = ev.text.strip()
        if not text:
            self._notice("say_refused", reason="empty text")
            return
        if s.phase is Phase.MUTED:
            self._error("say_refused", reason="muted")
            return
        if s.phase is Phase.LISTENING:
            self._error("say_refused", reason="push-to-talk in progress")
            return
        if not s.bucket.take(self._now):
            self._refuse_cost(turn=None)
            return
        self._barge_in("say", server_cancels=False)
        self._supersede("a typed prompt")
        s.turns += 1
        s.tool_rounds = 0
        u = Utterance(turn=s.turns, started=self._now, text=text, released=self._now)
        s.utterance = u
        self._notice("turn_started", turn=u.turn, mode="say", chars=len(text),
                     link_up=s.link_up)
        if s.link_up:
            self._deliver(u)
        else:
            self._hold(u, "link down; waiting for it to return")
        self._goto(Phase.THINKING, "say")

    # ------------------------------------------------------------------ link

    def _link_up(self, ev: LinkUp) -> None:
        s = self.state
        if s.link_up:
            return
        s.link_up = True
        s.epoch += 1
        s.responses.new_session(s.epoch)
        self._notice("link", up=True)
        self._emit(SetHandsFree(s.handsfree))
        u = s.utterance
        if u is None or u.answered:
            return
        if s.phase is Phase.LISTENING:
            self._send(SendClear())
            for piece in _pieces(u.chunks):
                self._send(SendAppend(piece))
            u.on_server = True
            self._notice("utterance_resumed", turn=u.turn, ms=round(u.ms))
        elif s.phase is Phase.THINKING and not u.sent:
            self._deliver(u)

    def _link_down(self, ev: LinkDown) -> None:
        s = self.state
        if not s.link_up:
            return
        s.link_up = False
        s.responses.new_session(s.epoch)
        self._notice("link", up=False, reason=ev.reason)
        a = s.answer
        u = s.utterance
        if a is not None and not a.done:
            s.cancelled.append(a.response_id)
            if a.items:  # play out what arrived, then say something went wrong
                a.done = True
                self._end_items(a)
                s.error_after_playback = True
                self._playing_out(a)
                self._notice("answer_cut", response_id=a.response_id, turn=a.turn,
                             reason="link down", heard_ms=round(a.received_ms))
            else:  # nothing heard yet: the question is asked again on reconnect
                s.answer = None
                if u is not None:
                    u.answered = False
        tools_ran = s.round is not None
        if tools_ran:  # asking again would run its tools twice: they are done locally
            s.round = None
            self._tell_detached()
            if s.phase in (Phase.THINKING, Phase.TOOLS) and s.answer is None:
                self._goto(self._rest(), "link_down")
        speech_lost = s.handsfree and not tools_ran and (
            s.user_speaking or (s.phase is Phase.THINKING and u is None and s.answer is None))
        if u is not None and not u.answered:
            if s.phase is Phase.LISTENING:
                u.on_server = False
                u.held = True
                self._notice("utterance_held", turn=u.turn, ms=round(u.ms), reason="link down")
            elif s.phase is Phase.THINKING:
                self._hold(u, "link down before the answer; waiting for it to return")
        if s.handsfree:
            self._handsfree_link_down(speech_lost=speech_lost)
        if s.phase is Phase.LISTENING:
            self._check_hold_bound()

    def _handsfree_link_down(self, *, speech_lost: bool) -> None:
        """A wake conversation cannot outlive its session: end it, and say what was lost."""
        s = self.state
        self._end_handsfree("link down", None, clear=False)
        if speech_lost:
            self._error("utterance_dropped", turn=None,
                        reason="the link went down during a hands-free turn")
        elif s.phase is Phase.SPEAKING:
            s.error_after_playback = True
        else:
            self._beep_error()
        if s.phase is Phase.HANDSFREE or (s.phase is Phase.THINKING and s.utterance is None):
            self._goto(Phase.IDLE, "link_down")

    # ------------------------------------------------------------------ microphone

    def _mic_audio(self, ev: MicAudio) -> None:
        s = self.state
        u = s.utterance
        if s.phase is Phase.LISTENING and u is not None and u.released is None:
            self._record(ev.pcm, ev.captured_at)
        elif s.handsfree and self._mic_for() in STREAMING and ev.pcm:
            self._send(SendAppend(ev.pcm, ev.captured_at))

    # ------------------------------------------------------------------ server turn detection

    def _speech_started(self, ev: SpeechStarted) -> None:
        s = self.state
        if not s.handsfree:
            return
        if not s.user_speaking:
            s.user_speaking = True
            s.speech_since = self._now
        s.drop_server_turn = False  # a new question: its answer is wanted
        if s.phase in (Phase.THINKING, Phase.TOOLS, Phase.SPEAKING):
            s.end_after_answer = False  # the person goes on: so does the conversation
            # interrupt_response is on: the server cancels its response by itself.
            self._barge_in("speech", server_cancels=True)
            self._supersede("new speech")
            self._goto(Phase.HANDSFREE, "speech_started")
        self._notice("speech", started=True)

    def _speech_stopped(self, ev: SpeechStopped) -> None:
        s = self.state
        if not s.handsfree:
            return
        s.user_speaking = False
        s.quiet_since = self._now
        self._notice("speech", started=False)

    def _committed(self, ev: Committed) -> None:
        s = self.state
        if s.handsfree and s.phase is Phase.HANDSFREE:
            s.tool_rounds = 0
            self._goto(Phase.THINKING, "committed")
            s.wait_until = self._now + self.settings.answer_timeout_s

    # ------------------------------------------------------------------ answers

    def _response_started(self, ev: ResponseStarted) -> None:
        s = self.state
        rid = ev.response_id
        started = s.responses.started(rid)
        if started == "again":
            return
        if started == "abandoned":
            self._ignore_response(rid, "cancelled before it started", cancel=False)
            return
        if started == "asked":
            if self._waiting_turn():
                self._accept(rid)
            else:
                self._ignore_response(rid, "no turn is waiting for it", cancel=True)
            return
        self._server_made(rid)

    def _server_made(self, rid: str) -> None:
        """A response the server created by itself: the answer to a hands-free turn."""
        s = self.state
        if s.drop_server_turn:
            s.drop_server_turn = False
            self._ignore_response(rid, "an alarm interrupted its turn", cancel=True)
        elif not (s.handsfree and s.phase in (Phase.HANDSFREE, Phase.THINKING)
                  and s.answer is None):
            self._ignore_response(rid, f"unexpected in {s.phase.value}", cancel=True)
        elif s.user_speaking:  # interrupt_response cancels it on the server
            self._ignore_response(rid, "the person is still speaking", cancel=False)
        elif not s.bucket.take(self._now):
            self._ignore_response(rid, "cost guard", cancel=True)
            self._refuse_cost(turn=None)
            s.quiet_since = self._now
            self._goto(Phase.HANDSFREE, "cost_guard")
        else:
            s.tool_rounds = 0  # a new question
            self._accept(rid)

    def _answer_audio(self, ev: AnswerAudio) -> None:
        s = self.state
        a = s.answer
        if a is None or a.response_id != ev.response_id or a.done:
            rid = ev.response_id
            if rid not in s.late_noticed:
                s.late_noticed.append(rid)
                why = "cancelled" if rid in s.cancelled else "not the current answer"
                self._notice("late_audio_dropped", response_id=rid, reason=why)
            return
        if not ev.pcm:
            return
        a.items[ev.item_id] = a.items.get(ev.item_id, 0) + len(ev.pcm)
        r = s.round
        if (r is not None and r.response_id == a.response_id and not r.followed_up
                and all(c in s.calls and s.calls[c].remote and s.calls[c].output is not None
                        for c in r.calls)):
            r.followed_up = True  # the API ran them and the model goes on speaking: no ask
        self._emit(PlayAnswer(ev.response_id, ev.item_id, ev.pcm))
        s.wait_until = self._now + self.settings.answer_timeout_s
        if s.phase is not Phase.SPEAKING:
            s.utterance = None  # heard: no need to ask again after a link drop
            self._goto(Phase.SPEAKING, "answer_audio")

    def _answer_audio_done(self, ev: AnswerAudioDone) -> None:
        a = self.state.answer
        if (a is not None and a.response_id == ev.response_id and ev.item_id in a.items
                and ev.item_id not in a.ended):
            a.ended.add(ev.item_id)
            self._emit(EndAnswer(ev.item_id))

    def _response_done(self, ev: ResponseDone) -> None:
        s = self.state
        s.responses.done(ev.response_id)
        a = s.answer
        if a is not None and a.response_id == ev.response_id and not a.done:
            a.done = True
            self._end_items(a)
            r = s.round
            tools = r is not None and r.response_id == a.response_id
            if tools:
                assert r is not None
                r.response_done = True
            if a.items:
                if ev.status != "completed":
                    self._answer_ended_early(a, ev)
                self._playing_out(a)  # the rest of the answer is asked once this is heard
            elif tools:
                s.answer = None
                self._follow_up()
            else:
                if s.handsfree and ev.status == "cancelled":  # the person spoke over it
                    self._notice("answer_interrupted", response_id=a.response_id, turn=a.turn,
                                 status=ev.status, reason=ev.reason)
                else:
                    self._error("answer_failed", response_id=a.response_id, turn=a.turn,
                                status=ev.status, reason=ev.reason or "no audio")
                self._after_answer("response_done")
        self._flush_pending_create()

    def _answer_ended_early(self, a: Answer, ev: ResponseDone) -> None:
        """Part of an answer was heard and the rest will not come (``failed``, or
        ``incomplete`` at a token limit or a content filter, or ``cancelled`` by the
        server): what arrived plays out, then the error sound says it was cut. Only
        speech over a hands-free answer (the server cancels it for the person) is quiet."""
        spoken_over = (self.state.handsfree and ev.status == "cancelled"
                       and ev.reason == "turn_detected")
        if not spoken_over:
            self.state.error_after_playback = True
        self._notice("answer_ended", response_id=a.response_id, turn=a.turn,
                     status=ev.status, reason=ev.reason, heard_ms=round(a.received_ms),
                     error_sound=not spoken_over)

    def _server_error(self, ev: ServerError) -> None:
        """Release the request an error refuses; a refused request is never cancelled
        (in hands-free that cancel would hit whatever else runs)."""
        s = self.state
        code = ev.code or "unknown"
        if code == "conversation_already_has_active_response":
            # Our response.create lost a race with a response still finishing.
            refusal = s.responses.refused(ev.event_id)
            if refusal is not None and refusal.wanted and self._waiting_turn():
                s.responses.retry()
            self._notice("benign_error", code=code)
            self._flush_pending_create()
            return
        if code in BENIGN_ERRORS:
            self._notice("benign_error", code=code)
            return
        self._notice("server_error", code=code, message=ev.message[:200],
                     event_id=ev.event_id)
        if code in SESSION_ENDING_ERRORS:  # the link drop that follows holds the turn
            return
        waiting = self._waiting_turn()
        refusal = s.responses.refused(ev.event_id) if waiting or ev.event_id else None
        if ev.event_id is not None and refusal is None:
            return  # about another client event: the turn's request still stands
        if waiting and (refusal is None or refusal.wanted):
            s.responses.queued = False
            turn = self._waiting_turn_number()
            s.utterance = None
            s.round = None
            self._tell_detached()
            self._error("answer_failed", response_id=None, turn=turn, status="error",
                        reason=f"server error {code}")
            self._goto(self._rest(), "server_error")
        self._flush_pending_create()

    def _waiting_turn(self) -> bool:
        """A turn was sent (or a tool round's outputs were) and its answer has not started."""
        s = self.state
        if s.phase is not Phase.THINKING or s.answer is not None:
            return False
        u = s.utterance
        r = s.round
        return (u is not None and u.sent) or (r is not None and r.followed_up)

    def _waiting_turn_number(self) -> int | None:
        s = self.state
        if s.utterance is not None:
            return s.utterance.turn
        return s.round.turn if s.round is not None else None

    # ------------------------------------------------------------------ tools

    def _tool_called(self, ev: ToolCalled) -> None:
        """Run a completed call of the answer being listened to; anything else is noted
        and left alone (a cancelled response's calls come with a non-completed status)."""
        s = self.state
        a = s.answer
        if a is None or a.response_id != ev.response_id or a.done:
            why = ("its response was cancelled" if ev.response_id in s.cancelled
                   else "not the current answer")
            self._notice("tool_skipped", name=ev.name, call_id=ev.call_id, reason=why)
            return
        if ev.status != "completed":
            self._notice("tool_skipped", name=ev.name, call_id=ev.call_id,
                         reason=f"the call is {ev.status}")
            return
        if ev.call_id in s.called:
            return
        s.called.append(ev.call_id)
        r = self._round_of(a)
        r.calls.append(ev.call_id)
        call = s.calls[ev.call_id] = Call(ev.call_id, ev.name, s.epoch)
        self._notice("tool_call", name=ev.name, call_id=ev.call_id, turn=a.turn,
                     round=r.number, run=r.refused is None)
        if r.refused is not None:
            call.output = _error_output(r.refused)
            call.ok = False
        else:
            self._emit(RunTool(ev.call_id, ev.name, ev.arguments))
        if s.phase is Phase.THINKING:
            self._goto(Phase.TOOLS, "tool_call")
        if s.phase is Phase.TOOLS:
            s.wait_until = self._now + self._tool_wait_s()

    def _round_of(self, a: Answer) -> ToolRound:
        """The tool round of the answer ``a`` (a new one for its first call)."""
        s = self.state
        r = s.round
        if r is None or r.response_id != a.response_id:
            s.tool_rounds += 1
            r = s.round = ToolRound(a.response_id, a.turn, s.tool_rounds)
            if r.number > MAX_TOOL_ROUNDS:
                r.refused = (f"more than {MAX_TOOL_ROUNDS} rounds of tool calls for one "
                             "question")
            s.utterance = None  # acted on: a link drop must not ask it (and run it) again
        return r

    def _remote_tool_called(self, ev: RemoteToolCalled) -> None:
        """An MCP call the API ran (or an approval for one): nothing runs here and nothing
        is sent back, but the answer is a tool round all the same, so a response that
        ends with it is followed up instead of failing for want of audio."""
        s = self.state
        pending = s.calls.get(ev.approval_id) if ev.approval_id else None
        if pending is not None and pending.remote and pending.output is None:
            pending.output, pending.ok = "", ev.ok  # the approved call has run
            if s.round is not None and pending.call_id in s.round.calls:
                self._follow_up()
            return
        a = s.answer
        if a is None or a.response_id != ev.response_id or a.done or ev.item_id in s.called:
            return  # the journal has it (the daemon records every MCP item)
        s.called.append(ev.item_id)
        r = self._round_of(a)
        r.calls.append(ev.item_id)
        s.calls[ev.item_id] = Call(ev.item_id, ev.name, s.epoch, output=None if ev.pending
                                   else "", ok=ev.ok, remote=True)
        self._notice("remote_tool", name=ev.name, item_id=ev.item_id, round=r.number,
                     pending=ev.pending)
        if s.phase is Phase.THINKING:
            self._goto(Phase.TOOLS, "tool_call")
        if s.phase is Phase.TOOLS:
            s.wait_until = self._now + self._tool_wait_s()

    def _tool_wait_s(self) -> float:
        return max(self.settings.answer_timeout_s, self.settings.tool_timeout_s + TOOL_GRACE_S)

    def _tool_finished(self, ev: ToolFinished) -> None:
        s = self.state
        call = s.calls.get(ev.call_id)
        if call is None or call.output is not None:
            return
        call.output, call.ok = ev.output, ev.ok
        r = s.round
        if r is not None and ev.call_id in r.calls:
            self._follow_up()
        else:
            self._tell_detached()

    def _follow_up(self) -> None:
        """Once the response that called is done, heard, and every call has its output:
        tell them all, then ask for the rest of the answer (one request per round)."""
        s = self.state
        r = s.round
        if r is None or r.followed_up or s.phase is Phase.SPEAKING:
            return
        if not r.response_done or any(
                s.calls[c].output is None for c in r.calls if c in s.calls):
            if s.phase is not Phase.TOOLS:  # its words played out: the tools' wait, from now
                self._goto(Phase.TOOLS, "tool_call")
                s.wait_until = self._now + self._tool_wait_s()
            return
        for call_id in r.calls:
            self._tell(call_id)
        r.followed_up = True
        if r.refused is not None:
            s.round = None
            self._error("answer_failed", response_id=r.response_id, turn=r.turn,
                        status="error", reason=r.refused)
            self._goto(self._rest(), "tool_limit")
            return
        event_id = s.responses.ask()
        if event_id is not None:
            self._send(SendResponseCreate(event_id))
        s.wait_until = self._now + self.settings.answer_timeout_s
        self._goto(Phase.THINKING, "tool_outputs")

    def _tell(self, call_id: str) -> None:
        """Send one finished call's output on its own session, or say why it cannot be:
        its call_id means nothing on another one. The person then hears the outcome."""
        s = self.state
        call = s.calls.pop(call_id, None)
        if call is None or call.output is None or call.remote:
            return
        if call.epoch == s.epoch and s.link_up:
            self._send(SendToolOutput(call.call_id, call.output))
            self._notice("tool_output_sent", name=call.name, call_id=call.call_id,
                         bytes=len(call.output.encode()))
            return
        self._notice("tool_output_unsent", name=call.name, call_id=call.call_id, ok=call.ok,
                     reason="the link dropped; the call belonged to the session that ended")
        if call.ok:
            self._sound("confirm")
        else:
            self._beep_error()

    def _tell_detached(self) -> None:
        """Calls no longer part of a round (barge-in, link drop, timeout) are still told
        once they finish, without asking for more of an answer nobody waits for."""
        s = self.state
        attached = set(s.round.calls) if s.round is not None else set()
        for call_id in [c for c, call in s.calls.items()
                        if (call.output is not None or call.remote) and c not in attached]:
            if s.calls[call_id].remote:  # the API's own: nothing to tell, nothing to wait for
                del s.calls[call_id]
            else:
                self._tell(call_id)

    # ------------------------------------------------------------------ alarms

    def _alarm_due(self, ev: AlarmDue) -> None:
        """Ring. An answer playing or awaited is interrupted; a push-to-talk press or a
        hands-free conversation goes on (a press or a spoken "stop" ends the ringing)."""
        s = self.state
        labels = list(ev.labels)
        if s.ringing is not None:
            s.ringing.labels.extend(labels)
            s.ringing.until = self._now + self.settings.max_ring_s
            self._notice("ringing", labels=", ".join(labels), again=True)
            return
        if s.phase in (Phase.THINKING, Phase.TOOLS, Phase.SPEAKING):
            server_turn = (s.handsfree and s.answer is None and s.utterance is None
                           and s.round is None and not s.responses.wanted)
            self._barge_in("alarm", server_cancels=False)
            self._supersede("an alarm")
            if server_turn:  # the server is making an answer of its own: not now
                s.drop_server_turn = True
                cancel_sent = self._send(SendResponseCancel())
                self._notice("utterance_dropped", turn=None, reason="superseded by an alarm",
                             cancel_sent=cancel_sent)
            if s.handsfree:
                s.quiet_since = self._now
            self._goto(self._rest(), "alarm")
        s.ringing = Ringing(self._now, self._now + self.settings.max_ring_s, labels)
        self._emit(Ring(True))
        self._notice("ringing", labels=", ".join(labels), again=False)

    def _ring_off(self, by: str) -> bool:
        s = self.state
        r = s.ringing
        if r is None:
            return False
        s.ringing = None
        self._emit(Ring(False))
        self._notice("ring_stopped", by=by, rang_s=round(self._now - r.since, 1),
                     labels=", ".join(r.labels))
        return True

    def _stop_ringing_event(self, ev: StopRinging) -> None:
        self._ring_off("tool")

    def _stop(self, ev: Stop) -> None:
        if not self._ring_off("ctl"):
            self._cancel(Cancel())

    def _end_conversation(self, ev: EndConversation) -> None:
        s = self.state
        if s.handsfree and not s.end_after_answer:
            s.end_after_answer = True
            self._notice("conversation_ending", reason="the assistant ended it")

    # ------------------------------------------------------------------ speaker

    def _playback_idle(self, ev: PlaybackIdle) -> None:
        s = self.state
        a = s.answer
        if s.phase is Phase.SPEAKING and (a is None or a.done):
            self._after_answer("playback_idle")

    def _playback_flushed(self, ev: PlaybackFlushed) -> None:
        s = self.state
        unheard, s.unheard = s.unheard, {}
        for item, u in unheard.items():
            received_ms = u.nbytes // PCM_BYTES_PER_MS
            end = max(0, min(int(ev.played.get(item, 0)), received_ms))
            if not u.active and end >= received_ms:
                continue  # all of it was heard
            if u.epoch != s.epoch or not s.link_up:
                self._notice("truncate_skipped", item_id=item,
                             reason="the session it belonged to is gone")
                continue
            self._send(SendTruncate(item, end))
            self._notice("truncated", item_id=item, audio_end_ms=end, received_ms=received_ms)

    # ------------------------------------------------------------------ time

    def _tick(self, ev: Tick) -> None:
        s = self.state
        now = self._now
        if s.ringing is not None and now >= s.ringing.until:
            self._ring_off("timeout")
        if s.confirming is not None and now >= s.confirming.until:
            self._refuse_confirmation("no press in time")
        if s.error_led_until is not None and now >= s.error_led_until:
            s.error_led_until = None
        u = s.utterance
        if s.phase is Phase.LISTENING and u is not None:
            held = now - u.started
            if held >= self.settings.max_utterance_s:
                self._notice("stuck_button", turn=u.turn, held_s=round(held, 1),
                             limit_s=self.settings.max_utterance_s)
                self._finish(u, "stuck_button")
        elif s.phase is Phase.HANDSFREE:
            limit = self.settings.max_utterance_s
            if s.user_speaking and now - s.speech_since >= limit:
                # Noise the server takes for endless speech: stop streaming it.
                self._end_handsfree(f"speech did not stop within conversation."
                                    f"max_utterance_s ({limit:g} s)", None)
                self._beep_error()
                self._goto(Phase.IDLE, "endless_speech")
            elif not s.user_speaking and now - s.quiet_since >= self.settings.follow_up_s:
                self._end_handsfree(f"{self.settings.follow_up_s:g} s of quiet "
                                    "(conversation.follow_up_s)", "done")
                self._goto(Phase.IDLE, "quiet")
        elif s.wait_until is not None and now >= s.wait_until:
            self._timeout()

    def _timeout(self) -> None:
        s = self.state
        u = s.utterance
        a = s.answer
        waited = (self._tool_wait_s() if s.phase is Phase.TOOLS
                  else self.settings.answer_timeout_s)
        if s.phase is Phase.THINKING and u is not None and not u.sent:
            s.utterance = None
            self._error("utterance_dropped", turn=u.turn, ms=round(u.ms),
                        reason="the link did not return within conversation.hold_offline_s "
                        f"({self.settings.hold_offline_s:g} s)")
            self._goto(self._rest(), "link_timeout")
        elif s.phase in (Phase.THINKING, Phase.TOOLS):
            if a is not None and not a.done:
                s.cancelled.append(a.response_id)
                self._send(SendResponseCancel())
            self._abandon_requests()
            s.responses.forget()  # what the server was said to run did not answer
            turn = self._waiting_turn_number() if a is None else a.turn
            s.answer = None
            s.utterance = None
            if s.round is not None:
                s.round = None
                self._tell_detached()
            self._error("no_answer", turn=turn, waited_s=waited)
            if s.handsfree:
                s.quiet_since = self._now
            self._goto(self._rest(), "answer_timeout")
        elif s.phase is Phase.SPEAKING and a is not None and not a.done:
            s.cancelled.append(a.response_id)
            self._send(SendResponseCancel())
            if s.round is not None:  # cancelled: no rest of the answer will be asked
                s.round = None
                self._tell_detached()
            a.done = True
            self._end_items(a)
            s.error_after_playback = True
            self._playing_out(a)
            self._notice("answer_cut", response_id=a.response_id, turn=a.turn,
                         reason=f"no answer audio for {waited:g} s",
                         heard_ms=round(a.received_ms))
        elif s.phase is Phase.SPEAKING:
            self._emit(FlushPlayback())
            self._notice("playback_stalled", waited_s=round(
                a.received_ms / 1000 + self.settings.playback_grace_s, 1) if a else None)
            self._after_answer("playback_stalled")
        else:
            s.wait_until = None
