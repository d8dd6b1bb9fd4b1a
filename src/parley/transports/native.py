"""The seed's native stream: `GET /v1/conversations/{session_id}/stream` (WebSocket).

Binary messages carry audio in the negotiated encoding and rate, both ways; text
messages carry JSON events (out) and control messages (in). This module decodes and
encodes, maps messages to engine calls and engine events to JSON; it decides nothing
about turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from parley.api.auth import bearer_token
from parley.api.context import ServerContext, get_context
from parley.api.errors import error_body
from parley.audio.codecs import CodecError
from parley.audio.wire import WireAudio
from parley.engine import events as ev
from parley.engine.conversation import Conversation
from parley.net.redact import public_event
from parley.providers.stt.base import STTError
from parley.store.records import ConversationRecord, TurnRecord
from parley.store.stream_tokens import Grant
from parley.timeutil import utcnow
from parley.transports import control
from parley.transports.native_events import to_json
from parley.transports.params import ParamError, StreamParams
from parley.transports.registry import LiveHandle
from parley.transports.scopes import audio_refusal, resume_token

log = logging.getLogger("parley.transport")
router = APIRouter()

SUBPROTOCOL_TOKEN_PREFIX = "token."
CLOSE_NORMAL = 1000
CLOSE_DELETED = 4000  # the session was ended through the API (DELETE, its agent's changes)
CLOSE_TOO_SLOW = 4008
CLOSE_REPLACED = 4409
MAX_OUTBOX = 4000  # queued messages (≈80 s of 20 ms audio) before a client counts as stuck


# Session end reasons of an agent's change through the API (`api/routes/agents.py`).
ENDED_THROUGH_AGENT = frozenset({"agent_paused", "agent_updated", "agent_deleted"})


def close_for(reason: str) -> tuple[int, str]:
    """The close code and reason of a socket whose session ended with `reason`: 4000 when
    it was ended through the API, 1000 otherwise (README: "Close codes")."""
    if reason == "deleted":
        return CLOSE_DELETED, "session deleted"
    if reason in ENDED_THROUGH_AGENT:
        return CLOSE_DELETED, reason.replace("_", " ")
    return CLOSE_NORMAL, f"session ended: {reason}"


class Connection:
    """One WebSocket connection: the engine's `Sink`, with its own sender task."""

    def __init__(self, websocket: WebSocket, params: StreamParams) -> None:
        self.ws = websocket
        self.params = params
        self.wire = WireAudio(params.encoding, params.sample_rate)
        self._outbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._sender = asyncio.create_task(self._send_loop())
        self.closing = False
        self.close_reason: tuple[int, str] | None = None

    # Sink -----------------------------------------------------------------------

    async def event(self, event: ev.Event) -> None:
        self._put(json.dumps(public_event(to_json(event))))  # no internal URLs (issue 12)
        if isinstance(event, ev.SessionEnded):
            await self.close(*close_for(event.reason))

    async def audio(self, samples: np.ndarray, sample_rate: int) -> None:
        for message in self.wire.encode(samples, sample_rate):
            self._put(message)

    async def audio_end(self, cut: bool) -> None:
        for message in self.wire.end(cut):
            self._put(message)

    def put_event(self, event: ev.Event, **extra: Any) -> None:
        """Queue an event without yielding to the event loop."""
        self._put(json.dumps({**to_json(event), **extra}))

    # ----------------------------------------------------------------------------

    def _put(self, message: str | bytes) -> None:
        if self.closing:
            return
        if self._outbox.qsize() > MAX_OUTBOX:
            log.warning("client too slow to read; closing")
            asyncio.ensure_future(self.close(CLOSE_TOO_SLOW, "client not reading"))
            return
        self._outbox.put_nowait(message)

    async def _send_loop(self) -> None:
        try:
            while (message := await self._outbox.get()) is not None:
                if isinstance(message, bytes):
                    await self.ws.send_bytes(message)
                else:
                    await self.ws.send_text(message)
        except Exception:  # the client went away; the receive loop notices too
            log.debug("send loop ended", exc_info=True)

    def decode(self, message: bytes) -> np.ndarray:
        return self.wire.decode(message)

    def send_error(self, code: str, message: str) -> None:
        """An error about the client's input, in the protocol's own shape (counted)."""
        if (ctx := getattr(self.ws.app.state, "ctx", None)) is not None:
            ctx.runtime.metrics.error(code)
        self._error_message(code, message)

    def _error_message(self, code: str, message: str) -> None:
        self._put(json.dumps({"type": "error", "code": code, "message": message}))

    async def close(self, code: int, reason: str) -> None:
        """Flush what is queued, then close the socket with `code` and `reason`."""
        if self.closing:
            return
        self.closing = True
        self.close_reason = (code, reason)
        self._outbox.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._sender), timeout=2.0)
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=code, reason=reason[:120])

    async def stop(self) -> None:
        self.closing = True
        self._sender.cancel()
        with contextlib.suppress(BaseException):
            await self._sender


def replay_turns(conn: Connection, turns: list[TurnRecord], last_turn_id: str) -> None:
    """Resume: the final transcript and turn_end of every turn stored after the client's
    last one, marked `"replayed": true`, so a reconnecting client misses no turn."""
    after = int(last_turn_id.split("_", 1)[1])
    for turn in turns:
        if turn.seq <= after:
            continue
        conn.put_event(ev.TranscriptEvent(turn.role, turn.text, True, turn.turn_id), replayed=True)
        end = ev.TurnEnd(turn.role, turn.turn_id, turn.duration_ms, interrupted=turn.interrupted)
        conn.put_event(end, replayed=True)


async def _deny(websocket: WebSocket, status: int, message: str, param: str | None) -> None:
    """Refuse before the upgrade with an HTTP error (or a close, if the server can't)."""
    try:
        await websocket.send_denial_response(
            JSONResponse(error_body(status, message, param), status_code=status)
        )
    except RuntimeError:
        await websocket.close(code=4000 + status, reason=message[:120])


def _offered_token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """The API key or stream token, and the subprotocol to answer with."""
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    offered = [p for p in offered if p]
    token = next(
        (
            p[len(SUBPROTOCOL_TOKEN_PREFIX) :]
            for p in offered
            if p.startswith(SUBPROTOCOL_TOKEN_PREFIX)
        ),
        None,
    )
    # Never echo the token: answer a neutral protocol the client offered, or none.
    reply = next((p for p in offered if not p.startswith(SUBPROTOCOL_TOKEN_PREFIX)), None)
    token = bearer_token(websocket) or websocket.query_params.get("token") or token
    return token, reply


async def _authorise(
    ctx: ServerContext, session_id: str, token: str | None
) -> tuple[str | None, str, Grant | None]:
    """(account id, "", None) for an API key, (account id, "", grant) for a stream token
    (claimed: single use), or (None, why, None)."""
    if not token:
        return None, "missing", None
    account = await ctx.store.keys.authenticate(token)
    if account is not None:
        return account, "", None
    grant = await ctx.store.stream_tokens.claim(token, session_id)
    return (grant.account_id, "", grant) if grant else (None, "invalid", None)


def _refusal(rec: ConversationRecord | None) -> tuple[int, str] | None:
    if rec is None:
        return 404, "No conversation with that id."
    if rec.status == "expired" or (
        rec.status in ("ready", "active")
        and rec.expires_at is not None
        and rec.expires_at <= utcnow()
    ):
        return 410, "This session has expired; create a new one."
    if rec.status not in ("ready", "active"):
        return 410, "This conversation has ended; create a new one."
    return None


@router.websocket("/v1/conversations/{session_id}/stream")
async def stream(websocket: WebSocket, session_id: str) -> None:
    ctx = get_context(websocket)
    try:
        params = StreamParams.parse(websocket.query_params)
    except ParamError as exc:
        await _deny(websocket, 400, exc.message, exc.param)
        return
    token, subprotocol = _offered_token(websocket)
    account, why, grant = await _authorise(ctx, session_id, token)
    if account is None:
        message = (
            "Missing API key: send 'Authorization: Bearer <key>', ?token=<key> "
            "or a 'token.<key>' subprotocol."
            if why == "missing"
            else "Invalid API key or stream token."
        )
        await _deny(websocket, 401, message, None)
        return
    rec = await ctx.store.conversations.get(session_id, account)
    refusal = _refusal(rec)
    if refusal is not None or rec is None:
        status, message = refusal or (404, "No conversation with that id.")
        await _deny(websocket, status, message, "session_id")
        return
    # --- issue 12: stream caps and the token's scopes (README "Security") ---
    full = ctx.stream_slots.acquire(account, session_id)
    if full is not None:
        await _deny(websocket, 429, full, None)
        return
    try:
        await _serve(ctx, websocket, rec, params, subprotocol, grant)
    finally:
        ctx.stream_slots.release(account, session_id)


async def _serve(
    ctx: ServerContext,
    websocket: WebSocket,
    rec: ConversationRecord,
    params: StreamParams,
    subprotocol: str | None,
    grant: Grant | None,
) -> None:
    session_id = rec.id
    scopes = grant.scopes if grant is not None else None
    resume = await resume_token(ctx, rec, grant)
    await websocket.accept(subprotocol=subprotocol)
    conn = Connection(websocket, params)
    handle = LiveHandle(session_id, conn.close)
    await ctx.live.take_over(handle, "replaced by a newer connection")
    sessions = ctx.sessions
    try:
        conv, created = await sessions.attach(rec, conn, params.vad_threshold)
    except STTError as exc:
        conn.send_error(exc.code, exc.message)
        await conn.close(1011, "speech recognition unavailable")
        ctx.live.release(handle)
        return
    try:
        # No await between attaching and these: session_started, then the replay, come
        # before any live event.
        latest = conv.turns[-1].turn_id if conv.turns else None
        extra: dict[str, Any] = {"resume_token": resume} if resume else {}
        conn.put_event(
            ev.SessionStarted(session_id, resumed=not created), last_turn_id=latest, **extra
        )
        if params.last_turn_id is not None:
            replay_turns(conn, conv.turns, params.last_turn_id)
        await conv.connected()
        await _receive_loop(ctx, websocket, conn, conv, scopes)
    finally:
        sessions.detach(conv, conn)
        ctx.live.release(handle)
        if not conn.closing:
            await conn.close(CLOSE_NORMAL, "closed")
        await conn.stop()


async def _receive_loop(
    ctx: ServerContext,
    websocket: WebSocket,
    conn: Connection,
    conv: Conversation,
    scopes: frozenset[str] | None = None,
) -> None:
    bad_audio = 0
    limits = ctx.settings
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        data: Any = message.get("bytes")
        if data is not None:
            refusal = audio_refusal(scopes, len(data), limits.ws_max_audio_bytes)
            if refusal is not None:
                bad_audio += 1
                if bad_audio <= 3 or bad_audio % 100 == 0:
                    conn.send_error(*refusal)
                continue
            try:
                conv.feed_audio(conn.decode(data))
            except CodecError as exc:
                bad_audio += 1
                if bad_audio <= 3 or bad_audio % 100 == 0:  # say so, without flooding
                    conn.send_error("invalid_audio", str(exc))
            continue
        text = message.get("text")
        if text is not None:
            if len(text) > limits.ws_max_text_bytes:
                conn.send_error(
                    "message_too_large",
                    f"Text messages are limited to {limits.ws_max_text_bytes} bytes.",
                )
                continue
            await control.handle_text(ctx, conv, conn, text, scopes)
