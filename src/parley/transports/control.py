"""Control messages on the stream (client → server JSON), mapped to engine calls.

Every message is `{"type": …}`; unknown or malformed ones get an `error` event and
the session goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from parley.api.context import ServerContext
from parley.engine.conversation import Conversation

MAX_TEXT = 4000
log = logging.getLogger("parley.transport")


class Client(Protocol):
    def send_error(self, code: str, message: str) -> None: ...


Handler = Callable[[ServerContext, Conversation, Client, dict[str, Any]], Awaitable[None]]


def _text_field(
    msg: dict[str, Any], field: str, client: Client, limit: int = MAX_TEXT
) -> str | None:
    value = msg.get(field)
    if not isinstance(value, str) or not value.strip():
        client.send_error(
            "invalid_message", f"'{msg.get('type')}' needs a non-empty string '{field}'."
        )
        return None
    if len(value) > limit:
        client.send_error("invalid_message", f"'{field}' is longer than {limit} characters.")
        return None
    return value.strip()


async def _keep_alive(
    ctx: ServerContext, conv: Conversation, client: Client, msg: dict[str, Any]
) -> None:
    return None


async def _inject_user_message(
    ctx: ServerContext, conv: Conversation, client: Client, msg: dict[str, Any]
) -> None:
    text = _text_field(msg, "text", client)
    if text is not None:
        await conv.inject_user_message(text)


async def _inject_agent_message(
    ctx: ServerContext, conv: Conversation, client: Client, msg: dict[str, Any]
) -> None:
    text = _text_field(msg, "text", client)
    if text is not None:
        await conv.inject_agent_message(text)


async def _update_prompt(
    ctx: ServerContext, conv: Conversation, client: Client, msg: dict[str, Any]
) -> None:
    prompt = _text_field(msg, "prompt", client, limit=100_000)
    if prompt is not None:
        await conv.update_prompt(prompt)


async def _update_voice(
    ctx: ServerContext, conv: Conversation, client: Client, msg: dict[str, Any]
) -> None:
    voice_id = _text_field(msg, "voice_id", client)
    if voice_id is None:
        return
    await conv.update_voice(voice_id)


async def _tool_result(
    ctx: ServerContext, conv: Conversation, client: Client, msg: dict[str, Any]
) -> None:
    call_id = msg.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        client.send_error("invalid_message", "'tool_result' needs a string 'call_id'.")
        return
    error = msg.get("error")
    if error is not None and not isinstance(error, str):
        client.send_error("invalid_message", "'error' must be a string.")
        return
    if "result" not in msg and error is None:
        client.send_error("invalid_message", "'tool_result' needs a 'result' (or an 'error').")
        return
    if not conv.resolve_tool_result(call_id, msg.get("result"), error):
        client.send_error(
            "unknown_call_id",
            f"No tool call {call_id!r} is waiting for a result (unknown, answered, timed out "
            "or cancelled); the result was ignored.",
        )


HANDLERS: dict[str, Handler] = {
    "keep_alive": _keep_alive,
    "KeepAlive": _keep_alive,
    "inject_user_message": _inject_user_message,
    "inject_agent_message": _inject_agent_message,
    "update_prompt": _update_prompt,
    "update_voice": _update_voice,
    "tool_result": _tool_result,
}


# --- permissions (issue 12): who may send what ----------------------------------------
# `scopes` is None for a socket opened with an API key (everything is allowed), or the
# scopes of the stream token that opened it (README "Security": stream tokens).
SCOPE_OF = {"KeepAlive": "keep_alive"}


def permitted(scopes: frozenset[str] | None, kind: str) -> bool:
    return scopes is None or SCOPE_OF.get(kind, kind) in scopes


async def handle_text(
    ctx: ServerContext,
    conv: Conversation,
    client: Client,
    text: str,
    scopes: frozenset[str] | None = None,
) -> None:
    try:
        msg = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        client.send_error("invalid_message", "Text messages must be JSON objects.")
        return
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        client.send_error("invalid_message", "A message needs a string 'type'.")
        return
    handler = HANDLERS.get(msg["type"])
    if handler is None:
        client.send_error(
            "unknown_message_type",
            f"Unknown message type {msg['type']!r}; known: {sorted(HANDLERS)}.",
        )
        return
    if not permitted(scopes, msg["type"]):
        client.send_error(
            "permission_denied",
            f"'{msg['type']}' needs the API key or a stream token with the "
            f"'{SCOPE_OF.get(msg['type'], msg['type'])}' scope; the message was ignored.",
        )
        return
    try:
        await handler(ctx, conv, client, msg)
    except Exception:  # a failing handler (e.g. the database) is an error event, not a 1011
        log.exception("session=%s control message %r failed", conv.id, msg["type"])
        client.send_error(
            "internal_error", f"'{msg['type']}' could not be handled; the session goes on."
        )
