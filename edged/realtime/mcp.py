"""The remote MCP servers a session offers the model, as ``realtime.mcp_servers`` names them.

The realtime API, not the speaker, connects to these servers, so edged only passes each
entry on. What it adds is the server's token, read like the API key (a systemd
credential, else a root-only file), registered with the redactor and sent as the
entry's ``authorization``; and the dialect rule: the beta API has no MCP, so with it
no entry is sent at all. Each reason an entry is left out comes back as a sentence
for the journal; nothing here logs or raises.

Reads files and the environment, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edged.config import McpServerConfig, RealtimeConfig
from edged.realtime import credentials
from edged.realtime.endpoint import resolve_dialect
from edged.realtime.events import McpServer
from edged.redact import register_secret


@dataclass(frozen=True, slots=True)
class McpSetup:
    """What the session carries, and why anything configured is not in it."""

    servers: tuple[McpServer, ...] = ()
    left_out: tuple[str, ...] = ()  # one sentence per server whose token cannot be read
    beta: str | None = None  # set: the dialect has no MCP, so none is sent (and why)


def load_servers(rt: RealtimeConfig, environ: Mapping[str, str] | None = None) -> McpSetup:
    """The entries of ``rt.mcp_servers`` for this config's dialect, tokens read now."""
    if not rt.mcp_servers:
        return McpSetup()
    if resolve_dialect(rt) == "beta":
        return McpSetup(beta=(
            f"realtime.mcp_servers: {len(rt.mcp_servers)} server(s) not offered to the "
            "model: the beta dialect (an Azure preview api_version) has no MCP; use the GA "
            "endpoint (no api_version) to offer them"))
    servers: list[McpServer] = []
    left_out: list[str] = []
    for i, entry in enumerate(rt.mcp_servers):
        try:
            servers.append(_server(entry, environ))
        except credentials.CredentialsError as exc:
            left_out.append(f"realtime.mcp_servers[{i}] ({entry.server_label}): not offered "
                            f"to the model: {exc}")
    return McpSetup(tuple(servers), tuple(left_out))


def _server(entry: McpServerConfig, environ: Mapping[str, str] | None) -> McpServer:
    assert entry.server_label and entry.server_url  # the config's checks make sure of both
    token = None
    if entry.authorization_credential or entry.authorization_file:
        token = credentials.load_secret(  # the API key's own rules: credential, then root-only file
            "MCP token", "authorization file",
            (entry.authorization_credential, entry.authorization_file, None), environ)
        register_secret(token.reveal(), f"mcp:{entry.server_label}")
    return McpServer(entry.server_label, entry.server_url, entry.allowed_tools,
                     entry.require_approval, dict(entry.headers), token)
