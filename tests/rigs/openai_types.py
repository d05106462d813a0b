"""The official ``openai`` package's event models as a checker for our JSON.

The SDK's models are generated from OpenAI's API spec, independently of both the
simulator and edged's codec. They accept unknown keys, so validation alone would
let a misspelt key through: :func:`undeclared` walks each validated model beside
its JSON and names every key the model does not declare. Shared by the codec's
and the simulator's tests.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from typing import Any

import pydantic
from openai.types.beta import realtime as beta_types
from openai.types.realtime import RealtimeClientEvent as GaClientEvent
from openai.types.realtime import RealtimeServerEvent as GaServerEvent

from edged.realtime.codec import Wire

Model = type[pydantic.BaseModel]


def by_type(union: Any) -> dict[str, Model]:
    """``type`` value → model, for one of the SDK's ``Annotated[Union[...], ...]`` unions."""
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    table: dict[str, Model] = {}
    for model in typing.get_args(union):
        for name in typing.get_args(model.model_fields["type"].annotation):
            table[name] = model
    return table


SERVER: dict[Wire, dict[str, Model]] = {"ga": by_type(GaServerEvent),
                                        "beta": by_type(beta_types.RealtimeServerEvent)}
CLIENT: dict[Wire, dict[str, Model]] = {"ga": by_type(GaClientEvent),
                                        "beta": by_type(beta_types.RealtimeClientEvent)}

# Keys the real servers send that the SDK leaves out of the event's model. The API
# reference's own session.created/updated examples carry the session's ``id`` and
# ``object`` (edged reads the id); the GA event's model is the session *request*, which
# declares neither, and the beta session model has no ``object``.
SDK_GAPS: dict[Wire, dict[str, frozenset[str]]] = {
    "ga": {t: frozenset({"session.id", "session.object"})
           for t in ("session.created", "session.updated")},
    "beta": {t: frozenset({"session.object"}) for t in ("session.created", "session.updated")},
}


def undeclared(model: object, data: object, path: str = "") -> list[str]:
    """The JSON paths of keys in ``data`` that the validated ``model`` does not declare."""
    found: list[str] = []
    if isinstance(model, pydantic.BaseModel) and isinstance(data, Mapping):
        fields = type(model).model_fields
        names = {name: name for name in fields}
        names.update({f.alias: name for name, f in fields.items() if f.alias})
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if key in names:
                found += undeclared(getattr(model, names[key]), value, where)
            else:
                found.append(where)
    elif isinstance(model, list) and isinstance(data, list):
        for i, (item, value) in enumerate(zip(model, data, strict=True)):
            found += undeclared(item, value, f"{path}[{i}]")
    return found


def check(table: Mapping[str, Model], event: Mapping[str, Any],
          gaps: Mapping[str, frozenset[str]] | None = None) -> None:
    """Fail unless ``event`` validates against the SDK model of its type, key for key."""
    kind = event.get("type")
    model = table.get(kind) if isinstance(kind, str) else None
    assert model is not None, f"the SDK has no event of type {kind!r}"
    try:
        validated = model.model_validate(event)
    except pydantic.ValidationError as exc:
        raise AssertionError(f"{kind}: the SDK's {model.__name__} refuses it:\n{exc}\n"
                             f"{json.dumps(event)[:2000]}") from None
    allowed = (gaps or {}).get(str(kind), frozenset())
    extra = [path for path in undeclared(validated, event) if path not in allowed]
    assert not extra, f"{kind}: keys the SDK's {model.__name__} does not declare: {extra}"
