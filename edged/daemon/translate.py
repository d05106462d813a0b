"""Between the conversation machine's vocabulary and the realtime protocol's. Pure.

The machine speaks of turns, answers and playback; the link speaks the wire
protocol's events. Keeping the mapping here, as plain values in and out, is what
lets both sides be tested without the other. The one answer edged gives the server
without the machine, an MCP server's request for approval, is decided here too.
"""

from __future__ import annotations

from collections import deque

from edged.config import McpServerConfig
from edged.conversation import (
    Action,
    AnswerAudio,
    AnswerAudioDone,
    Committed,
    Event,
    RemoteToolCalled,
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
    if isinstance(event, rt.McpCall) and event.done:
        return RemoteToolCalled(event.response_id or "", event.item_id, event.name,
                                approval_id=event.approval_request_id, ok=event.error is None)
    return None


def mcp_approval_event(request: rt.McpApprovalRequest,
                       servers: tuple[McpServerConfig, ...]) -> Event:
    """What the machine hears of an approval request: approved, its call is waited for;
    refused, it is settled (the same decision :func:`mcp_approval` sends)."""
    approved = mcp_approval(request, servers, "").approve
    return RemoteToolCalled(request.response_id or "", request.item_id, request.name,
                            pending=approved)


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


def mcp_approval(request: rt.McpApprovalRequest, servers: tuple[McpServerConfig, ...],
                 item_id: str, event_id: str | None = None) -> rt.McpApprovalResponse:
    """The answer to an MCP server's request to run a tool, from the config alone: yes for
    a tool in that server's ``approve`` list (matched by ``server_label``), else no, with
    a reason the model can pass on. Nobody is asked: a speaker has no screen to ask on."""
    for i, server in enumerate(servers):
        if server.server_label != request.server_label:
            continue
        if request.name in server.approve:
            return rt.McpApprovalResponse(request.item_id, True, item_id, None, event_id)
        return rt.McpApprovalResponse(
            request.item_id, False, item_id,
            f"the speaker's owner has not approved {request.name!r} (it is not in "
            f"realtime.mcp_servers[{i}].approve)", event_id)
    return rt.McpApprovalResponse(
        request.item_id, False, item_id,
        f"the speaker has no MCP server labelled {request.server_label!r} "
        "(realtime.mcp_servers)", event_id)


class McpApprovals:
    """Answers each approval request once: the same request arrives as the item added,
    the item done and the response's output item done. Pure: no I/O, no clock."""

    KEEP = 64

    def __init__(self) -> None:
        self._answered: deque[str] = deque(maxlen=self.KEEP)

    def answer(self, request: rt.McpApprovalRequest, servers: tuple[McpServerConfig, ...],
               item_id: str, event_id: str | None = None) -> rt.McpApprovalResponse | None:
        """The answer to send, or None if this request was answered already."""
        if request.item_id in self._answered:
            return None
        self._answered.append(request.item_id)
        return mcp_approval(request, servers, item_id, event_id)
