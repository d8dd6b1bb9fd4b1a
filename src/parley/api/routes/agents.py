"""`/v1/agents/*`: reusable agents and their sessions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from parley.api.auth import require_account
from parley.api.context import ServerContext, get_context
from parley.api.errors import ApiError, not_found
from parley.api.listing import (
    FILTERS_DOC,
    LimitQ,
    ListRequest,
    OffsetQ,
    check_choice,
    list_request,
    page_body,
)
from parley.api.schemas import (
    CONFLICT_RESPONSES,
    ERROR_RESPONSES,
    AgentCreate,
    AgentDeleted,
    AgentList,
    AgentOut,
    AgentSessionCreate,
    AgentSessionList,
    AgentSessionOut,
    AgentUpdate,
    AgentUpdated,
)
from parley.api.tools import normalise_tools, public_tool
from parley.api.urls import websocket_url
from parley.api.validation import check_language, check_settings, check_voice
from parley.store.records import AgentRecord, ConversationRecord
from parley.timeutil import iso, utcnow
from parley.transports.native import close_for

router = APIRouter(prefix="/v1/agents", tags=["agents"])
DEFAULT_CONTEXT_WINDOW = 50
SESSION_STATUSES = ("active", "ended", "expired")


def agent_out(rec: AgentRecord) -> dict[str, Any]:
    return AgentOut(
        id=rec.id,
        name=rec.name,
        voice_id=rec.voice_id,
        system_prompt=rec.system_prompt,
        language=rec.language,
        tools=[public_tool(t) for t in rec.tools],
        max_turns=rec.max_turns,
        status=rec.status,
        created_at=iso(rec.created_at) or "",
        settings=rec.settings or None,
    ).model_dump() | {"tools": [public_tool(t) for t in rec.tools]}


def session_status(rec: ConversationRecord) -> str:
    """An agent session is `active` until it ends or expires."""
    if rec.status in ("ended", "expired"):
        return rec.status
    if rec.expires_at is not None and rec.expires_at <= utcnow():
        return "expired"
    return "active"


def session_out(request: Request, ctx: ServerContext, rec: ConversationRecord) -> dict[str, Any]:
    out = AgentSessionOut(
        session_id=rec.id,
        agent_id=rec.agent_id or "",
        websocket_url=websocket_url(request, rec.id, ctx.settings.public_url),
        created_at=iso(rec.created_at) or "",
        expires_at=iso(rec.expires_at) or "",
        status=session_status(rec),
        metadata=rec.metadata,
        initial_message=rec.initial_message,
    ).model_dump()
    return out


@router.post("/create", response_model=AgentOut, responses=ERROR_RESPONSES)
async def create_agent(
    body: AgentCreate,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    """Create a reusable agent: a persona, a voice, tools and limits."""
    language = check_language(ctx, body.language)
    check_voice(ctx, body.voice_id, language)
    rec = await ctx.store.agents.create(
        account_id=account,
        name=body.name,
        voice_id=body.voice_id,
        system_prompt=body.system_prompt,
        language=language,
        tools=normalise_tools(body.tools, ctx.secrets, ctx.outbound),
        max_turns=body.max_turns,
        settings=check_settings(body.settings),
    )
    return JSONResponse(agent_out(rec))


@router.get("", response_model=AgentList, responses=ERROR_RESPONSES)
async def list_agents(
    limit: int = LimitQ,
    offset: int = OffsetQ,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    """A page of the account's agents, newest first."""
    agents, total = await ctx.store.agents.list(account, limit, offset)
    return JSONResponse(
        {
            "data": [agent_out(a) for a in agents],
            "total": total,
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(agents) < total,
        }
    )


@router.get("/{agent_id}", response_model=AgentOut, responses=ERROR_RESPONSES)
async def get_agent(
    agent_id: str,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    rec = await ctx.store.agents.get(agent_id, account)
    if rec is None:
        raise not_found("agent", agent_id, "agent_id")
    return JSONResponse(agent_out(rec))


async def end_live_sessions(ctx: ServerContext, agent_id: str, reason: str) -> list[str]:
    """End every live session of the agent (their streams close); their ids."""
    terminated = await ctx.store.conversations.live_ids_of_agent(agent_id)
    for session_id in terminated:
        await ctx.sessions.end(session_id, reason)  # as DELETE of the conversation does
        await ctx.live.close(session_id, *close_for(reason))
        await ctx.store.conversations.end(session_id, reason=reason)
    return terminated


@router.patch("/{agent_id}", response_model=AgentUpdated, responses=ERROR_RESPONSES)
async def update_agent(
    agent_id: str,
    body: AgentUpdate,
    end_sessions: bool = Query(False, description="Also end the agent's live sessions."),
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    """Change the agent in place (same checks as create). New sessions use it as it is
    when they start; live sessions keep the persona they started with. `status: paused`
    refuses new sessions (409 `agent_paused`) until `status: active`."""
    rec = await ctx.store.agents.get(agent_id, account)
    if rec is None:
        raise not_found("agent", agent_id, "agent_id")
    given = body.model_dump(include=body.model_fields_set)
    for required in ("name", "voice_id", "system_prompt", "language", "status"):
        if required in given and given[required] is None:
            raise ApiError(400, f"'{required}' cannot be null.", required)
    changes: dict[str, Any] = dict(given)
    if "language" in given or "voice_id" in given:
        changes["language"] = check_language(ctx, given.get("language") or rec.language)
        check_voice(ctx, given.get("voice_id") or rec.voice_id, changes["language"])
    if "tools" in given:
        changes["tools"] = normalise_tools(body.tools)
    if "settings" in given:
        changes["settings"] = check_settings(body.settings)
    updated = await ctx.store.agents.update(agent_id, account, changes)
    if updated is None:
        raise not_found("agent", agent_id, "agent_id")
    out = agent_out(updated)
    if end_sessions:
        out["terminated_sessions"] = await end_live_sessions(
            ctx, agent_id, "agent_paused" if updated.status == "paused" else "agent_updated"
        )
    return JSONResponse(out)


@router.delete("/{agent_id}", response_model=AgentDeleted, responses=ERROR_RESPONSES)
async def delete_agent(
    agent_id: str,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Delete the agent and end all of its live sessions (their streams close)."""
    rec = await ctx.store.agents.delete(agent_id, account)
    if rec is None:
        raise not_found("agent", agent_id, "agent_id")
    terminated = await end_live_sessions(ctx, agent_id, "agent_deleted")
    return {"id": rec.id, "status": "deleted", "terminated_sessions": terminated}


@router.get(
    "/{agent_id}/sessions",
    response_model=AgentSessionList,
    responses=ERROR_RESPONSES,
    description="The agent's sessions. Status: active | ended | expired. " + FILTERS_DOC,
)
async def list_agent_sessions(
    agent_id: str,
    request: Request,
    status: str | None = Query(None, description="active | ended | expired"),
    listing: ListRequest = Depends(list_request),
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    if await ctx.store.agents.get(agent_id, account) is None:
        raise not_found("agent", agent_id, "agent_id")
    query = listing.query(
        account,
        agent_id=agent_id,
        status=check_choice(status, "status", SESSION_STATUSES),
        session_statuses=True,
    )
    recs, total, more = await ctx.store.conversations.search(query, listing.page)
    data = [session_out(request, ctx, r) for r in recs]
    return JSONResponse(page_body(data, recs, total, listing.page, more))


@router.post("/{agent_id}/sessions", response_model=AgentSessionOut, responses=CONFLICT_RESPONSES)
async def create_agent_session(
    agent_id: str,
    request: Request,
    body: AgentSessionCreate | None = Body(None),
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Start a session with the agent; it inherits persona, voice, language, tools, limits."""
    agent = await ctx.store.agents.get(agent_id, account)
    if agent is None:
        raise not_found("agent", agent_id, "agent_id")
    if agent.status == "paused":
        raise ApiError(
            409,
            f"Agent {agent_id!r} is paused: it starts no new sessions. Resume it with "
            f'PATCH /v1/agents/{agent_id} {{"status": "active"}}.',
            "agent_id",
            type="agent_paused",
        )
    body = body or AgentSessionCreate()
    if body.metadata is not None and len(str(body.metadata)) > 16_384:
        raise ApiError(400, "'metadata' is too large (16 KiB at most).", "metadata")
    rec = await ctx.store.conversations.create(
        account_id=account,
        agent_id=agent.id,
        voice_id=agent.voice_id,
        system_prompt=agent.system_prompt,
        language=agent.language,
        tools=list(agent.tools),
        context_window=DEFAULT_CONTEXT_WINDOW,
        max_turns=agent.max_turns,
        settings=dict(agent.settings) or None,
        metadata=body.metadata,
        initial_message=body.initial_message,
        expires_at=utcnow() + timedelta(seconds=ctx.settings.agent_session_ttl_s),
    )
    return session_out(request, ctx, rec)
