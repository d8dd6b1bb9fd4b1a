"""Engine events → Deepgram Voice Agent server messages (the shapes of `deepgram-sdk`'s
`agent.v1` models: every message here parses as one of them).

| engine event                      | Deepgram message                                   |
|-----------------------------------|----------------------------------------------------|
| TurnStart(user), spoken           | UserStartedSpeaking (the client drops playback)    |
| ReplyPaused                       | UserStartedSpeaking (once; the cut that may follow |
|                                   | sends none); on resume the audio is sent again from|
|                                   | the paused position (`held_audio.py`)              |
| TranscriptEvent(user, final)      | ConversationText(user) (+ History)                 |
| TurnEnd(user)                     | AgentThinking                                      |
| TurnStart(assistant)              | AgentStartedSpeaking (latencies in seconds)        |
| TranscriptEvent(assistant)        | ConversationText(assistant), a sentence as it plays|
| TranscriptEvent(assistant, final) | History (what was heard) when flags.history        |
| ToolCallEvent                     | FunctionCallRequest (client_side: true)            |
| Ack prompt/voice                  | PromptUpdated / SpeakUpdated                       |
| ErrorEvent injection_refused      | InjectionRefused; any other ErrorEvent → Error     |
| audio end (played out)            | AgentAudioDone (after the last binary audio)       |
"""

from __future__ import annotations

import json
from typing import Any

from parley.engine import events as ev


def error(code: str, description: str) -> dict[str, Any]:
    return {"type": "Error", "code": code, "description": description}


def warning(code: str, description: str) -> dict[str, Any]:
    return {"type": "Warning", "code": code, "description": description}


def _seconds(ms: int | None) -> float:
    return round(max(0, ms or 0) / 1000, 3)


def started_speaking(breakdown: dict[str, int] | None, latency_ms: int | None) -> dict[str, Any]:
    """AgentStartedSpeaking from the turn's latency breakdown: total = user speech end
    (or injection) → first audio sent; ttt = the LLM's own time to first token; tts =
    first token → the TTS's first audio."""
    b = breakdown or {}
    total = b.get("first_audio_sent_ms", latency_ms)
    ttt = b.get("llm_ttft_ms")
    tts = None
    if b.get("tts_first_audio_ms") is not None and b.get("llm_first_token_ms") is not None:
        tts = b["tts_first_audio_ms"] - b["llm_first_token_ms"]
    elif b.get("tts_first_audio_ms") is not None:  # a fixed text: no LLM
        tts = b["tts_first_audio_ms"]
    return {
        "type": "AgentStartedSpeaking",
        "total_latency": _seconds(total),
        "tts_latency": _seconds(tts),
        "ttt_latency": _seconds(ttt),
    }


class DeepgramEvents:
    """Stateful: an assistant reply's text goes out a sentence at a time, as it plays."""

    def __init__(self, send_history: bool) -> None:
        self.send_history = send_history
        self.typed_turns = 0  # injected user messages whose TurnStart is not speech
        self._said = ""  # what the current reply's ConversationText messages covered
        self._told_speaking = False  # a pause sent UserStartedSpeaking already

    def history(self, role: str, content: str) -> list[dict[str, Any]]:
        if not self.send_history or not content:
            return []
        return [{"type": "History", "role": role, "content": content}]

    def map(self, event: ev.Event) -> list[dict[str, Any]]:
        match event:
            case ev.TurnStart(role="user"):
                if self.typed_turns:
                    self.typed_turns -= 1
                    return []
                if self._told_speaking:  # the paused reply was cut: said at the pause
                    self._told_speaking = False
                    return []
                return [{"type": "UserStartedSpeaking"}]
            case ev.ReplyPaused():
                self._told_speaking = True
                return [{"type": "UserStartedSpeaking"}]
            case ev.ReplyResumed():
                self._told_speaking = False
                return []
            case ev.TurnStart(role="assistant", latency_ms=latency, breakdown=breakdown):
                self._said = ""
                self._told_speaking = False
                return [started_speaking(breakdown, latency)]
            case ev.TranscriptEvent(role="user", text=text, is_final=True):
                return [{"type": "ConversationText", "role": "user", "content": text}] + (
                    self.history("user", text)
                )
            case ev.TranscriptEvent(role="assistant", text=text, is_final=False):
                new = text[len(self._said) :].strip() if text.startswith(self._said) else text
                self._said = text
                return (
                    [{"type": "ConversationText", "role": "assistant", "content": new}]
                    if new
                    else []
                )
            case ev.TranscriptEvent(role="assistant", text=text, is_final=True):
                out = []
                if not self._said and text:  # nothing went out while it played
                    out.append({"type": "ConversationText", "role": "assistant", "content": text})
                self._said = ""
                return out + self.history("assistant", text)
            case ev.TurnEnd(role="user", discarded=False, turn_id=tid) if tid is not None:
                return [{"type": "AgentThinking", "content": ""}]
            case ev.ToolCallEvent(call_id=cid, name=name, arguments=args):
                arguments = args if isinstance(args, str) else json.dumps(args)
                call = {"id": cid, "name": name, "arguments": arguments, "client_side": True}
                return [{"type": "FunctionCallRequest", "functions": [call]}]
            case ev.Ack(kind="prompt_updated"):
                return [{"type": "PromptUpdated"}]
            case ev.Ack(kind="voice_updated"):
                return [{"type": "SpeakUpdated"}]
            case ev.ErrorEvent(code="injection_refused", message=message):
                return [{"type": "InjectionRefused", "message": message}]
            case ev.ErrorEvent(code=code, message=message):
                return [error(code.upper(), message)]
        return []
