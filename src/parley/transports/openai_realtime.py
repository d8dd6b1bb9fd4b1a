"""OpenAI's Realtime API (GA dialect, a subset): `GET /v1/realtime?model=…` (WebSocket).

Each socket is a Parley conversation, created on connect (`session.created` names it).
JSON events in map to engine calls here; engine events map to Realtime server events in
`openai_realtime_events.py`. Server VAD is Parley's own turn-taking. The README lists
what is supported and what is not; what is not gets an `error` event, and the session
goes on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from parley import ids
from parley.api.context import ServerContext, get_context
from parley.api.routes.agents import DEFAULT_CONTEXT_WINDOW
from parley.audio.codecs import CodecError
from parley.audio.wire import ENGINE_RATE, WireAudio
from parley.engine import events as ev
from parley.engine.conversation import Conversation
from parley.providers.stt.base import STTError
from parley.transports.deepgram_settings import DEFAULT_PROMPT
from parley.transports.held_audio import HeldReply
from parley.transports.native import CLOSE_NORMAL, Connection, _deny, close_for
from parley.transports.openai_realtime_events import RealtimeEvents, error_event
from parley.transports.openai_realtime_session import FORMATS, Invalid, as_dict, session_update
from parley.transports.params import StreamParams
from parley.transports.registry import LiveHandle

log = logging.getLogger("parley.transport.openai")
router = APIRouter()

KEY_PROTOCOL = "openai-insecure-api-key."
MAX_TEXT = 4000
# Parley cuts (or pauses) a reply itself when the user speaks: clients must not cancel
TURN_DETECTION = {"type": "server_vad", "create_response": True, "interrupt_response": True}


class RealtimeConnection(Connection):
    def __init__(self, websocket: WebSocket) -> None:
        super().__init__(websocket, StreamParams(sample_rate=24000))
        self.wire_out = WireAudio("pcm16", 24000)
        self.events = RealtimeEvents(self.send)
        self.formats = {"input": "audio/pcm", "output": "audio/pcm"}
        self.held = HeldReply()  # a paused reply's audio, sent again on resume

    def send(self, message: dict[str, Any]) -> None:
        self._put(json.dumps(message))

    def set_format(self, direction: str, kind: str) -> None:
        self.formats[direction] = kind
        wire = WireAudio(*FORMATS[kind])
        if direction == "input":
            self.wire = wire
        else:
            self.wire_out = wire

    async def event(self, event: ev.Event) -> None:
        self.events.map(event)
        if isinstance(event, ev.ReplyPaused):  # the client flushes at speech_started
            self.held.pause(event.played_ms)
            self.wire_out.end(cut=True)
        elif isinstance(event, ev.ReplyResumed):
            await self.audio(np.zeros(0, np.int16), 0)
        if isinstance(event, ev.ToolCallEvent):
            # parallel calls are announced back to back: close the response after them
            asyncio.get_running_loop().call_soon(self.events.close)
        if isinstance(event, ev.SessionEnded):
            await self.close(*close_for(event.reason))

    async def audio(self, samples: np.ndarray, sample_rate: int) -> None:
        if (resend := self.held.take_resend()) is not None:  # resumed: what was flushed
            self.events.audio(self.wire_out.encode(*resend))
        if len(samples):
            self.held.add(samples, sample_rate)
            self.events.audio(self.wire_out.encode(samples, sample_rate))

    async def audio_end(self, cut: bool) -> None:
        self.held.end()
        self.events.audio_end(self.wire_out.end(cut), cut)

    def _error_message(self, code: str, message: str) -> None:
        self.send(error_event(self.events.event_id(), code, message))


def _offered_key(websocket: WebSocket) -> tuple[str | None, str | None]:
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    reply = "realtime" if "realtime" in offered else None
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), reply
    key = next((p[len(KEY_PROTOCOL) :] for p in offered if p.startswith(KEY_PROTOCOL)), None)
    return key, reply


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket) -> None:
    ctx = get_context(websocket)
    key, subprotocol = _offered_key(websocket)
    account = await ctx.store.keys.authenticate(key) if key else None
    if account is None:
        why = (
            "Missing API key: send 'Authorization: Bearer <key>'."
            if not key
            else "Invalid API key."
        )
        await _deny(websocket, 401, why, None)
        return
    voice = ctx.voices.example_for("en") or next(iter(ctx.voices), None)
    if voice is None:
        await _deny(websocket, 503, "No voice is installed on this server.", None)
        return
    record = await ctx.store.conversations.create(
        account_id=account,
        voice_id=voice.voice_id,
        system_prompt=DEFAULT_PROMPT,
        language="en",
        tools=[],
        context_window=DEFAULT_CONTEXT_WINDOW,
        max_turns=None,
        metadata={"protocol": "openai-realtime"},
    )
    await websocket.accept(subprotocol=subprotocol)
    conn = RealtimeConnection(websocket)
    handle = LiveHandle(record.id, conn.close)
    await ctx.live.take_over(handle, "replaced by a newer connection")
    try:
        conv, _ = await ctx.sessions.attach(record, conn, 0.5)
    except STTError as exc:
        conn.send_error(exc.code, exc.message)
        await conn.close(1011, "speech recognition unavailable")
        ctx.live.release(handle)
        return
    session = RealtimeSession(ctx, conn, conv, websocket.query_params.get("model", "parley"))
    conn.events.emit("session.created", session=session.shape())
    try:
        await session.run()
    finally:
        ctx.sessions.detach(conv, conn)
        await ctx.sessions.end(conv.id, "disconnected")
        ctx.live.release(handle)
        if not conn.closing:
            await conn.close(CLOSE_NORMAL, "closed")
        await conn.stop()


class RealtimeSession:
    def __init__(
        self, ctx: ServerContext, conn: RealtimeConnection, conv: Conversation, model: str
    ) -> None:
        self.ctx = ctx
        self.conn = conn
        self.conv = conv
        self.model = model[:100]
        self.pending_text: list[str] = []  # user text items waiting for response.create
        self.openai_voice: str | None = None

    def shape(self) -> dict[str, Any]:
        tools = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
            }
            for t in self.conv.record.tools
        ]
        fmt = {
            k: {"type": v, **({"rate": 24000} if v == "audio/pcm" else {})}
            for k, v in self.conn.formats.items()
        }
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.conv.id,
            "model": self.model,
            "instructions": self.conv.system_prompt,
            "output_modalities": ["audio"],
            "tools": tools,
            "audio": {
                "input": {"format": fmt["input"], "turn_detection": TURN_DETECTION},
                "output": {
                    "format": fmt["output"],
                    "voice": self.openai_voice or self.conv.persona.voice_id,
                },
            },
        }

    async def run(self) -> None:
        while True:
            try:
                message = await self.conn.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            if (text := message.get("text")) is not None:
                await self.text(text)
            elif message.get("bytes") is not None:
                self.error(
                    "invalid_request_error", "Send audio as input_audio_buffer.append events."
                )

    def error(self, code: str, message: str, param: str | None = None, event: Any = None) -> None:
        client_event = event.get("event_id") if isinstance(event, dict) else None
        self.conn.send(error_event(self.conn.events.event_id(), code, message, param, client_event))

    async def text(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            self.error("invalid_json", "Events must be JSON objects.")
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self.error("invalid_event", "An event needs a string 'type'.", "type")
            return
        handler = HANDLERS.get(msg["type"])
        if handler is None:
            self.error("unknown_event", f"Unsupported event type {msg['type']!r}.", "type", msg)
            return
        try:
            await handler(self, msg)
        except Invalid as exc:
            self.error(exc.code, exc.message, exc.param, msg)


async def _append(s: RealtimeSession, msg: dict[str, Any]) -> None:
    audio = msg.get("audio")
    if not isinstance(audio, str):
        raise Invalid("invalid_value", "'audio' must be base64 audio.", "audio")
    try:
        data = base64.b64decode(audio, validate=True)
        samples = s.conn.decode(data)
    except (binascii.Error, ValueError, CodecError) as exc:
        raise Invalid(
            "invalid_value", f"'audio' is not base64 audio in the session's format: {exc}", "audio"
        ) from exc
    s.conn.events.heard_ms += int(len(samples) * 1000 / ENGINE_RATE)
    s.conv.feed_audio(samples)


async def _clear(s: RealtimeSession, msg: dict[str, Any]) -> None:
    s.conn.events.emit("input_audio_buffer.cleared")


async def _commit(s: RealtimeSession, msg: dict[str, Any]) -> None:
    raise Invalid(
        "unsupported_event",
        "Manual commit is not supported: Parley's server VAD commits the user's turns.",
    )


async def _item_create(s: RealtimeSession, msg: dict[str, Any]) -> None:
    item = as_dict(msg.get("item"), "item")
    kind = item.get("type")
    if kind == "function_call_output":
        call_id, output = item.get("call_id"), item.get("output")
        if not isinstance(call_id, str) or not isinstance(output, str):
            raise Invalid(
                "invalid_value", "function_call_output needs string 'call_id' and 'output'.", "item"
            )
        s.conn.events.close()  # the response that asked for the call is over
        try:
            result: Any = json.loads(output)
        except (json.JSONDecodeError, RecursionError):
            result = output
        if not s.conv.resolve_tool_result(call_id, result, None):
            raise Invalid(
                "invalid_value", f"No function call {call_id!r} is waiting.", "item.call_id"
            )
        stored = _item(item, kind, call_id=call_id, output=output)
    elif kind == "message" and item.get("role") == "user":
        parts = item.get("content")
        texts = (
            [p.get("text") for p in parts if isinstance(p, dict) and p.get("type") == "input_text"]
            if isinstance(parts, list)
            else []
        )
        text = " ".join(t.strip() for t in texts if isinstance(t, str) and t.strip())
        if not text or len(text) > MAX_TEXT:
            raise Invalid(
                "invalid_value",
                f"A user message needs input_text content (1-{MAX_TEXT} characters).",
                "item.content",
            )
        s.pending_text.append(text)
        content = [{"type": "input_text", "text": text}]
        stored = _item(item, "message", role="user", content=content)
    else:
        raise Invalid(
            "unsupported_event",
            "Supported items: user messages (input_text) and function_call_output.",
            "item.type",
        )
    s.conn.events.emit("conversation.item.added", item=stored, previous_item_id=None)
    s.conn.events.emit("conversation.item.done", item=stored, previous_item_id=None)


def _item(item: dict[str, Any], kind: str, **fields: Any) -> dict[str, Any]:
    given = item.get("id")
    item_id = given[:64] if isinstance(given, str) and given else ids.new_id("item")
    return {"id": item_id, "object": "realtime.item", "type": kind, "status": "completed", **fields}


async def _response_create(s: RealtimeSession, msg: dict[str, Any]) -> None:
    if s.conn.events.response is not None:
        raise Invalid(
            "conversation_already_has_active_response",
            f"The conversation has an active response: {s.conn.events.response.id}.",
        )
    if s.pending_text:
        text, s.pending_text = " ".join(s.pending_text), []
        s.conn.events.typed_turns = 1
        try:
            await s.conv.inject_user_message(text)
        finally:
            s.conn.events.typed_turns = 0
        return
    if not s.conv.busy:  # after function_call_output the engine goes on by itself
        raise Invalid("unsupported_event", "response.create needs a new user message first.")


async def _truncate(s: RealtimeSession, msg: dict[str, Any]) -> None:
    item_id, end = msg.get("item_id"), msg.get("audio_end_ms")
    if not isinstance(item_id, str) or not isinstance(end, int) or isinstance(end, bool) or end < 0:
        raise Invalid(
            "invalid_value", "truncate needs 'item_id' and a non-negative 'audio_end_ms'."
        )
    # Parley stores what was heard of a cut reply already: acknowledge
    s.conn.events.emit(
        "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=end
    )


async def _response_cancel(s: RealtimeSession, msg: dict[str, Any]) -> None:
    events = s.conn.events
    heard = s.conv.cancel_reply()
    if heard is None and events.response is None:
        raise Invalid("response_cancel_not_active", "There is no active response to cancel.")
    if heard:  # the cut turn is stored and its TurnEnd closes the response
        events.cancel_reason = "client_cancelled"
    else:
        events.close("cancelled", "client_cancelled")


HANDLERS = {
    "response.cancel": _response_cancel,
    "session.update": session_update,
    "input_audio_buffer.append": _append,
    "input_audio_buffer.clear": _clear,
    "input_audio_buffer.commit": _commit,
    "conversation.item.create": _item_create,
    "conversation.item.truncate": _truncate,
    "response.create": _response_create,
}
