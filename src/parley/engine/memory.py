"""The conversation's memory as the LLM sees it: persona, language, the last N turns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from parley.providers.llm.base import ChatMessage, ToolCall
from parley.store.records import TurnRecord

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "tr": "Turkish",
    "ar": "Arabic",
    "hi": "Hindi",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
    "sv": "Swedish",
    "da": "Danish",
    "fi": "Finnish",
    "nb": "Norwegian",
    "cs": "Czech",
    "el": "Greek",
    "he": "Hebrew",
    "id": "Indonesian",
    "vi": "Vietnamese",
}

VOICE_STYLE = (
    "You are speaking out loud in a real-time voice conversation: answer in plain spoken "
    "sentences, without markdown, lists or emojis, and keep answers short unless asked."
)


def system_message(system_prompt: str, language: str) -> ChatMessage:
    name = LANGUAGE_NAMES.get(language, language)
    text = f"{system_prompt.strip()}\n\n{VOICE_STYLE} Always reply in {name} ({language})."
    return ChatMessage(role="system", content=text)


def _tool_messages(turn: TurnRecord) -> list[ChatMessage]:
    """An assistant turn's tool rounds, replayed so the model sees what it looked up."""
    rounds: list[dict[str, Any]] = (turn.meta or {}).get("tool_calls", [])
    out: list[ChatMessage] = []
    for call in rounds:
        out.append(
            ChatMessage(
                role="assistant",
                content=None,
                tool_calls=[
                    ToolCall(call["call_id"], call["name"], json.dumps(call.get("arguments")))
                ],
            )
        )
        out.append(
            ChatMessage(
                role="tool",
                content=json.dumps(call.get("result", call.get("error"))),
                tool_call_id=call["call_id"],
            )
        )
    return out


def build_messages(
    system_prompt: str, language: str, turns: Sequence[TurnRecord], context_window: int
) -> list[ChatMessage]:
    """System message, then the last `context_window` turns (tool rounds included)."""
    messages = [system_message(system_prompt, language)]
    for turn in list(turns)[-context_window:] if context_window > 0 else []:
        if turn.role == "assistant":
            messages.extend(_tool_messages(turn))
            text = turn.text
            if turn.interrupted:
                text = f"{text} [interrupted by the user]" if text else "[interrupted by the user]"
            messages.append(ChatMessage(role="assistant", content=text))
        elif turn.role == "user":
            messages.append(ChatMessage(role="user", content=turn.text))
    return messages
