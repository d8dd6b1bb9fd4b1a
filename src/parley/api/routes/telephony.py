"""`POST /v1/telephony/twilio/voice`: Twilio's voice webhook, answered with TwiML.

Twilio posts the call (form-encoded: `CallSid`, `From`, `To`, …) signed with
`X-Twilio-Signature`. A verified call to a routed number becomes a session of the
route's agent (metadata `callSid`, `from`, `to`), and the answer connects the call's
audio to the Media Streams socket (`transports/twilio.py`):

    <Response><Connect><Stream url="wss://host/v1/telephony/twilio/stream">
      <Parameter name="session_id" value="ses_…"/><Parameter name="token" value="pst_…"/>
    …

Twilio's stream URL takes no query string, so the session and a single-use stream token
(valid `STREAM_TOKEN_TTL_S`) travel as `<Parameter>`s, which come back in `start`.
An unrouted number (or a deleted agent) gets a spoken apology and a hang-up.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from parley.api.context import ServerContext, get_context
from parley.api.errors import error_response
from parley.api.routes.agents import DEFAULT_CONTEXT_WINDOW
from parley.api.urls import http_url, public_base
from parley.config import Settings
from parley.engine.call_control import built_in_tools
from parley.store.records import ConversationRecord
from parley.timeutil import utcnow
from parley.transports import twilio as twilio_stream
from parley.transports.twilio_routes import Route, RouteConfigError, parse_routes

log = logging.getLogger("parley.telephony")
router = APIRouter(prefix="/v1/telephony/twilio", tags=["telephony"])

VOICE_PATH = "/v1/telephony/twilio/voice"
STREAM_PATH = "/v1/telephony/twilio/stream"
STREAM_TOKEN_TTL_S = 60
APOLOGY = "Sorry, this number cannot take your call right now. Goodbye."
MAX_FIELD = 256


def install(app: FastAPI, settings: Settings) -> None:
    """Register the webhook and the stream; say loudly if signatures are not checked."""
    app.include_router(router)
    app.include_router(twilio_stream.router)
    if not settings.twilio_verify_signature:
        log.warning(
            "PARLEY_TWILIO_VERIFY_SIGNATURE is off: anyone can place calls into Parley's "
            "telephony webhook. Use this for local tests only."
        )
    elif not settings.twilio_auth_token:
        log.info("PARLEY_TWILIO_AUTH_TOKEN is not set: the Twilio webhook refuses every call.")


def twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type="application/xml")


def apology() -> Response:
    response = VoiceResponse()
    response.say(APOLOGY)
    response.hangup()
    return twiml(response)


def signed_url(request: Request, settings: Settings) -> str:
    """The URL Twilio called, as Twilio saw it (behind a proxy: PARLEY_PUBLIC_URL)."""
    url = http_url(request, request.url.path, settings.public_url)
    return f"{url}?{request.url.query}" if request.url.query else url


def verify(request: Request, settings: Settings, params: dict[str, str]) -> Response | None:
    """None if the request is Twilio's; else the 403 to answer."""
    if not settings.twilio_verify_signature:
        return None
    signature = request.headers.get("x-twilio-signature")
    if not settings.twilio_auth_token:
        return error_response(
            403, "Telephony is not configured: set PARLEY_TWILIO_AUTH_TOKEN.", None
        )
    if not signature:
        return error_response(
            403, "Missing X-Twilio-Signature: only Twilio may call this webhook.", None
        )
    validator = RequestValidator(settings.twilio_auth_token)
    if not validator.validate(signed_url(request, settings), params, signature):
        return error_response(
            403,
            "Invalid X-Twilio-Signature (behind a proxy, set PARLEY_PUBLIC_URL to the URL "
            "Twilio calls).",
            None,
        )
    return None


def _field(params: dict[str, str], name: str) -> str | None:
    value = params.get(name, "").strip()
    return value[:MAX_FIELD] if value else None


async def _session(
    ctx: ServerContext, route: Route, call: dict[str, str]
) -> ConversationRecord | None:
    agent = await ctx.store.agents.get_any(route.agent_id)
    if agent is None:
        return None
    taken = {t.name for t in agent.tools}  # an agent's own tool of that name wins
    built_ins = built_in_tools(route.end_call, route.transfer_to, route.transfer_label)
    tools = [*agent.tools, *(t for t in built_ins if t.name not in taken)]
    return await ctx.store.conversations.create(
        account_id=agent.account_id,
        agent_id=agent.id,
        voice_id=agent.voice_id,
        system_prompt=agent.system_prompt,
        language=agent.language,
        tools=tools,
        context_window=DEFAULT_CONTEXT_WINDOW,
        max_turns=agent.max_turns,
        metadata={"channel": "twilio", **call},
        initial_message=route.greeting,
        expires_at=utcnow() + timedelta(seconds=ctx.settings.agent_session_ttl_s),
    )


@router.post("/voice", include_in_schema=True)
async def voice(request: Request) -> Any:
    """Twilio's voice webhook: TwiML connecting the call to the agent of the number."""
    ctx = get_context(request)
    settings = ctx.settings
    body = (await request.body()).decode("utf-8", errors="replace")
    params = dict(parse_qsl(body, keep_blank_values=True))
    refused = verify(request, settings, params)
    if refused is not None:
        return refused
    call_sid, to = _field(params, "CallSid"), _field(params, "To")
    if call_sid is None or to is None:
        missing = "CallSid" if call_sid is None else "To"
        return error_response(400, f"The webhook needs Twilio's '{missing}' field.", missing)
    try:
        route = parse_routes(settings.twilio_routes).get(to)
    except RouteConfigError as exc:
        log.error("call %s refused: %s", call_sid, exc)
        return apology()
    if route is None:
        log.warning("call %s to %s refused: no route in PARLEY_TWILIO_ROUTES", call_sid, to)
        return apology()
    call = {"callSid": call_sid, "from": _field(params, "From") or "", "to": to}
    rec = await _session(ctx, route, call)
    if rec is None:
        log.warning("call %s refused: agent %s not found", call_sid, route.agent_id)
        return apology()
    token, _ = await ctx.store.stream_tokens.mint(rec.account_id, rec.id, STREAM_TOKEN_TTL_S)
    scheme, host = public_base(request, settings.public_url)
    ws = "wss" if scheme in ("https", "wss") else "ws"
    connect = Connect()
    stream = connect.stream(url=f"{ws}://{host}{STREAM_PATH}")
    stream.parameter(name="session_id", value=rec.id)
    stream.parameter(name="token", value=token)
    stream.parameter(name="agent_id", value=route.agent_id)
    response = VoiceResponse()
    response.append(connect)
    log.info("call %s to %s → session %s (agent %s)", call_sid, to, rec.id, route.agent_id)
    return twiml(response)
