"""Between the conversation machine's vocabulary and the realtime protocol's. Pure.

The machine speaks of turns, answers and playback; the link speaks the wire
protocol's events. Keeping the mapping here, as plain values in and out, is what
lets both sides be tested without the other.
"""

from __future__ import annotations

from edged.conversation import (
    Action,
    AnswerAudio,
    AnswerAudioDone,
    Committed,
    Event,
    ResponseDone,
    ResponseStarted,
    SendAppend,
    SendClear,
    SendCommit,
    SendResponseCancel,
    SendResponseCreate,
    SendText,
    SendToolOutput,
    SendTruncate,
    ServerError,
    SpeechStarted,
    SpeechStopped,
    ToolCalled,
)
from edged.realtime import events as rt


def machine_event(event: rt.ServerEvent) -> Event | None:  # noqa: PLR0911 - a table
    """The machine's event for a server event; None for those it has no use for."""
    if isinstance(event, rt.AudioDelta):
        return AnswerAudio(event.response_id, event.item_id, event.pcm)
    if isinstance(event, rt.SpeechStarted):
        return SpeechStarted()
    if isinstance(event, rt.SpeechStopped):
        return SpeechStopped()
    if isinstance(event, rt.AudioCommitted):
        return Committed()
    if isinstance(event, rt.ResponseCreated):
        return ResponseStarted(event.response_id)
    if isinstance(event, rt.AudioDone):
        return AnswerAudioDone(event.response_id, event.item_id)
    if isinstance(event, rt.ResponseDone):
        return ResponseDone(event.response_id, event.status, event.reason)
    if isinstance(event, rt.ErrorEvent):
        return ServerError(event.code, event.message, event.event_id)
    if isinstance(event, rt.FunctionCall):
        return ToolCalled(event.response_id, event.item_id, event.call_id, event.name,
                          event.arguments, event.status)
    return None


def client_event(  # noqa: PLR0911 - one return per action: a table
    action: Action, event_id: str | None = None,
) -> rt.ClientEvent | None:
    """The client event a send action asks for, carrying ``event_id`` (a request's own
    id when it has one); None for actions that are not sends."""
    if isinstance(action, SendAppend):
        return rt.InputAudioAppend(action.pcm, event_id)
    if isinstance(action, SendClear):
        return rt.InputAudioClear(event_id)
    if isinstance(action, SendCommit):
        return rt.InputAudioCommit(event_id)
    if isinstance(action, SendResponseCreate):
        return rt.ResponseCreate(action.event_id)
    if isinstance(action, SendResponseCancel):
        return rt.ResponseCancel(None, event_id)
    if isinstance(action, SendTruncate):
        return rt.ItemTruncate(action.item_id, 0, action.audio_end_ms, event_id)
    if isinstance(action, SendText):
        return rt.ItemCreateText(action.text, event_id)
    if isinstance(action, SendToolOutput):
        return rt.FunctionCallOutput(action.call_id, action.output, event_id)
    return None
