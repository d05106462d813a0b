"""The owner's tools and MCP servers in the YAML: lists, named parameters, plain-data
bodies, and every mistake reported as PATH:LINE: key: reason."""

from __future__ import annotations

import textwrap

import pytest

from edged import config
from edged.tools import builtins


def problems(text: str) -> list[str]:
    with pytest.raises(config.ConfigError) as err:
        config.parse(textwrap.dedent(text), "edged.yaml")
    return [str(p) for p in err.value.problems]


GOOD = """\
realtime:
  mcp_servers:
    - server_label: wiki
      server_url: https://mcp.example.org/mcp
      allowed_tools: [ask]
      approve: [ask]
tools:
  command:
    - name: garage_door
      description: Open or close the garage door.
      argv: [/usr/local/bin/garage, --json]
      confirm: button
      parameters:
        action: {enum: [open, close]}
  http:
    - name: light_control
      description: Turn a light on or off.
      method: POST
      url: http://ha.local:8123/api/services/light/{action}
      body: {entity_id: "{entity_id}", transition: 2}
      token_credential: home-assistant-token
      parameters:
        action: {enum: [turn_on, turn_off]}
        entity_id: {description: the light}
        brightness: {type: integer, minimum: 0, maximum: 100, required: false}
"""


def test_a_full_declaration_loads_as_typed_values() -> None:
    cfg = config.parse(GOOD)
    [garage] = cfg.tools.command
    assert garage.argv == ("/usr/local/bin/garage", "--json") and garage.confirm == "button"
    assert garage.parameters["action"].enum == ("open", "close")
    [light] = cfg.tools.http
    assert light.body == {"entity_id": "{entity_id}", "transition": 2}
    assert light.parameters["brightness"] == config.ParameterConfig(
        type="integer", minimum=0, maximum=100, required=False)
    assert cfg.realtime.mcp_servers[0].approve == ("ask",)
    assert config.changed_keys(config.Config(), cfg) == ["realtime.mcp_servers",
                                                         "tools.command", "tools.http"]


def test_the_builtin_names_are_the_speakers_own_tools() -> None:
    from edged.config import ToolsConfig

    class Host:
        def __getattr__(self, name: str) -> object:
            raise AssertionError("not called while listing")

    names = {t.name for t in builtins.builtin_tools(ToolsConfig(), Host())}  # type: ignore[arg-type]
    assert names == config.BUILTIN_TOOL_NAMES


@pytest.mark.parametrize(("text", "expected"), [
    ("tools:\n  command:\n    - description: x\n      argv: [/bin/true]\n",
     "edged.yaml:4: tools.command[0].name: every tool needs a name"),
    ("tools:\n  command:\n    - name: x y\n      description: d\n      argv: [/bin/true]\n",
     "edged.yaml:3: tools.command[0].name: use 1-64 letters"),
    ("tools:\n  command:\n    - name: x\n      argv: [/bin/true]\n",
     "edged.yaml:3: tools.command[0].description: say what the tool does"),
    ("tools:\n  command:\n    - name: x\n      description: d\n      argv: [garage]\n",
     "edged.yaml:5: tools.command[0].argv: the program must be an absolute path"),
    ("tools:\n  command:\n    - name: x\n      description: d\n      argv: /bin/true\n",
     "edged.yaml:5: tools.command[0].argv: expected a list, got a single value"),
    ("tools:\n  command:\n    - name: set_timer\n      description: d\n      argv: [/bin/true]\n",
     "edged.yaml:2: tools.command: 'set_timer' is one of the speaker's own tools"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/{room}\n",
     "edged.yaml:5: tools.http[0].url: {room} names no parameter (parameters: none)"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/\n"
     "      body: {x: '{who}'}\n      parameters: {room: {}}\n",
     "edged.yaml:6: tools.http[0].body: {who} names no parameter (parameters: room)"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/\n"
     "      headers: {Authorization: Bearer x}\n",
     "edged.yaml:6: tools.http[0].headers: must not set Authorization"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: ftp://h/\n",
     "edged.yaml:5: tools.http[0].url: must start with http:// or https://"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/\n"
     "      method: FETCH\n",
     "edged.yaml:6: tools.http[0].method: expected one of 'GET'"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/\n"
     "      parameters: {n: {type: string, minimum: 3}}\n",
     "edged.yaml:6: tools.http[0].parameters.n.minimum: only an integer or number"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/\n"
     "      parameters: {n: {typo: string}}\n",
     "edged.yaml:6: tools.http[0].parameters.n.typo: unknown key; did you mean 'type'?"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/\n"
     "      body: {key: sk-proj-abcdefghijklmnopqrstuvwx}\n",
     "edged.yaml:6: tools.http[0].body: this looks like an API key"),
    ("realtime:\n  mcp_servers:\n    - server_url: https://m/mcp\n",
     "edged.yaml:3: realtime.mcp_servers[0].server_label: every MCP server needs a label"),
    ("realtime:\n  mcp_servers:\n    - server_label: m\n      server_url: http://10.0.0.2/mcp\n",
     "edged.yaml:4: realtime.mcp_servers[0].server_url: must be an https:// URL the API can "
     "reach"),
    ("realtime:\n  mcp_servers:\n    - server_label: m\n      server_url: https://m/\n"
     "      allowed_tools: [a]\n      approve: [b]\n",
     "edged.yaml:6: realtime.mcp_servers[0].approve: 'b' is not in allowed_tools"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/\n"
     "      token_credential: ../../etc/shadow\n",
     "edged.yaml:6: tools.http[0].token_credential: a systemd credential's name"),
    ("credentials:\n  credential: keys/openai\n",
     "edged.yaml:2: credentials.credential: a systemd credential's name"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://u:p@h/\n",
     "edged.yaml:5: tools.http[0].url: must not hold a user or password"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/\n"
     "      headers: {'X Bad': v}\n",
     "edged.yaml:6: tools.http[0].headers: 'X Bad' is not a valid HTTP header name"),
    ("tools:\n  http:\n    - name: a\n      description: d\n      url: http://h/\n"
     "      doctor_arguments: {room: kitchen}\n",
     "edged.yaml:6: tools.http[0].doctor_arguments: a mapping of this tool's parameters"),
])
def test_mistakes_name_the_line_and_key(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_two_mcp_servers_may_not_share_a_label() -> None:
    found = problems("realtime:\n  mcp_servers:\n"
                     "    - {server_label: a, server_url: 'https://m/'}\n"
                     "    - {server_label: a, server_url: 'https://n/'}\n")
    assert found == ["edged.yaml:2: realtime.mcp_servers: the label 'a' is used twice "
                     "(approvals are matched by label)"]


def test_two_tools_may_not_share_a_name() -> None:
    found = problems("tools:\n  command:\n    - {name: a, description: d, argv: [/bin/true]}\n"
                     "  http:\n    - {name: a, description: d, url: 'http://h/'}\n")
    assert found == ["edged.yaml:4: tools.http: the tool name 'a' is used twice"]
