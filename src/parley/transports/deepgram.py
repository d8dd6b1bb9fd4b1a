"""Deepgram's Voice Agent API v1: `GET /v1/agent/converse` (WebSocket), on Parley's engine.

An app written for Deepgram's agent socket (or its SDK) talks to Parley by changing the
URL and the key. `Welcome` names the session (its `request_id` is the Parley session id);
the client's `Settings` (`deepgram_settings.py`) create the Parley conversation, answered
by `SettingsApplied`; then binary audio flows both ways in the declared formats and JSON
messages map to engine calls (here) and engine events to Deepgram's messages
(`deepgram_events.py`). Bad input gets an `Error` message and the session goes on; ~10 s
without any client message gets an `Error` and the socket closes, as on Deepgram.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from parley import ids
from parley.api.context import ServerContext, get_context
from parley.api.routes.agents import DEFAULT_CONTEXT_WINDOW
from parley.audio.codecs import CodecError
from parley.engine.conversation import Conversation
from parley.providers.stt.base import STTError
from parley.timeutil import utcnow
from parley.transports.deepgram_connection import AgentConnection
from parley.transports.deepgram_events import warning
from parley.transports.deepgram_settings import (
    AgentSetup,
    SettingsError,
    apply_think,
    first_of,
    parse_settings,
    speak_voice,
)
from parley.transports.native import CLOSE_NORMAL, _deny
from parley.transports.registry import LiveHandle

log = logging.getLogger("parley.transport.deepgram")
router = APIRouter()

IDLE_TIMEOUT_S = 10.0  # Deepgram closes a socket that sent nothing for ~10 s
MAX_TEXT = 4000


def _offered_key(websocket: WebSocket) -> tuple[str | None, str | None]:
    """The key (`Authorization: Token|Bearer <key>`, or the `token, <key>` subprotocols
    browsers send) and the subprotocol to answer with (never the key itself)."""
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip(), None
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    offered = [p for p in offered if p]
    for scheme in ("token", "bearer"):
        if scheme in offered and offered.index(scheme) + 1 < len(offered):
            return offered[offered.index(scheme) + 1], scheme
    return websocket.query_params.get("token"), None


@router.websocket("/v1/agent/converse")
async def converse(websocket: WebSocket) -> None:
    ctx = get_context(websocket)
    key, subprotocol = _offered_key(websocket)
    account = await ctx.store.keys.authenticate(key) if key else None
    if account is None:
        message = (
            "Missing API key: send 'Authorization: Token <key>' (or Bearer), or the "
            "subprotocols 'token', '<key>'."
            if not key
            else "Invalid API key."
        )
        await _deny(websocket, 401, message, None)
        return
    await websocket.accept(subprotocol=subprotocol)
    conn = AgentConnection(websocket)
    session = AgentSession(ctx, conn, account, ids.new_id(ids.CONVERSATION))
    conn.send({"type": "Welcome", "request_id": session.id})
    watchdog = asyncio.create_task(_watch_idle(conn))
    try:
        await session.run()
    finally:
        watchdog.cancel()
        await session.finish()


async def _watch_idle(conn: AgentConnection) -> None:
    while not conn.closing:
        left = conn.last_heard + IDLE_TIMEOUT_S - time.monotonic()
        if left > 0:
            await asyncio.sleep(min(left, 1.0))
            continue
        conn.send_error(
            "CLIENT_MESSAGE_TIMEOUT",
            f"No message from the client for {IDLE_TIMEOUT_S:g} s: send audio or KeepAlive.",
        )
        await conn.close(1011, "client message timeout")


class AgentSession:
    """One agent socket: waits for `Settings`, then runs a Parley conversation."""

    def __init__(self, ctx: ServerContext, conn: AgentConnection, account: str, sid: str) -> None:
        self.ctx = ctx
        self.conn = conn
        self.account = account
        self.id = sid
        self.conv: Conversation | None = None
        self.handle: LiveHandle | None = None
        self.bad_audio = 0

    async def run(self) -> None:
        while True:
            try:
                message = await self.conn.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            self.conn.last_heard = time.monotonic()
            data = message.get("bytes")
            if data is not None:
                self.audio(data)
            elif (text := message.get("text")) is not None:
                await self.text(text)

    def audio(self, data: bytes) -> None:
        if self.conv is None:
            self._bad_audio("SETTINGS_REQUIRED", "Send Settings before any audio.")
            return
        try:
            self.conv.feed_audio(self.conn.decode(data))
        except CodecError as exc:
            self._bad_audio("INVALID_AUDIO", str(exc))

    def _bad_audio(self, code: str, description: str) -> None:
        self.bad_audio += 1
        if self.bad_audio <= 3 or self.bad_audio % 100 == 0:  # say so, without flooding
            self.conn.send_error(code, description)

    async def text(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            self.conn.send_error("UNPARSABLE_CLIENT_MESSAGE", "Text messages must be JSON objects.")
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self.conn.send_error("UNPARSABLE_CLIENT_MESSAGE", "A message needs a string 'type'.")
            return
        kind = msg["type"]
        if kind == "KeepAlive":
            return
        if kind == "Settings":
            await self.settings(msg)
            return
        handler = HANDLERS.get(kind)
        if handler is None:
            self.conn.send_error(
                "UNKNOWN_MESSAGE_TYPE",
                f"Unknown message type {kind!r}; known: {sorted([*HANDLERS, *BUILT_IN])}.",
            )
        elif self.conv is None:
            self.conn.send_error("SETTINGS_REQUIRED", f"Send Settings before {kind}.")
        else:
            await handler(self, self.conv, msg)

    async def settings(self, msg: dict[str, Any]) -> None:
        if self.conv is not None:
            self.conn.send_error(
                "SETTINGS_ALREADY_APPLIED",
                "Settings were applied already; use UpdatePrompt, UpdateSpeak or UpdateThink.",
            )
            return
        try:
            setup = await parse_settings(self.ctx, self.account, msg)
        except SettingsError as exc:
            self.conn.send_error(exc.code, exc.description)
            return
        self.conn.configure(setup)
        agent = setup.agent
        record = await self.ctx.store.conversations.create(
            account_id=self.account,
            agent_id=agent.id if agent else None,
            voice_id=setup.voice_id,
            system_prompt=setup.prompt,
            language=setup.language,
            tools=setup.tools,
            context_window=DEFAULT_CONTEXT_WINDOW,
            max_turns=agent.max_turns if agent else None,
            metadata={"protocol": "deepgram", **({"tags": setup.tags} if setup.tags else {})},
            initial_message=setup.greeting,
            expires_at=utcnow() + timedelta(seconds=self.ctx.settings.agent_session_ttl_s)
            if agent
            else None,
            conversation_id=self.id,
        )
        for role, content in setup.history:  # prior history to continue from
            await self.ctx.store.conversations.append_turn(
                record.id, role=role, text=content, timestamp=utcnow(), duration_ms=0
            )
        self.handle = LiveHandle(record.id, self.conn.close)
        await self.ctx.live.take_over(self.handle, "replaced by a newer connection")
        try:
            self.conv, _ = await self.ctx.sessions.attach(record, self.conn, 0.5)
        except STTError as exc:
            self.conn.send_error(exc.code.upper(), exc.message)
            await self.conn.close(1011, "speech recognition unavailable")
            return
        self.conn.send({"type": "SettingsApplied"})
        for code, description in setup.warnings:
            self.conn.send(warning(code, description))
        await self.conv.connected()

    async def finish(self) -> None:
        """The socket is gone: the conversation ends with what was heard."""
        if self.conv is not None:
            self.ctx.sessions.detach(self.conv, self.conn)
            with contextlib.suppress(Exception):
                await self.ctx.sessions.end(self.conv.id, "disconnected")
        if self.handle is not None:
            self.ctx.live.release(self.handle)
        if not self.conn.closing:
            await self.conn.close(CLOSE_NORMAL, "closed")
        await self.conn.stop()


def _text(msg: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = msg.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


async def _inject_user(session: AgentSession, conv: Conversation, msg: dict[str, Any]) -> None:
    content = _text(msg, "content", "message")
    if content is None or len(content) > MAX_TEXT:
        session.conn.send_error(
            "INVALID_MESSAGE", f"InjectUserMessage needs 'content' (1-{MAX_TEXT} characters)."
        )
        return
    # its TurnStart(user) is emitted during the call: not speech, no UserStartedSpeaking
    session.conn.events.typed_turns = 1
    try:
        await conv.inject_user_message(content)
    finally:
        session.conn.events.typed_turns = 0


async def _inject_agent(session: AgentSession, conv: Conversation, msg: dict[str, Any]) -> None:
    message = _text(msg, "message", "content")
    if message is None or len(message) > MAX_TEXT:
        session.conn.send_error(
            "INVALID_MESSAGE", f"InjectAgentMessage needs 'message' (1-{MAX_TEXT} characters)."
        )
        return
    if conv.busy and session.conn.audio_done:
        # AgentAudioDone went out and the reply is being stored: a client that injects
        # right after it is not talking over the agent, so wait for the reply to finish
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(conv.idle(), timeout=2.0)
    await conv.inject_agent_message(message)


async def _update_prompt(session: AgentSession, conv: Conversation, msg: dict[str, Any]) -> None:
    prompt = _text(msg, "prompt")
    if prompt is None:
        session.conn.send_error("INVALID_MESSAGE", "UpdatePrompt needs a non-empty 'prompt'.")
        return
    # Deepgram: "UpdatePrompt will add to – not replace – the current prompt"
    combined = f"{conv.system_prompt}\n\n{prompt}"
    if len(combined) > 100_000:
        session.conn.send_error("INVALID_MESSAGE", "The prompt would exceed 100000 characters.")
        return
    await conv.update_prompt(combined)


async def _update_speak(session: AgentSession, conv: Conversation, msg: dict[str, Any]) -> None:
    setup = AgentSetup(("pcm16", 16000), ("pcm16", 16000), conv.record.language, "", "", [])
    try:
        speak = first_of(msg.get("speak"), "speak", setup)
        voice = speak_voice(session.ctx, speak, conv.record.language, setup)
    except SettingsError as exc:
        session.conn.send_error(exc.code, exc.description)
        return
    for code, description in setup.warnings:
        session.conn.send(warning(code, description))
    await conv.update_voice(voice)


async def _update_think(session: AgentSession, conv: Conversation, msg: dict[str, Any]) -> None:
    setup = AgentSetup(("pcm16", 16000), ("pcm16", 16000), "", "", conv.system_prompt, [])
    try:
        think = first_of(msg.get("think"), "think", setup)
        apply_think(session.ctx, think, setup)
    except SettingsError as exc:
        session.conn.send_error(exc.code, exc.description)
        return
    if "functions" in think:
        setup.warn("UNSUPPORTED_FIELD", "think.functions cannot change during a session; kept.")
    for code, description in setup.warnings:
        session.conn.send(warning(code, description))
    if setup.prompt != conv.system_prompt:
        await conv.update_prompt(setup.prompt)
    session.conn.send({"type": "ThinkUpdated"})


async def _function_result(session: AgentSession, conv: Conversation, msg: dict[str, Any]) -> None:
    call_id, content = msg.get("id"), msg.get("content")
    if not isinstance(call_id, str) or not call_id or not isinstance(content, str):
        session.conn.send_error(
            "INVALID_MESSAGE", "FunctionCallResponse needs a string 'id' and 'content'."
        )
        return
    try:
        result: Any = json.loads(content)
    except (json.JSONDecodeError, RecursionError):
        result = content
    if not conv.resolve_tool_result(call_id, result, None):
        session.conn.send_error(
            "UNKNOWN_FUNCTION_CALL",
            f"No function call {call_id!r} is waiting for a response; it was ignored.",
        )


async def _update_listen(session: AgentSession, conv: Conversation, msg: dict[str, Any]) -> None:
    session.conn.send(
        warning("LISTEN_MODEL_MAPPED", "Parley's configured speech recognition keeps listening.")
    )
    session.conn.send({"type": "ListenUpdated"})


BUILT_IN = ("Settings", "KeepAlive")
HANDLERS = {
    "InjectUserMessage": _inject_user,
    "InjectAgentMessage": _inject_agent,
    "UpdatePrompt": _update_prompt,
    "UpdateSpeak": _update_speak,
    "UpdateThink": _update_think,
    "UpdateListen": _update_listen,
    "FunctionCallResponse": _function_result,
}
