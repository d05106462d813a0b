"""A driver for the pure conversation machine, with an invariant monitor on every step.

Every scenario test goes through ``Driver.send``, so the properties the machine
promises (no client event while the link is down, no audio of a cancelled
answer, at most one response wanted, every transition noticed, nothing dropped
silently...) are checked on every step of every test, not only in the
property-based ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from edged.conversation import (
    PCM_BYTES_PER_MS,
    SEND_ACTIONS,
    Action,
    AnswerAudio,
    Committed,
    ConfirmTool,
    Conversation,
    EndAnswer,
    Event,
    FlushPlayback,
    LinkDown,
    LinkUp,
    MicAudio,
    Notice,
    Phase,
    PlayAnswer,
    PlaySound,
    PttDown,
    ResponseDone,
    ResponseStarted,
    Ring,
    RunTool,
    SendAppend,
    SendResponseCreate,
    SendToolOutput,
    SendTruncate,
    SetHandsFree,
    SetLed,
    SetMic,
    Settings,
    SpeechStarted,
    SpeechStopped,
    State,
    Tick,
    ToolCalled,
    ToolFinished,
    WakePress,
)

ALL_ACTIONS = (*SEND_ACTIONS, SetHandsFree, RunTool, Ring, ConfirmTool, PlayAnswer, EndAnswer,
               FlushPlayback, PlaySound, SetLed, SetMic, Notice)
USER_REASONS = ("superseded", "muted", "cancelled")
"""utterance_dropped reasons the person chose: no error sound for those."""
OUTCOMES = ("answer_started", "utterance_dropped", "press_ignored", "cost_guard", "no_answer",
            "answer_failed")


def pcm(ms: float) -> bytes:
    """Silence of ``ms`` milliseconds at 24 kHz mono PCM16."""
    return b"\x00" * int(ms * PCM_BYTES_PER_MS)


def notices(actions: Iterable[Action], kind: str | None = None) -> list[Notice]:
    return [a for a in actions if isinstance(a, Notice) and (kind is None or a.kind == kind)]


def wire(actions: Iterable[Action]) -> list[Action]:
    """Only the actions that become client events."""
    return [a for a in actions if isinstance(a, SEND_ACTIONS)]


def kinds(actions: Iterable[Action]) -> list[str]:
    return [type(a).__name__ for a in actions if not isinstance(a, Notice)]


def sounds(actions: Iterable[Action]) -> list[str]:
    return [a.sound for a in actions if isinstance(a, PlaySound)]


class AnyCreate:
    """Equal to any ``SendResponseCreate``: most tests care that an answer was asked
    for, not what the request was named."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SendResponseCreate)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "SendResponseCreate(<any id>)"


CREATE = AnyCreate()


@dataclass
class Monitor:
    """Checks the machine's promises after each step; raises AssertionError on a breach."""

    link: bool = False
    live: set[str] = field(default_factory=set)
    dead: set[str] = field(default_factory=set)
    received: dict[str, int] = field(default_factory=dict)
    turns: set[int] = field(default_factory=set)
    resolved: set[int] = field(default_factory=set)
    led: str | None = None
    mic: str | None = None
    requests: set[str] = field(default_factory=set)  # response.create ids sent
    session: int = 0  # link sessions seen
    ran: dict[str, int] = field(default_factory=dict)  # call_id → session it ran on
    told: set[str] = field(default_factory=set)  # call_ids whose output was sent
    ringing: bool = False

    def step(self, conv: Conversation, before: Phase, event: Event | None,
             actions: Sequence[Action]) -> None:
        for a in actions:
            assert isinstance(a, ALL_ACTIONS), f"unknown action {a!r}"
        self._check_session(conv, event, actions)
        self._check_answers(conv, actions)
        self._check_requests(conv, actions)
        self._check_transitions(before, conv.phase, actions)
        self._check_outputs(conv, before, event, actions)
        self._check_nothing_silent(actions)
        self._check_tools(conv, event, actions)

    def _check_session(self, conv: Conversation, event: Event | None,
                       actions: Sequence[Action]) -> None:
        """1. Client events only on a session."""
        link_before = self.link
        if isinstance(event, LinkUp | LinkDown):
            self.link = isinstance(event, LinkUp)
            self.session += self.link and not link_before
            self.live.clear()
        elif isinstance(event, ResponseStarted) and self.link:
            if event.response_id not in self.live:  # a new response (ids may be reused here)
                self.dead.discard(event.response_id)
            self.live.add(event.response_id)
        elif isinstance(event, ResponseDone):
            self.live.discard(event.response_id)
        if not (link_before or self.link):
            assert not wire(actions), f"sent while the link was down: {wire(actions)}"
        if isinstance(event, LinkDown):
            assert not wire(actions), f"sent on LinkDown: {wire(actions)}"
        assert conv.state.link_up == self.link
        for n in notices(actions):
            for value in n.fields.values():
                assert value is None or isinstance(value, str | int | float | bool), n
            if n.kind in ("barge_in", "response_ignored", "answer_cut", "late_audio_dropped"):
                rid = n.fields.get("response_id")
                if isinstance(rid, str):
                    self.dead.add(rid)
            if n.kind == "no_answer":
                self.live.clear()

    def _check_answers(self, conv: Conversation, actions: Sequence[Action]) -> None:
        """2. Answer audio: only the current answer, never a cancelled one."""
        for a in actions:
            if isinstance(a, PlayAnswer):
                assert a.pcm, "empty PlayAnswer"
                assert a.response_id not in self.dead, f"played cancelled {a.response_id}"
                ans = conv.state.answer
                assert ans is not None and ans.response_id == a.response_id
                self.received[a.item_id] = self.received.get(a.item_id, 0) + len(a.pcm)
            if isinstance(a, SendTruncate):
                got = self.received.get(a.item_id, 0) // PCM_BYTES_PER_MS
                assert 0 <= a.audio_end_ms <= got, f"truncate {a} beyond {got} ms received"
            if isinstance(a, SendAppend):
                assert a.pcm, "empty append"

    def _check_requests(self, conv: Conversation, actions: Sequence[Action]) -> None:
        """3. At most one response wanted; a request never while one runs; ids unique."""
        assert 0 <= conv.state.wanted_responses <= 1, conv.state
        sent = [a.event_id for a in actions if isinstance(a, SendResponseCreate)]
        if sent:
            assert not self.live, f"response.create while {self.live} runs"
        for event_id in sent:
            assert event_id not in self.requests, f"request id {event_id} used again"
            self.requests.add(event_id)

    @staticmethod
    def _check_transitions(before: Phase, after: Phase, actions: Sequence[Action]) -> None:
        """4. Every phase change noticed, in order."""
        moves = notices(actions, "transition")
        if after is not before:
            assert moves, f"{before} → {after} without a transition notice"
            assert moves[0].fields["from"] == before.value
            assert moves[-1].fields["to"] == after.value
        for x, y in itertools.pairwise(moves):
            assert x.fields["to"] == y.fields["from"]

    def _check_outputs(self, conv: Conversation, before: Phase, event: Event | None,
                       actions: Sequence[Action]) -> None:
        """5. The LED and mic follow the phase; muted means muted."""
        after = conv.phase
        if before is Phase.MUTED and after is Phase.MUTED:
            assert not any(isinstance(a, SendAppend | PlayAnswer) for a in actions)
        for a in actions:
            if isinstance(a, SetLed):
                self.led = a.pattern
            if isinstance(a, SetMic):
                self.mic = a.mode
        if event is not None or actions:
            assert self.led == conv.state.led and self.mic == conv.state.mic
        assert (self.mic == "closed") == (after is Phase.MUTED)
        if conv.state.ringing is not None:
            assert self.led == "ringing"
        elif after is Phase.MUTED:
            assert self.led == "muted"
        if after is Phase.LISTENING:
            assert self.mic == "stream"

    def _check_nothing_silent(self, actions: Sequence[Action]) -> None:
        """6. Nothing dropped silently; every turn has an outcome."""
        for n in notices(actions):
            reason = str(n.fields.get("reason", ""))
            user = any(reason.startswith(r) for r in USER_REASONS)
            errorish = n.kind in ("cost_guard", "no_answer", "answer_failed") or (
                n.kind == "utterance_dropped" and not user)
            if errorish:
                assert "error" in sounds(actions), f"{n} without the error sound"
            turn = n.fields.get("turn")
            if n.kind == "turn_started" and isinstance(turn, int):
                self.turns.add(turn)
            if n.kind in OUTCOMES and isinstance(turn, int):
                self.resolved.add(turn)

    def _check_tools(self, conv: Conversation, event: Event | None,
                     actions: Sequence[Action]) -> None:
        """7. A call runs once, only when completed; its output goes once, only on the
        session it came from; ringing starts and stops in pairs."""
        for a in actions:
            if isinstance(a, RunTool):
                assert a.call_id not in self.ran, f"{a.call_id} ran twice"
                assert isinstance(event, ToolCalled) and event.status == "completed", event
                self.ran[a.call_id] = self.session
            if isinstance(a, SendToolOutput):
                assert a.call_id not in self.told, f"output of {a.call_id} sent twice"
                assert self.ran.get(a.call_id, self.session) == self.session, (
                    f"output of {a.call_id} sent on another session")
                self.told.add(a.call_id)
            if isinstance(a, Ring):
                assert a.on != self.ringing, f"Ring({a.on}) while ringing={self.ringing}"
                self.ringing = a.on
        assert self.ringing == (conv.state.ringing is not None)
        for n in notices(actions, "tool_output_unsent"):
            assert {"confirm", "error"} & set(sounds(actions)), f"{n} without a sound"

    def assert_turns_resolved(self) -> None:
        missing = self.turns - self.resolved
        assert not missing, f"turns without an outcome: {sorted(missing)}"


class Driver:
    """A Conversation with its own clock; ``send`` returns the actions of one event."""

    def __init__(self, settings: Settings | None = None, *, link: bool = True,
                 t: float = 1000.0) -> None:
        self.conv = Conversation(settings)
        self.settings = self.conv.settings
        self.t = t
        self.monitor = Monitor()
        self.log: list[tuple[Event | None, list[Action]]] = []
        self.running: list[str] = []  # tools asked for and not yet finished
        start = self.conv.start(t)
        self.monitor.step(self.conv, self.conv.phase, None, start)
        self.log.append((None, start))
        if link:
            self.send(LinkUp())

    def phase(self) -> Phase:
        """A call, not a property: mypy would otherwise narrow it across events."""
        return self.conv.phase

    @property
    def state(self) -> State:
        return self.conv.state

    def send(self, event: Event, *, after: float = 0.0) -> list[Action]:
        self.t += after
        before = self.conv.phase
        actions = self.conv.handle(event, self.t)
        self.log.append((event, actions))
        self.running += [a.call_id for a in actions if isinstance(a, RunTool)]
        try:
            self.monitor.step(self.conv, before, event, actions)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.history()}") from None
        return actions

    def press(self, preroll: bytes = b"", *, after: float = 0.0) -> list[Action]:
        """Push-to-talk down; the engine's pre-roll ring arrives as the first frame."""
        out = self.send(PttDown(), after=after)
        if preroll:
            out += self.send(MicAudio(preroll))
        return out

    def handsfree_answer(self, ms: float = 500, rid: str = "r1", item: str = "i1") -> None:
        """A wake press, a sentence the server's turn detection ends, and the first
        ``ms`` of the server's own answer: a hands-free answer playing."""
        self.send(WakePress(held_ms=300))
        self.send(SpeechStarted(), after=1)
        self.send(SpeechStopped(), after=1)
        self.send(Committed())
        self.send(ResponseStarted(rid))
        self.send(AnswerAudio(rid, item, pcm(ms)))

    def history(self, last: int = 30) -> str:
        """The recent steps, audio shown as lengths, for failure reports."""
        lines = []
        for event, actions in self.log[-last:]:
            lines.append(f"  {event!r}")
            lines += [f"      -> {a!r}" for a in actions]
        return "\n".join(lines)

    def run(self, events: Iterable[Event], *, step: float = 0.0) -> list[Action]:
        out: list[Action] = []
        for event in events:
            out += self.send(event, after=step)
        return out

    def finish_tools(self, output: str = '{"ok":true}') -> list[Action]:
        """Every tool asked for reports back, as the daemon's runner always does."""
        out: list[Action] = []
        while self.running:
            out += self.send(ToolFinished(self.running.pop(0), output))
        return out

    def drain(self) -> list[Action]:
        """Only time passes (and tools finish, as they do within their timeout): the
        machine must come back to rest by itself."""
        out = self.finish_tools()
        for _ in range(6):
            out += self.send(Tick(), after=1000.0)
        assert self.phase() in (Phase.IDLE, Phase.MUTED), self.phase()
        assert self.state.utterance is None and self.state.answer is None
        assert self.state.wanted_responses == 0 or not self.state.link_up
        assert self.state.round is None and not self.state.calls, self.state
        assert self.state.ringing is None
        return out
