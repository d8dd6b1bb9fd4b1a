"""Control messages on the stream (client → server JSON), mapped to engine calls.

Every message is `{"type": …}`; unknown or malformed ones get an `error` event and
the session goes on.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from parley.api.context import ServerContext
from parley.engine.conversation import Conversation

MAX_TEXT = 4000


class Client(Protocol):
    def send_error(self, code: str, message: str) -> None: ...


Handler = Callable[[ServerContext, Conversation, Client, dict[str, Any]], Awaitable[None]]


def _text_field(msg: dict[str, Any], field: str, client: Client) -> str | None:
    value = msg.get(field)
    if not isinstance(value, str) or not value.strip():
        client.send_error(
            "invalid_message", f"'{msg.get('type')}' needs a non-empty string '{field}'."
        )
        return None
    if len(value) > MAX_TEXT:
        client.send_error("invalid_message", f"'{field}' is longer than {MAX_TEXT} characters.")
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


HANDLERS: dict[str, Handler] = {
    "keep_alive": _keep_alive,
    "KeepAlive": _keep_alive,
    "inject_user_message": _inject_user_message,
}


async def handle_text(ctx: ServerContext, conv: Conversation, client: Client, text: str) -> None:
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
    await handler(ctx, conv, client, msg)


async def on_connect(ctx: ServerContext, conv: Conversation, client: Client, created: bool) -> None:
    """Things that happen as a stream connects (an agent's greeting comes here)."""
    return None
