"""`/v1/conversations/*`: create, read (with history), end."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from parley.api.auth import require_account
from parley.api.context import ServerContext, get_context
from parley.api.errors import ApiError, not_found
from parley.api.listing import FILTERS_DOC, ListRequest, check_choice, list_request, page_body
from parley.api.schemas import (
    ERROR_RESPONSES,
    ConversationCreate,
    ConversationCreated,
    ConversationEnded,
    ConversationList,
    ConversationOut,
    ConversationSummary,
    StreamTokenCreate,
    StreamTokenOut,
    TurnOut,
)
from parley.api.tools import normalise_tools, public_tool
from parley.api.urls import websocket_url
from parley.api.validation import check_language, check_settings, check_voice
from parley.store.records import ConversationRecord, TurnRecord
from parley.timeutil import iso
from parley.transcripts import to_text, to_webvtt
from parley.transports.native import close_for
from parley.transports.params import parse_scopes

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

STATUSES = ("ready", "active", "ended")
TRANSCRIPT_TYPES = {"txt": "text/plain; charset=utf-8", "vtt": "text/vtt; charset=utf-8"}


def turn_out(turn: TurnRecord) -> dict[str, Any]:
    out = TurnOut(
        turn_id=turn.turn_id,
        role=turn.role,
        text=turn.text,
        timestamp=iso(turn.timestamp) or "",
        duration_ms=turn.duration_ms,
        latency_ms=turn.latency_ms if turn.role == "assistant" else None,
        interrupted=turn.interrupted if turn.role == "assistant" else None,
        metadata=turn.meta or None,
    )
    return out.model_dump(exclude_none=True)


def conversation_out(
    request: Request, ctx: ServerContext, rec: ConversationRecord, turns: list[TurnRecord]
) -> dict[str, Any]:
    out = ConversationOut(
        session_id=rec.id,
        status=rec.status,
        voice_id=rec.voice_id,
        language=rec.language,
        system_prompt=rec.system_prompt,
        tools=[public_tool(t) for t in rec.tools],
        context_window=rec.context_window,
        max_turns=rec.max_turns,
        total_turns=rec.total_turns,
        created_at=iso(rec.created_at) or "",
        last_activity_at=iso(rec.last_activity_at) or "",
        websocket_url=websocket_url(request, rec.id, ctx.settings.public_url),
        history=[],
        agent_id=rec.agent_id,
        metadata=rec.metadata,
        expires_at=iso(rec.expires_at),
        ended_at=iso(rec.ended_at),
    ).model_dump()
    out["history"] = [turn_out(t) for t in turns]
    out["tools"] = [public_tool(t) for t in rec.tools]  # no "endpoint": null on client tools
    for optional in ("agent_id", "metadata", "expires_at", "ended_at"):
        if out[optional] is None:
            del out[optional]
    return out


def ended_out(rec: ConversationRecord) -> dict[str, Any]:
    duration = 0
    if rec.started_at is not None and rec.ended_at is not None:
        duration = max(0, int((rec.ended_at - rec.started_at).total_seconds() * 1000))
    return ConversationEnded(
        session_id=rec.id,
        status=rec.status,
        total_turns=rec.total_turns,
        total_duration_ms=duration,
        ended_at=iso(rec.ended_at) or "",
    ).model_dump()


@router.post("/create", response_model=ConversationCreated, responses=ERROR_RESPONSES)
async def create_conversation(
    body: ConversationCreate,
    request: Request,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Create a conversation session; connect to its `websocket_url` to talk."""
    language = check_language(ctx, body.language)
    check_voice(ctx, body.voice_id, language)
    tools = normalise_tools(body.tools, ctx.secrets, ctx.outbound)
    rec = await ctx.store.conversations.create(
        account_id=account,
        voice_id=body.voice_id,
        system_prompt=body.system_prompt,
        language=language,
        tools=tools,
        context_window=body.context_window,
        max_turns=body.max_turns,
        settings=check_settings(body.settings),
    )
    return ConversationCreated(
        session_id=rec.id,
        status=rec.status,
        voice_id=rec.voice_id,
        language=rec.language,
        context_window=rec.context_window,
        max_turns=rec.max_turns,
        tools=[t.name for t in rec.tools],
        created_at=iso(rec.created_at) or "",
        websocket_url=websocket_url(request, rec.id, ctx.settings.public_url),
    ).model_dump()


def summary_out(rec: ConversationRecord) -> dict[str, Any]:
    out = ConversationSummary(
        session_id=rec.id,
        status=rec.status,
        agent_id=rec.agent_id,
        voice_id=rec.voice_id,
        language=rec.language,
        total_turns=rec.total_turns,
        created_at=iso(rec.created_at) or "",
        last_activity_at=iso(rec.last_activity_at) or "",
        ended_at=iso(rec.ended_at),
        expires_at=iso(rec.expires_at),
        metadata=rec.metadata,
    ).model_dump()
    return {k: v for k, v in out.items() if v is not None or k in ("agent_id", "metadata")}


@router.get(
    "",
    response_model=ConversationList,
    responses=ERROR_RESPONSES,
    description="The account's conversations and agent sessions (without history). "
    "Status: ready | active | ended; `agent_id` keeps one agent's sessions. " + FILTERS_DOC,
)
async def list_conversations(
    status: str | None = Query(None, description="ready | active | ended"),
    agent_id: str | None = Query(None, max_length=40, description="Sessions of this agent."),
    listing: ListRequest = Depends(list_request),
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    query = listing.query(
        account, agent_id=agent_id, status=check_choice(status, "status", STATUSES)
    )
    recs, total, more = await ctx.store.conversations.search(query, listing.page)
    data = [summary_out(r) for r in recs]
    return JSONResponse(page_body(data, recs, total, listing.page, more))


@router.get(
    "/{session_id}/transcript",
    response_class=PlainTextResponse,
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/plain": {}, "text/vtt": {}}, "description": "The transcript."},
    },
)
async def get_transcript(
    session_id: str,
    format: str = Query("txt", description="`txt` (text/plain) or `vtt` (WebVTT)."),
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> PlainTextResponse:
    """The history as a readable transcript: speaker, start and end time of every turn."""
    check_choice(format, "format", tuple(TRANSCRIPT_TYPES))
    rec = await ctx.store.conversations.get(session_id, account)
    if rec is None:
        raise not_found("conversation", session_id, "session_id")
    turns = await ctx.store.conversations.turns(session_id)
    text = to_webvtt(rec, turns) if format == "vtt" else to_text(rec, turns)
    return PlainTextResponse(
        text,
        media_type=TRANSCRIPT_TYPES[format],
        headers={"Content-Disposition": f'inline; filename="{rec.id}.{format}"'},
    )


@router.get("/{session_id}", response_model=ConversationOut, responses=ERROR_RESPONSES)
async def get_conversation(
    session_id: str,
    request: Request,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    """The session's configuration, status and full history."""
    rec = await ctx.store.conversations.get(session_id, account)
    if rec is None:
        raise not_found("conversation", session_id, "session_id")
    turns = await ctx.store.conversations.turns(session_id)
    # Returned as-is: the model above documents it, but re-serialising through it would
    # add `null`s the seed does not have (e.g. `endpoint` on client-side tools).
    return JSONResponse(conversation_out(request, ctx, rec, turns))


@router.delete("/{session_id}", response_model=ConversationEnded, responses=ERROR_RESPONSES)
async def delete_conversation(
    session_id: str,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """End the session and close its live stream; history stays readable for 30 days."""
    rec = await ctx.store.conversations.get(session_id, account)
    if rec is None:
        raise not_found("conversation", session_id, "session_id")
    # The conversation ends first, with its socket open: the turn being heard (the
    # recogniser finishing it) is stored, the client is told `session_ended`, and the
    # transport closes with 4000. A socket left over (not live here) is closed after.
    await ctx.sessions.end(session_id, "deleted")
    await ctx.live.close(session_id, *close_for("deleted"))
    ended = await ctx.store.conversations.end(session_id, reason="deleted")
    assert ended is not None
    return ended_out(ended)


@router.post("/{session_id}/stream_token", response_model=StreamTokenOut, responses=ERROR_RESPONSES)
async def create_stream_token(
    session_id: str,
    request: Request,
    body: StreamTokenCreate | None = Body(None),
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """A short-lived, single-use token that opens this session's stream and nothing else:
    what a browser uses as the `token.<token>` subprotocol instead of an API key. It may
    send only its `scopes` on the stream (README "Security")."""
    rec = await ctx.store.conversations.get(session_id, account)
    if rec is None:
        raise not_found("conversation", session_id, "session_id")
    if rec.status not in ("ready", "active"):
        raise ApiError(409, "This conversation has ended.", "session_id")
    try:
        requested = body.scopes if body is not None and body.scopes is not None else None
        scopes = parse_scopes(
            requested if requested is not None else ctx.settings.stream_token_scopes
        )
    except ValueError as exc:
        raise ApiError(400, f"Invalid 'scopes': {exc}.", "scopes") from None
    ttl = ctx.settings.stream_token_ttl_s
    token, expires = await ctx.store.stream_tokens.mint(
        account, session_id, ttl, scopes, not_after=rec.expires_at
    )
    return StreamTokenOut(
        token=token,
        session_id=session_id,
        expires_at=iso(expires) or "",
        websocket_url=websocket_url(request, session_id, ctx.settings.public_url),
        scopes=sorted(scopes),
    ).model_dump()
