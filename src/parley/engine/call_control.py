"""Built-in call-control tools: `end_call` and `transfer_call` (telephony).

They are ordinary tools to the engine: defined without an `endpoint`, so the engine
announces each call to the transport (`ToolCallEvent`) and waits for its result, exactly
as for a client-side tool. The telephony transport is that client: it answers at once
(so the model says its goodbye, or that it is transferring) and acts once the reply has
played out — it hangs up, or hands the call to Twilio's REST API. The engine needs no
change for them; an operator enables them per phone route (README "Telephony").

    LLM ─ end_call ─▶ ToolCallEvent ─▶ transport: result now, `pending = HANG_UP`
    … goodbye spoken, played (marks echoed) … assistant turn_end ─▶ transport acts
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley.store.records import ToolDef

END_CALL = "end_call"
TRANSFER_CALL = "transfer_call"
BUILT_INS = (END_CALL, TRANSFER_CALL)


def end_call_tool() -> ToolDef:
    return ToolDef(
        name=END_CALL,
        description=(
            "End the phone call. Call it when the caller says goodbye or the conversation "
            "is over; say a short goodbye in the same answer."
        ),
        parameters={"type": "object", "properties": {}, "required": []},
    )


def transfer_call_tool(description: str | None = None) -> ToolDef:
    target = description or "a human colleague"
    return ToolDef(
        name=TRANSFER_CALL,
        description=(
            f"Transfer the phone call to {target}. Call it when the caller asks for a "
            "person or you cannot help; tell the caller you are transferring them."
        ),
        parameters={"type": "object", "properties": {}, "required": []},
    )


def built_in_tools(
    end_call: bool, transfer_to: str | None, transfer_label: str | None
) -> list[ToolDef]:
    """The built-ins a route enables, to add to the session's tools."""
    tools: list[ToolDef] = []
    if end_call:
        tools.append(end_call_tool())
    if transfer_to:
        tools.append(transfer_call_tool(transfer_label))
    return tools


@dataclass(frozen=True)
class Decision:
    """What the transport answers the model, and what it does after the reply."""

    result: Any
    error: str | None
    action: str | None  # END_CALL | TRANSFER_CALL | None


class CallControl:
    """One call's built-in tools: the answer to each call, and the action pending until
    the reply that made it has played out."""

    def __init__(self, transfer_to: str | None, can_transfer: bool) -> None:
        self.transfer_to = transfer_to
        self.can_transfer = can_transfer  # the REST API is configured and the call known
        self.pending: str | None = None

    def call(self, name: str) -> Decision:
        if name == END_CALL:
            self.pending = END_CALL
            return Decision({"status": "the call ends after your goodbye"}, None, END_CALL)
        if name == TRANSFER_CALL:
            if not self.transfer_to or not self.can_transfer:
                return Decision(None, "transferring is not available on this line", None)
            if self.pending != END_CALL:
                self.pending = TRANSFER_CALL
            return Decision(
                {"status": "the transfer starts after you tell the caller"}, None, TRANSFER_CALL
            )
        return Decision(None, f"there is no built-in tool named {name!r}", None)

    def take(self) -> str | None:
        """The pending action, once (the reply that asked for it is over)."""
        action, self.pending = self.pending, None
        return action
