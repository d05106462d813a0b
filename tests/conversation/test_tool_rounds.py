"""Tool rounds: a call runs once, its output is told once, then the rest of the answer is asked."""

from __future__ import annotations

import json

import pytest

from edged.conversation import (
    Action,
    AnswerAudio,
    Cancel,
    Committed,
    FlushPlayback,
    LinkDown,
    LinkUp,
    Phase,
    PlaybackIdle,
    PttUp,
    ResponseDone,
    ResponseStarted,
    RunTool,
    SendAppend,
    SendClear,
    SendCommit,
    SendResponseCancel,
    SendResponseCreate,
    SendToolOutput,
    ServerError,
    SetLed,
    Settings,
    SpeechStarted,
    SpeechStopped,
    Tick,
    ToolCalled,
    ToolFinished,
    WakeHold,
    WakePress,
)
from edged.conversation.machine import MAX_TOOL_ROUNDS, TOOL_GRACE_S
from tests.rigs.conversation import CREATE, Driver, notices, pcm, sounds, wire

ARGS = '{"seconds": 300}'
OUT = '{"ok": true, "timer": "5 minutes"}'


def call(rid: str, cid: str, name: str = "set_timer", status: str = "completed") -> ToolCalled:
    return ToolCalled(rid, f"fc_{cid}", cid, name, ARGS, status)


def ptt_turn(d: Driver) -> str:
    """A push-to-talk turn up to its response.create; returns that request's id."""
    d.press(pcm(300))
    acts = d.send(PttUp(), after=1.0)
    creates = [a for a in acts if isinstance(a, SendResponseCreate)]
    assert len(creates) == 1, acts
    return creates[0].event_id


def creates(acts: list[Action]) -> list[SendResponseCreate]:
    return [a for a in acts if isinstance(a, SendResponseCreate)]


def runs(d: Driver) -> list[RunTool]:
    """Every RunTool the machine ever emitted in this driver."""
    return [a for _, acts in d.log for a in acts if isinstance(a, RunTool)]


def all_wire(d: Driver, since: int = 0) -> list[Action]:
    return [a for _, acts in d.log[since:] for a in wire(acts)]


def calling(d: Driver, rid: str = "r1", cid: str = "c1", *, done: bool = True) -> None:
    """A push-to-talk turn whose answer only calls a tool, which is now running."""
    ptt_turn(d)
    d.send(ResponseStarted(rid))
    d.send(call(rid, cid))
    if done:
        d.send(ResponseDone(rid))
    assert d.phase() is Phase.TOOLS


def follow_up(d: Driver, rid: str = "r2", item: str = "i2") -> list[Action]:
    """The rest of the answer: it starts, speaks, ends and plays out."""
    out = d.send(ResponseStarted(rid))
    out += d.send(AnswerAudio(rid, item, pcm(400)))
    out += d.send(ResponseDone(rid))
    out += d.send(PlaybackIdle(), after=0.5)
    return out


# --------------------------------------------------------------------------- one round


def test_an_answer_that_only_calls_a_tool_runs_it_then_asks_for_the_rest() -> None:
    d = Driver()
    ptt_turn(d)
    started = d.send(ResponseStarted("r1"))
    assert notices(started, "answer_started")[0].fields["follow_up"] is False
    acts = d.send(call("r1", "c1"), after=0.5)
    assert RunTool("c1", "set_timer", ARGS) in acts
    assert SetLed("tools") in acts and d.phase() is Phase.TOOLS
    assert notices(acts, "tool_call")[0].fields == {
        "name": "set_timer", "call_id": "c1", "turn": 1, "round": 1, "run": True}
    assert wire(acts) == []
    done = d.send(ResponseDone("r1"))
    assert not notices(done, "answer_failed") and sounds(done) == []
    assert wire(done) == [] and d.phase() is Phase.TOOLS
    finished = d.send(ToolFinished("c1", OUT), after=0.3)
    assert wire(finished) == [SendToolOutput("c1", OUT), CREATE]
    assert notices(finished, "tool_output_sent")[0].fields["call_id"] == "c1"
    assert d.phase() is Phase.THINKING and SetLed("thinking") in finished
    rest = d.send(ResponseStarted("r2"))
    assert notices(rest, "answer_started")[0].fields == {
        "response_id": "r2", "turn": 1, "follow_up": True}
    assert not notices(rest, "response_ignored")
    d.send(AnswerAudio("r2", "i2", pcm(400)))
    assert d.phase() is Phase.SPEAKING
    d.send(ResponseDone("r2"))
    idle = d.send(PlaybackIdle(), after=0.5)
    assert d.phase() is Phase.IDLE and "error" not in sounds(idle)
    assert len(runs(d)) == 1
    d.monitor.assert_turns_resolved()
    d.drain()


def test_an_output_that_arrives_before_response_done_waits_for_it() -> None:
    d = Driver()
    calling(d, done=False)
    early = d.send(ToolFinished("c1", OUT), after=0.2)
    assert wire(early) == [] and d.phase() is Phase.TOOLS
    done = d.send(ResponseDone("r1"))
    assert wire(done) == [SendToolOutput("c1", OUT), CREATE]
    assert len(creates(done)) == 1 and not notices(done, "answer_failed")
    assert "error" not in sounds(done) and d.phase() is Phase.THINKING
    follow_up(d)
    assert d.phase() is Phase.IDLE
    d.monitor.assert_turns_resolved()


def test_two_calls_in_one_answer_are_told_together_with_one_request() -> None:
    d = Driver()
    ptt_turn(d)
    d.send(ResponseStarted("r1"))
    first = d.send(call("r1", "c1"))
    second = d.send(call("r1", "c2", name="set_alarm"))
    assert RunTool("c1", "set_timer", ARGS) in first
    assert RunTool("c2", "set_alarm", ARGS) in second
    assert notices(second, "tool_call")[0].fields["round"] == 1  # one round, two calls
    assert wire(d.send(ResponseDone("r1"))) == []
    assert wire(d.send(ToolFinished("c2", '{"ok": 2}'), after=0.1)) == []  # c1 still runs
    assert d.phase() is Phase.TOOLS
    last = d.send(ToolFinished("c1", '{"ok": 1}'), after=0.1)
    assert wire(last) == [SendToolOutput("c1", '{"ok": 1}'),
                          SendToolOutput("c2", '{"ok": 2}'), CREATE]
    assert d.phase() is Phase.THINKING
    follow_up(d)
    d.monitor.assert_turns_resolved()
    d.drain()


def test_a_call_after_spoken_words_waits_for_them_to_play_out() -> None:
    d = Driver()
    ptt_turn(d)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(800)))
    assert d.phase() is Phase.SPEAKING
    called = d.send(call("r1", "c1"))
    assert RunTool("c1", "set_timer", ARGS) in called
    assert d.phase() is Phase.SPEAKING and not notices(called, "transition")
    finished = d.send(ToolFinished("c1", OUT), after=0.2)  # the words still play
    assert wire(finished) == [] and d.phase() is Phase.SPEAKING
    done = d.send(ResponseDone("r1"))
    assert wire(done) == [] and d.phase() is Phase.SPEAKING
    idle = d.send(PlaybackIdle(), after=0.8)
    assert wire(idle) == [SendToolOutput("c1", OUT), CREATE]
    assert d.phase() is Phase.THINKING and "error" not in sounds(idle)
    rest = follow_up(d)
    assert notices(rest, "answer_started")[0].fields["follow_up"] is True
    assert d.phase() is Phase.IDLE
    d.monitor.assert_turns_resolved()
    d.drain()


def test_a_tool_still_running_when_the_spoken_words_end_gets_the_whole_tool_wait() -> None:
    d = Driver(Settings(tool_timeout_s=15.0))  # the daemon fails the tool at 15 s, not before
    ptt_turn(d)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(500)))
    d.send(call("r1", "c1"))
    called_at = d.t
    d.send(ResponseDone("r1"))
    d.send(PlaybackIdle(), after=0.5)
    assert d.phase() is Phase.TOOLS  # the words are heard; the tool still runs
    wait = max(d.settings.answer_timeout_s, d.settings.tool_timeout_s + TOOL_GRACE_S)
    deadline = d.conv.next_deadline()
    assert deadline is not None and deadline >= called_at + wait - 1e-6
    mid = d.send(Tick(), after=6.0)  # 6.5 s into a tool allowed 15 s
    assert not notices(mid, "no_answer") and d.phase() is Phase.TOOLS
    assert wire(d.send(ToolFinished("c1", OUT), after=8.0)) == [
        SendToolOutput("c1", OUT), CREATE]


# --------------------------------------------------------------------------- calls not run


@pytest.mark.parametrize("status", ["incomplete", "in_progress", "cancelled"])
def test_a_call_that_is_not_completed_is_not_run(status: str) -> None:
    d = Driver()
    ptt_turn(d)
    d.send(ResponseStarted("r1"))
    acts = d.send(call("r1", "c1", status=status))
    assert not [a for a in acts if isinstance(a, RunTool)]
    skipped = notices(acts, "tool_skipped")[0]
    assert skipped.fields["call_id"] == "c1" and status in str(skipped.fields["reason"])
    assert d.phase() is Phase.THINKING


def test_an_answer_with_only_an_incomplete_call_fails_out_loud() -> None:
    d = Driver()
    ptt_turn(d)
    d.send(ResponseStarted("r1"))
    d.send(call("r1", "c1", status="incomplete"))
    done = d.send(ResponseDone("r1", "incomplete", "max_output_tokens"))
    assert notices(done, "answer_failed") and "error" in sounds(done)
    assert wire(done) == [] and d.phase() is Phase.IDLE
    assert runs(d) == []
    d.monitor.assert_turns_resolved()
    d.drain()


def test_a_call_of_an_answer_interrupted_by_a_press_is_not_run() -> None:
    d = Driver()
    ptt_turn(d)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(500)))
    d.press(pcm(300))  # barge-in: r1 is cancelled
    late = d.send(call("r1", "c1"))
    assert not [a for a in late if isinstance(a, RunTool)]
    assert notices(late, "tool_skipped")[0].fields["reason"] == "its response was cancelled"
    assert d.phase() is Phase.LISTENING


def test_a_call_of_a_response_nobody_listens_to_is_not_run() -> None:
    d = Driver()
    acts = d.send(call("stray", "c1"))
    assert not [a for a in acts if isinstance(a, RunTool)]
    assert notices(acts, "tool_skipped")[0].fields["reason"] == "not the current answer"


def test_the_same_call_reported_twice_runs_once() -> None:
    d = Driver()
    calling(d, done=False)
    again = d.send(call("r1", "c1"))
    assert not [a for a in again if isinstance(a, RunTool)]
    assert len(runs(d)) == 1


# --------------------------------------------------------------------------- barge-ins


def test_a_press_while_the_tool_runs_starts_a_new_turn_and_the_output_is_still_told() -> None:
    d = Driver()
    calling(d)
    acts = d.press(pcm(300), after=0.5)
    assert d.phase() is Phase.LISTENING and notices(acts, "turn_started")
    barge = notices(acts, "barge_in")[0]
    assert barge.fields["by"] == "ptt" and barge.fields["response_id"] == "r1"
    assert SendResponseCancel() not in acts  # r1 is done: nothing to cancel
    assert wire(acts) == [SendClear(), SendAppend(pcm(300))]
    finished = d.send(ToolFinished("c1", OUT), after=0.2)
    assert wire(finished) == [SendToolOutput("c1", OUT)]  # the model must know the timer
    assert d.phase() is Phase.LISTENING
    up = d.send(PttUp(), after=1.0)
    assert wire(up) == [SendCommit(), CREATE]  # the new turn's own request, and only that
    follow_up(d, "r3", "i3")
    assert len(runs(d)) == 1  # the timer stays set: run once, never undone
    d.monitor.assert_turns_resolved()
    d.drain()


def test_a_press_while_the_calling_answer_still_runs_cancels_it_and_still_tells() -> None:
    d = Driver()
    calling(d, done=False)
    acts = d.press(pcm(300))
    assert SendResponseCancel() in wire(acts) and d.phase() is Phase.LISTENING
    assert wire(d.send(ResponseDone("r1", "cancelled", "client_cancelled"))) == []
    assert wire(d.send(ToolFinished("c1", OUT))) == [SendToolOutput("c1", OUT)]
    assert len(runs(d)) == 1


def test_a_press_while_the_rest_of_the_answer_is_awaited_abandons_that_request() -> None:
    d = Driver()
    calling(d)
    assert CREATE in d.send(ToolFinished("c1", OUT))
    acts = d.press(pcm(300), after=0.5)
    assert SendResponseCancel() in wire(acts) and d.phase() is Phase.LISTENING
    assert notices(acts, "barge_in")[0].fields["cancel_sent"] is True
    started = d.send(ResponseStarted("r2"))
    assert notices(started, "response_ignored")[0].fields["reason"] == (
        "cancelled before it started")
    assert not notices(started, "answer_started")
    mark = len(d.log)
    d.send(AnswerAudio("r2", "i2", pcm(100)))
    d.send(ResponseDone("r2", "cancelled", "client_cancelled"))
    up = d.send(PttUp(), after=1.0)
    assert wire(up) == [SendCommit(), CREATE]
    assert not any(isinstance(a, SendToolOutput) for a in all_wire(d, mark))  # told once
    follow_up(d, "r3", "i3")
    d.monitor.assert_turns_resolved()


def test_a_press_during_the_spoken_part_of_a_calling_answer_tells_but_asks_nothing() -> None:
    d = Driver()
    ptt_turn(d)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(800)))
    d.send(call("r1", "c1"))
    d.send(ResponseDone("r1"))
    acts = d.press(pcm(300), after=0.3)
    assert acts[0] == FlushPlayback() and d.phase() is Phase.LISTENING
    finished = d.send(ToolFinished("c1", OUT))
    assert wire(finished) == [SendToolOutput("c1", OUT)]
    assert wire(d.send(PttUp(), after=1.0)) == [SendCommit(), CREATE]
    assert len(runs(d)) == 1


def test_cancel_while_the_tool_runs_rests_and_the_output_is_still_told() -> None:
    d = Driver()
    calling(d)
    acts = d.send(Cancel())
    assert d.phase() is Phase.IDLE and "done" in sounds(acts)
    assert notices(acts, "barge_in")[0].fields["by"] == "cancel"
    finished = d.send(ToolFinished("c1", OUT))
    assert wire(finished) == [SendToolOutput("c1", OUT)]
    assert d.phase() is Phase.IDLE and len(runs(d)) == 1
    d.drain()


def test_cancel_while_the_rest_of_the_answer_is_awaited_abandons_it() -> None:
    d = Driver()
    calling(d)
    d.send(ToolFinished("c1", OUT))
    acts = d.send(Cancel())
    assert SendResponseCancel() in wire(acts) and d.phase() is Phase.IDLE
    assert notices(d.send(ResponseStarted("r2")), "response_ignored")
    d.drain()


def test_muting_while_the_tool_runs_still_tells_the_output() -> None:
    d = Driver()
    calling(d)
    acts = d.send(WakeHold())
    assert d.phase() is Phase.MUTED and notices(acts, "muted")
    assert notices(acts, "barge_in")[0].fields["by"] == "mute"
    finished = d.send(ToolFinished("c1", OUT))
    assert wire(finished) == [SendToolOutput("c1", OUT)]
    assert d.phase() is Phase.MUTED and len(runs(d)) == 1


def test_muting_while_the_rest_of_the_answer_is_awaited_abandons_it() -> None:
    d = Driver()
    calling(d)
    d.send(ToolFinished("c1", OUT))
    acts = d.send(WakeHold())
    assert SendResponseCancel() in wire(acts) and d.phase() is Phase.MUTED
    assert notices(d.send(ResponseStarted("r2")), "response_ignored")


# --------------------------------------------------------------------------- hands-free


def handsfree_calling(d: Driver) -> None:
    """A wake conversation whose server-made answer calls a tool, now running."""
    d.send(WakePress(held_ms=300))
    d.send(SpeechStarted(), after=1)
    d.send(SpeechStopped(), after=1)
    d.send(Committed())
    started = d.send(ResponseStarted("r1"))
    assert notices(started, "answer_started")
    assert RunTool("c1", "set_timer", ARGS) in d.send(call("r1", "c1"))
    d.send(ResponseDone("r1"))
    assert d.phase() is Phase.TOOLS


def test_a_hands_free_answer_that_calls_a_tool_is_followed_up_by_this_side() -> None:
    d = Driver()
    handsfree_calling(d)
    finished = d.send(ToolFinished("c1", OUT))
    assert wire(finished) == [SendToolOutput("c1", OUT), CREATE]
    assert d.phase() is Phase.THINKING
    rest = follow_up(d)
    assert notices(rest, "answer_started")[0].fields["follow_up"] is True
    assert not notices(rest, "response_ignored")
    assert d.phase() is Phase.HANDSFREE and d.state.handsfree  # the conversation goes on
    assert len(runs(d)) == 1


def test_speech_while_a_hands_free_tool_runs_barges_in_and_the_server_cancels() -> None:
    d = Driver()
    handsfree_calling(d)
    acts = d.send(SpeechStarted(), after=0.5)
    assert d.phase() is Phase.HANDSFREE
    assert notices(acts, "barge_in")[0].fields["by"] == "speech"
    assert SendResponseCancel() not in acts
    finished = d.send(ToolFinished("c1", OUT))
    assert wire(finished) == [SendToolOutput("c1", OUT)]  # told, not followed up
    d.send(SpeechStopped(), after=1)
    d.send(Committed())
    rest = follow_up(d, "r3", "i3")  # the server answers the new speech
    assert notices(rest, "answer_started")[0].fields["follow_up"] is False
    assert d.phase() is Phase.HANDSFREE and len(runs(d)) == 1


# --------------------------------------------------------------------------- link drops


@pytest.mark.parametrize(("ok", "sound"), [(True, "confirm"), (False, "error")])
def test_a_link_drop_while_the_tool_runs_rests_and_is_not_asked_again(
        ok: bool, sound: str) -> None:
    d = Driver()
    calling(d)
    down = d.send(LinkDown("gone"), after=0.5)
    assert d.phase() is Phase.IDLE and wire(down) == []
    finished = d.send(ToolFinished("c1", OUT, ok=ok), after=0.5)
    assert wire(finished) == []
    unsent = notices(finished, "tool_output_unsent")[0]
    assert unsent.fields["call_id"] == "c1" and unsent.fields["ok"] is ok
    assert sound in sounds(finished)
    mark = len(d.log)
    up = d.send(LinkUp(), after=1.0)
    assert not [a for a in wire(up) if isinstance(a, SendCommit | SendResponseCreate)]
    d.send(Tick(), after=30.0)
    assert not any(isinstance(a, SendToolOutput | SendCommit | SendResponseCreate)
                   for a in all_wire(d, mark))
    assert len(runs(d)) == 1
    d.drain()


def test_a_tool_finishing_after_reconnect_is_not_told_on_the_new_session() -> None:
    d = Driver()
    calling(d, done=False)  # the calling answer is still running when the link drops
    d.send(LinkDown("gone"))
    assert d.phase() is Phase.IDLE
    up = d.send(LinkUp(), after=1.0)
    assert not [a for a in wire(up) if isinstance(a, SendCommit | SendResponseCreate)]
    finished = d.send(ToolFinished("c1", OUT), after=0.5)
    assert wire(finished) == []
    assert notices(finished, "tool_output_unsent") and "confirm" in sounds(finished)
    assert len(runs(d)) == 1
    d.drain()


def test_a_link_drop_while_the_rest_of_the_answer_is_awaited_is_not_asked_again() -> None:
    d = Driver()
    calling(d)
    d.send(ToolFinished("c1", OUT))
    assert d.phase() is Phase.THINKING
    d.send(LinkDown("gone"))
    assert d.phase() is Phase.IDLE
    mark = len(d.log)
    d.send(LinkUp(), after=1.0)
    d.send(Tick(), after=30.0)
    assert all_wire(d, mark) == []
    d.drain()


def test_a_link_drop_during_the_spoken_part_of_a_calling_answer_asks_nothing_more() -> None:
    d = Driver()
    ptt_turn(d)
    d.send(ResponseStarted("r1"))
    d.send(AnswerAudio("r1", "i1", pcm(800)))
    d.send(call("r1", "c1"))
    d.send(ToolFinished("c1", OUT))
    down = d.send(LinkDown("gone"))
    assert notices(down, "answer_cut") and notices(down, "tool_output_unsent")
    assert "confirm" in sounds(down) and d.phase() is Phase.SPEAKING  # the words play out
    d.send(LinkUp(), after=0.3)
    idle = d.send(PlaybackIdle(), after=0.5)
    assert "error" in sounds(idle) and d.phase() is Phase.IDLE
    assert not any(isinstance(a, SendToolOutput | SendResponseCreate) for a in wire(idle))
    d.drain()


def test_a_link_drop_while_a_hands_free_tool_runs_ends_the_talk_out_loud() -> None:
    d = Driver()
    handsfree_calling(d)
    down = d.send(LinkDown("gone"))
    assert notices(down, "handsfree_ended") and "error" in sounds(down)
    assert d.phase() is Phase.IDLE and not d.state.handsfree
    finished = d.send(ToolFinished("c1", OUT))
    assert wire(finished) == [] and notices(finished, "tool_output_unsent")
    d.send(LinkUp(), after=1.0)
    d.drain()


# --------------------------------------------------------------------------- more rounds


def test_the_rest_of_the_answer_may_call_again_for_a_second_round() -> None:
    d = Driver()
    calling(d)
    d.send(ToolFinished("c1", OUT))
    d.send(ResponseStarted("r2"))
    acts = d.send(call("r2", "c2", name="set_alarm"))
    assert RunTool("c2", "set_alarm", ARGS) in acts and d.phase() is Phase.TOOLS
    assert notices(acts, "tool_call")[0].fields["round"] == 2
    assert wire(d.send(ResponseDone("r2"))) == []
    assert wire(d.send(ToolFinished("c2", OUT))) == [SendToolOutput("c2", OUT), CREATE]
    rest = follow_up(d, "r3", "i3")
    assert notices(rest, "answer_started")[0].fields == {
        "response_id": "r3", "turn": 1, "follow_up": True}
    assert d.phase() is Phase.IDLE
    d.monitor.assert_turns_resolved()
    d.drain()


def test_a_model_that_keeps_calling_is_stopped_after_max_tool_rounds() -> None:
    d = Driver()
    ptt_turn(d)
    for n in range(1, MAX_TOOL_ROUNDS + 1):
        d.send(ResponseStarted(f"r{n}"))
        assert RunTool(f"c{n}", "set_timer", ARGS) in d.send(call(f"r{n}", f"c{n}"))
        d.send(ResponseDone(f"r{n}"))
        assert wire(d.send(ToolFinished(f"c{n}", OUT))) == [SendToolOutput(f"c{n}", OUT),
                                                           CREATE]
    last = f"r{MAX_TOOL_ROUNDS + 1}"
    cid = f"c{MAX_TOOL_ROUNDS + 1}"
    d.send(ResponseStarted(last))
    acts = d.send(call(last, cid))
    assert not [a for a in acts if isinstance(a, RunTool)]
    assert notices(acts, "tool_call")[0].fields["run"] is False
    assert notices(acts, "tool_call")[0].fields["round"] == MAX_TOOL_ROUNDS + 1
    done = d.send(ResponseDone(last))
    outputs = [a for a in wire(done) if isinstance(a, SendToolOutput)]
    assert [o.call_id for o in outputs] == [cid]
    assert "error" in json.loads(outputs[0].output)
    assert not creates(done)
    assert notices(done, "answer_failed") and "error" in sounds(done)
    assert d.phase() is Phase.IDLE and len(runs(d)) == MAX_TOOL_ROUNDS
    d.monitor.assert_turns_resolved()
    d.drain()


def test_a_new_turn_starts_counting_rounds_again() -> None:
    d = Driver()
    calling(d)
    d.send(ToolFinished("c1", OUT))
    follow_up(d)
    ptt_turn(d)
    d.send(ResponseStarted("r3"))
    acts = d.send(call("r3", "c3"))
    assert notices(acts, "tool_call")[0].fields["round"] == 1
    assert notices(acts, "tool_call")[0].fields["turn"] == 2


# --------------------------------------------------------------------------- cost, refusals


def test_a_follow_up_costs_nothing_more_but_the_next_turn_is_still_guarded() -> None:
    d = Driver(Settings(responses_per_minute=1))
    calling(d)
    finished = d.send(ToolFinished("c1", OUT))
    assert CREATE in wire(finished) and not notices(finished, "cost_guard")
    rest = follow_up(d)
    assert notices(rest, "answer_started") and d.phase() is Phase.IDLE
    d.press(pcm(300), after=1.0)
    refused = d.send(PttUp(), after=1.0)
    assert notices(refused, "cost_guard") and "error" in sounds(refused)
    assert not creates(refused) and d.phase() is Phase.IDLE


def test_a_refused_follow_up_request_fails_the_turn_out_loud() -> None:
    d = Driver()
    calling(d)
    [ask] = creates(d.send(ToolFinished("c1", OUT)))
    acts = d.send(ServerError("invalid_value", "bad", ask.event_id))
    failed = notices(acts, "answer_failed")[0]
    assert failed.fields["turn"] == 1 and "error" in sounds(acts)
    assert SendResponseCancel() not in acts and d.phase() is Phase.IDLE
    d.monitor.assert_turns_resolved()
    d.drain()


def test_an_error_about_another_client_event_leaves_the_round_waiting() -> None:
    d = Driver()
    calling(d)
    d.send(ToolFinished("c1", OUT))
    acts = d.send(ServerError("invalid_value", "bad truncate", "edged_other_7"))
    assert notices(acts, "server_error") and not notices(acts, "answer_failed")
    assert "error" not in sounds(acts) and d.phase() is Phase.THINKING
    rest = follow_up(d)
    assert notices(rest, "answer_started")[0].fields["follow_up"] is True


def test_an_error_about_another_event_while_the_tool_runs_leaves_it_running() -> None:
    d = Driver()
    calling(d)
    acts = d.send(ServerError("invalid_value", "bad", "edged_other_7"))
    assert not notices(acts, "answer_failed") and d.phase() is Phase.TOOLS
    assert wire(d.send(ToolFinished("c1", OUT))) == [SendToolOutput("c1", OUT), CREATE]


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize("tool_timeout_s", [5.0, 30.0])
def test_a_tool_that_never_reports_ends_in_no_answer_and_its_late_output_is_told(
        tool_timeout_s: float) -> None:
    d = Driver(Settings(tool_timeout_s=tool_timeout_s))
    ptt_turn(d)
    d.send(ResponseStarted("r1"))
    d.send(call("r1", "c1"))
    called_at = d.t
    d.send(ResponseDone("r1"), after=0.5)
    wait = max(d.settings.answer_timeout_s, tool_timeout_s + TOOL_GRACE_S)
    early = d.send(Tick(), after=called_at + wait - 0.1 - d.t)
    assert not notices(early, "no_answer") and d.phase() is Phase.TOOLS
    late = d.send(Tick(), after=0.1)
    assert notices(late, "no_answer")[0].fields["turn"] == 1
    assert "error" in sounds(late) and d.phase() is Phase.IDLE
    assert wire(late) == []
    told = d.send(ToolFinished("c1", OUT), after=3.0)
    assert wire(told) == [SendToolOutput("c1", OUT)]  # no request for an answer now
    assert d.phase() is Phase.IDLE
    d.monitor.assert_turns_resolved()
    d.drain()


def test_the_tool_wait_is_a_deadline_for_tick() -> None:
    d = Driver()
    calling(d, done=False)
    wait = max(d.settings.answer_timeout_s, d.settings.tool_timeout_s + TOOL_GRACE_S)
    assert d.conv.next_deadline() == pytest.approx(d.t + wait)


def test_a_follow_up_that_never_starts_ends_in_no_answer() -> None:
    d = Driver()
    calling(d)
    d.send(ToolFinished("c1", OUT))
    early = d.send(Tick(), after=d.settings.answer_timeout_s - 0.1)
    assert not notices(early, "no_answer") and d.phase() is Phase.THINKING
    late = d.send(Tick(), after=0.1)
    assert notices(late, "no_answer")[0].fields["turn"] == 1
    assert "error" in sounds(late) and d.phase() is Phase.IDLE
    d.drain()


def test_a_second_report_of_the_same_call_is_ignored() -> None:
    d = Driver()
    calling(d)
    d.send(ToolFinished("c1", OUT))
    assert d.send(ToolFinished("c1", '{"again": 1}')) == []
    assert d.send(ToolFinished("unknown", OUT)) == []
