"""`GET /v1/voices`: the catalogue `voice_id` is checked against."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from parley.api.auth import require_account
from parley.api.context import ServerContext, get_context
from parley.api.schemas import VoiceList, VoiceOut

router = APIRouter(prefix="/v1/voices", tags=["voices"])


@router.get("", response_model=VoiceList)
async def list_voices(
    language: str | None = Query(None, description="Only voices for this ISO 639-1 code."),
    engine: str | None = Query(None, description="Only voices of this TTS engine."),
    _account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    voices = ctx.voices.filter(language=language, engine=engine)
    data = [
        VoiceOut(
            voice_id=v.voice_id,
            name=v.name,
            language=v.language,
            locale=v.locale,
            gender=v.gender,
            engine=v.engine,
        ).model_dump()
        for v in voices
    ]
    return {"data": data, "total": len(data)}
