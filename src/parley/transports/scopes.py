"""What a stream token lets its holder do on the stream (README "Security").

A socket opened with an API key may send everything. One opened with a stream token may
send only the token's scopes (default `PARLEY_STREAM_TOKEN_SCOPES`: audio, keep_alive,
inject_user_message, tool_result); the check for control messages is in
`control.handle_text`, for audio in `audio_refusal`. A stream token is single use: the
socket it opened hands out a `resume_token` in `session_started`, good for one
reconnection to the same session (with the same scopes), until the session expires or
`PARLEY_RESUME_TOKEN_TTL_S` passes.
"""

from __future__ import annotations

from parley.api.context import ServerContext
from parley.store.records import ConversationRecord
from parley.store.stream_tokens import RESUME_PREFIX, Grant


def audio_refusal(
    scopes: frozenset[str] | None, size: int, max_bytes: int
) -> tuple[str, str] | None:
    """(error code, message) when an audio message is refused, else None."""
    if scopes is not None and "audio" not in scopes:
        return "permission_denied", "This stream token may not send audio; it was ignored."
    if size > max_bytes:
        return (
            "message_too_large",
            f"Audio messages are limited to {max_bytes} bytes; send smaller chunks "
            "(20-100 ms each). The message was dropped.",
        )
    return None


async def resume_token(
    ctx: ServerContext, rec: ConversationRecord, grant: Grant | None
) -> str | None:
    """A single-use token to reconnect with, for a socket a stream token opened."""
    if grant is None:
        return None
    token, _ = await ctx.store.stream_tokens.mint(
        grant.account_id,
        rec.id,
        ctx.settings.resume_token_ttl_s,
        grant.scopes,
        not_after=rec.expires_at,
        prefix=RESUME_PREFIX,
    )
    return token
