"""Twilio Media Streams: `GET /v1/telephony/twilio/stream` (WebSocket, bidirectional).

Twilio opens it as the voice webhook's TwiML says (`api/routes/telephony.py`) and
speaks JSON text messages, each with an `event`:

    in:  connected → start (streamSid, callSid, customParameters, mediaFormat)
         → media (base64 μ-law 8 kHz, 20 ms) … mark (an echo) … dtmf … → stop
    out: media (the reply, paced in real time), mark (after each chunk), clear

`start.customParameters` carries the session and its single-use stream token; without
a valid pair the socket closes (1008) before any audio is heard. Twilio has no error
message: a malformed message is logged and skipped, and the call goes on. `stop` (the
caller hung up) ends the session; what was heard of a reply in flight is stored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from parley.api.context import ServerContext, get_context
from parley.audio.codecs import CodecError
from parley.engine.call_control import CallControl
from parley.engine.conversation import Conversation
from parley.providers.stt.base import STTError
from parley.store.records import ConversationRecord
from parley.transports.native import CLOSE_NORMAL, _refusal
from parley.transports.registry import LiveHandle
from parley.transports.twilio_call import RATE, TwilioCall
from parley.transports.twilio_rest import TwilioCalls
from parley.transports.twilio_routes import RouteConfigError, parse_routes

log = logging.getLogger("parley.telephony")
router = APIRouter()

CLOSE_POLICY = 1008
MAX_MESSAGE = 64 * 1024  # a 20 ms media message is ~300 bytes of JSON
DTMF_DIGITS = set("0123456789*#ABCD")
START_TIMEOUT_S = 10.0
MAX_BEFORE_START = 20


class BadMessage(ValueError):
    pass


def parse(text: str) -> dict[str, Any]:
    """One Media Streams message (BadMessage says what is wrong with it)."""
    if len(text) > MAX_MESSAGE:
        raise BadMessage(f"message of {len(text)} characters (at most {MAX_MESSAGE})")
    try:
        msg = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadMessage("not JSON") from exc
    if not isinstance(msg, dict) or not isinstance(msg.get("event"), str):
        raise BadMessage("no string 'event'")
    return msg


def _part(msg: dict[str, Any], key: str) -> dict[str, Any]:
    part = msg.get(key)
    if not isinstance(part, dict):
        raise BadMessage(f"'{msg['event']}' without a '{key}' object")
    return part


def media_payload(msg: dict[str, Any]) -> bytes | None:
    """The μ-law bytes of an inbound `media` message (None: another track)."""
    media = _part(msg, "media")
    if media.get("track", "inbound") not in ("inbound", "inbound_track"):
        return None
    payload = media.get("payload")
    if not isinstance(payload, str):
        raise BadMessage("'media' without a string 'payload'")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadMessage("'media.payload' is not base64") from exc


def _check_format(start: dict[str, Any]) -> str | None:
    fmt = start.get("mediaFormat") or {}
    if not isinstance(fmt, dict):
        return "'mediaFormat' is not an object"
    encoding, rate = fmt.get("encoding", "audio/x-mulaw"), fmt.get("sampleRate", RATE)
    if encoding != "audio/x-mulaw" or rate != RATE or fmt.get("channels", 1) != 1:
        return f"unsupported media format {fmt!r} (audio/x-mulaw, 8000 Hz, mono)"
    return None


async def _read_start(websocket: WebSocket) -> dict[str, Any] | None:
    """`connected`, then `start`: the `start` message (None: the socket went away, or
    sent no `start` within START_TIMEOUT_S or MAX_BEFORE_START messages)."""
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            for _ in range(MAX_BEFORE_START):
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return None
                try:
                    msg = parse(message.get("text") or "")
                except BadMessage as exc:
                    log.warning("twilio stream: before start: %s; ignored", exc)
                    continue
                if msg["event"] == "start":
                    return msg
                if msg["event"] != "connected":
                    log.warning("twilio stream: %r before 'start'; ignored", msg["event"])
    except TimeoutError:
        pass
    log.warning("twilio stream: no 'start'; closing")
    return None


async def _open(ctx: ServerContext, msg: dict[str, Any]) -> tuple[ConversationRecord, str] | str:
    """The session `start` names, and the stream sid; or why the stream is refused."""
    start = msg.get("start")
    if not isinstance(start, dict):
        return "'start' without a 'start' object"
    if (problem := _check_format(start)) is not None:
        return problem
    params = start.get("customParameters")
    params = params if isinstance(params, dict) else {}
    session_id, token = params.get("session_id"), params.get("token")
    if not isinstance(session_id, str) or not isinstance(token, str):
        return "no session_id/token in customParameters (use the voice webhook's TwiML)"
    account = await ctx.store.stream_tokens.verify(token, session_id)
    if account is None:
        return "invalid, expired or used stream token"
    rec = await ctx.store.conversations.get(session_id, account)
    if (refusal := _refusal(rec)) is not None or rec is None:
        return (refusal or (404, "no such session"))[1]
    stream_sid = start.get("streamSid") or msg.get("streamSid")
    if not isinstance(stream_sid, str) or not stream_sid:
        return "'start' without a 'streamSid'"
    return rec, stream_sid


def _control(ctx: ServerContext, rec: ConversationRecord) -> CallControl:
    to = (rec.metadata or {}).get("to")
    try:
        route = parse_routes(ctx.settings.twilio_routes).get(str(to))
    except RouteConfigError:
        route = None
    transfer_to = route.transfer_to if route is not None else None
    names = {t.name for t in rec.tools}
    can = "transfer_call" in names and bool(
        ctx.settings.twilio_account_sid and ctx.settings.twilio_auth_token
    )
    return CallControl(transfer_to, can)


@router.websocket("/v1/telephony/twilio/stream")
async def stream(websocket: WebSocket) -> None:
    ctx = get_context(websocket)
    await websocket.accept()
    try:
        start = await _read_start(websocket)
    except (WebSocketDisconnect, RuntimeError):
        return
    if start is None:
        with contextlib.suppress(Exception):
            await websocket.close(code=CLOSE_POLICY, reason="no start message")
        return
    opened = await _open(ctx, start)
    if isinstance(opened, str):
        log.warning("twilio stream refused: %s", opened)
        await websocket.close(code=CLOSE_POLICY, reason=opened[:120])
        return
    rec, stream_sid = opened
    call_sid = str((rec.metadata or {}).get("callSid", ""))
    call = TwilioCall(
        websocket, stream_sid, call_sid, _control(ctx, rec), TwilioCalls.from_settings(ctx.settings)
    )
    handle = LiveHandle(rec.id, call.close)
    await ctx.live.take_over(handle, "replaced by a newer connection")
    try:
        conv, _ = await ctx.sessions.attach(rec, call, 0.5)
    except STTError as exc:
        log.error("call %s: speech recognition unavailable: %s", call_sid, exc.message)
        await call.close(1011, "speech recognition unavailable")
        ctx.live.release(handle)
        return
    call.conv = conv
    log.info("call %s: stream %s on session %s", call_sid, stream_sid, rec.id)
    if ctx.stt_name == "pocketsphinx":
        log.warning(
            "call %s: pocketsphinx recognises 8 kHz telephone speech poorly (README "
            "'Telephony'); set PARLEY_STT=whisper or an OpenAI-compatible STT server",
            call_sid,
        )
    try:
        await conv.connected()
        why = await _receive_loop(websocket, call, conv)
        # no reconnect on a phone line (the token is spent): the call is over
        await conv.end(why)
    finally:
        ctx.sessions.detach(conv, call)
        ctx.live.release(handle)
        if not call.closing:
            await call.close(CLOSE_NORMAL, "call over")
        await call.stop()


async def _receive_loop(websocket: WebSocket, call: TwilioCall, conv: Conversation) -> str:
    """Feed the call to the conversation until it ends; the reason it ended."""
    bad = 0
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return "disconnected"
        if message["type"] == "websocket.disconnect":
            return "disconnected"
        try:
            if (text := message.get("text")) is None:
                raise BadMessage("a binary message (Media Streams sends JSON text)")
            msg = parse(text)
            if msg["event"] == "stop":
                log.info("call %s: caller hung up", call.call_sid)
                return "caller_hung_up"
            handle(msg, call, conv)
        except (BadMessage, CodecError) as exc:
            bad += 1
            if bad <= 3 or bad % 100 == 0:  # say so, without flooding the log
                log.warning("call %s: malformed message ignored (%d): %s", call.call_sid, bad, exc)


def handle(msg: dict[str, Any], call: TwilioCall, conv: Conversation) -> None:
    kind = msg["event"]
    if kind == "media":
        payload = media_payload(msg)
        if payload:
            conv.feed_audio(call.decode(payload))
    elif kind == "mark":
        name = _part(msg, "mark").get("name")
        if not isinstance(name, str):
            raise BadMessage("'mark' without a string 'name'")
        call.on_mark(name)
    elif kind == "dtmf":
        digit = _part(msg, "dtmf").get("digit")
        if not isinstance(digit, str) or digit not in DTMF_DIGITS:
            raise BadMessage(f"'dtmf' digit {digit!r} is not one of 0-9 * # A-D")
        call.on_dtmf(digit)
    elif kind not in ("connected", "start"):
        raise BadMessage(f"unknown event {kind!r}")
