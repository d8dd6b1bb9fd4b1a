"""Which agent answers which phone number: `PARLEY_TWILIO_ROUTES`, a JSON object.

    {"+15551234567": {"agent_id": "agt_…", "greeting": "Thanks for calling Acme.",
                      "end_call": true, "transfer_to": "+15557654321",
                      "transfer_label": "the front desk"},
     "+15550000000": "agt_…"}

Keys are the called number (Twilio's `To`, E.164); a value is an agent id or an object
with `agent_id` and the optional fields above. Anything else is refused with a message
naming the number and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_FIELDS = {"agent_id", "greeting", "end_call", "transfer_to", "transfer_label"}


class RouteConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Route:
    number: str
    agent_id: str
    greeting: str | None = None
    end_call: bool = False
    transfer_to: str | None = None
    transfer_label: str | None = None


def _text(number: str, data: dict[str, object], field: str) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RouteConfigError(f"PARLEY_TWILIO_ROUTES[{number!r}].{field} must be a string.")
    return value.strip()


def _route(number: str, value: object) -> Route:
    if not _E164.match(number):
        raise RouteConfigError(
            f"PARLEY_TWILIO_ROUTES key {number!r} is not an E.164 number such as +15551234567."
        )
    if isinstance(value, str):
        value = {"agent_id": value}
    if not isinstance(value, dict):
        raise RouteConfigError(
            f"PARLEY_TWILIO_ROUTES[{number!r}] must be an agent id or an object."
        )
    unknown = sorted(set(value) - _FIELDS)
    if unknown:
        raise RouteConfigError(
            f"PARLEY_TWILIO_ROUTES[{number!r}] has unknown fields {unknown}; "
            f"known: {sorted(_FIELDS)}."
        )
    agent_id = _text(number, value, "agent_id")
    if agent_id is None:
        raise RouteConfigError(f"PARLEY_TWILIO_ROUTES[{number!r}] needs an 'agent_id'.")
    end_call = value.get("end_call", False)
    if not isinstance(end_call, bool):
        raise RouteConfigError(f"PARLEY_TWILIO_ROUTES[{number!r}].end_call must be true/false.")
    transfer_to = _text(number, value, "transfer_to")
    if transfer_to is not None and not _E164.match(transfer_to):
        raise RouteConfigError(
            f"PARLEY_TWILIO_ROUTES[{number!r}].transfer_to must be an E.164 number."
        )
    return Route(
        number=number,
        agent_id=agent_id,
        greeting=_text(number, value, "greeting"),
        end_call=end_call,
        transfer_to=transfer_to,
        transfer_label=_text(number, value, "transfer_label"),
    )


@lru_cache(maxsize=8)
def parse_routes(raw: str | None) -> dict[str, Route]:
    """The route table (RouteConfigError says what is wrong with it)."""
    if not raw or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RouteConfigError(f"PARLEY_TWILIO_ROUTES is not valid JSON: {exc.msg}.") from exc
    if not isinstance(data, dict):
        raise RouteConfigError("PARLEY_TWILIO_ROUTES must be a JSON object keyed by number.")
    return {number: _route(number, value) for number, value in data.items()}
