"""Deepgram Voice Agent `Settings` (and `UpdateSpeak`) → a Parley conversation's setup.

Lenient the way Deepgram's own clients need: whole numbers sent as floats, `think` and
`speak` as a list (the first entry is used), unknown fields ignored with a `Warning`.
What Parley serves differently (the listen model, the LLM, Deepgram voices) is accepted
and named in a `Warning`. What cannot work (an unsupported audio format, an unknown
Parley voice or agent, a bad function) is a `SettingsError` naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from parley.api.context import ServerContext
from parley.api.errors import ApiError
from parley.api.tools import normalise_tools
from parley.api.validation import check_language
from parley.audio.codecs import SAMPLE_RATES
from parley.store.records import AgentRecord, ToolDef

DEFAULT_PROMPT = "You are a helpful voice assistant. Keep your answers short."
# Deepgram's names → Parley's codecs; `container` must be "none" (raw audio)
ENCODINGS = {"linear16": "pcm16", "mulaw": "mulaw", "alaw": "alaw"}
DEFAULT_INPUT = ("linear16", 16000)  # Deepgram's defaults
DEFAULT_OUTPUT = ("linear16", 24000)
MAX_PROMPT = 100_000
MAX_HISTORY = 500
MAX_MESSAGE = 10_000  # characters of one prior message, and of the greeting
_TOP_KEYS = {"type", "tags", "experimental", "flags", "mip_opt_out", "audio", "agent"}
_AGENT_KEYS = {
    "language", "context", "listen", "think", "speak", "greeting", "agent_id", "think_live",
}  # fmt: skip
_FUNCTION_KEYS = {"name", "description", "parameters", "endpoint"}
_LANGUAGE = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*$")


class SettingsError(ValueError):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class AgentSetup:
    input_format: tuple[str, int]  # Parley encoding, sample rate
    output_format: tuple[str, int]
    language: str
    voice_id: str
    prompt: str
    tools: list[ToolDef]
    greeting: str | None = None
    history: list[tuple[str, str]] = field(default_factory=list)  # (role, content)
    agent: AgentRecord | None = None
    send_history: bool = True
    tags: list[str] | None = None
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (code, description)

    def warn(self, code: str, description: str) -> None:
        self.warnings.append((code, description))


def as_int(value: Any, name: str) -> int:
    """A whole number, also when sent as 16000.0 or "16000"."""
    if isinstance(value, bool):
        raise SettingsError("INVALID_SETTINGS", f"'{name}' must be a number.")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int):
        return value
    raise SettingsError("INVALID_SETTINGS", f"'{name}' must be a whole number, not {value!r}.")


def _obj(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SettingsError("INVALID_SETTINGS", f"'{name}' must be an object.")
    return value


def first_of(value: Any, name: str, setup: AgentSetup) -> dict[str, Any]:
    """`think`/`speak` as one object or a list of fallbacks (the first is used)."""
    if isinstance(value, list):
        if len(value) > 1:
            setup.warn(
                "UNUSED_FALLBACK", f"'{name}' lists {len(value)} entries; the first is used."
            )
        value = value[0] if value else None
    return _obj(value, name)


def _audio_format(raw: Any, name: str, default: tuple[str, int], output: bool) -> tuple[str, int]:
    fmt = _obj(raw, name)
    encoding = fmt.get("encoding", default[0])
    if encoding not in ENCODINGS:
        raise SettingsError(
            "UNSUPPORTED_AUDIO_FORMAT",
            f"'{name}.encoding' {encoding!r} is not supported: use one of {list(ENCODINGS)}.",
        )
    rate = as_int(fmt.get("sample_rate", default[1]), f"{name}.sample_rate")
    if rate not in SAMPLE_RATES:
        raise SettingsError(
            "UNSUPPORTED_AUDIO_FORMAT",
            f"'{name}.sample_rate' {rate} is not supported: use one of {list(SAMPLE_RATES)}.",
        )
    if output and fmt.get("container", "none") not in ("none", None):
        raise SettingsError(
            "UNSUPPORTED_AUDIO_FORMAT",
            f"'{name}.container' {fmt.get('container')!r} is not supported: use \"none\".",
        )
    return ENCODINGS[encoding], rate


def _language(raw: Any, ctx: ServerContext) -> str:
    if raw is None:
        return "en"
    match = _LANGUAGE.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise SettingsError("INVALID_SETTINGS", f"'agent.language' {raw!r} is not a language code.")
    try:
        return check_language(ctx, match.group(1).lower())
    except ApiError as exc:
        raise SettingsError("UNSUPPORTED_LANGUAGE", exc.message) from exc


def speak_voice(ctx: ServerContext, speak: dict[str, Any], language: str, setup: AgentSetup) -> str:
    """The Parley voice for a `speak` block: a Parley `voice_id` (as `provider.voice_id`
    or `provider.model`) as it is; any other model (Deepgram's `aura-*`, another
    vendor's) → the first installed voice for the language."""
    provider = _obj(speak.get("provider"), "speak.provider")
    for key in ("voice_id", "model"):
        wanted = provider.get(key)
        if isinstance(wanted, str) and ctx.voices.get(wanted) is not None:
            if (problem := ctx.voices.refusal(wanted, language)) is not None:
                raise SettingsError("UNKNOWN_VOICE", problem)
            return wanted
    if isinstance(provider.get("voice_id"), str):
        problem = ctx.voices.refusal(provider["voice_id"], language) or "Unknown voice."
        raise SettingsError("UNKNOWN_VOICE", problem)
    voice = ctx.voices.example_for(language) or next(iter(ctx.voices), None)
    if voice is None:
        raise SettingsError("UNKNOWN_VOICE", "No voice is installed on this server.")
    model = provider.get("model") or provider.get("model_id") or provider.get("voice")
    if model is not None and not (isinstance(model, str) and model.startswith("aura")):
        setup.warn(
            "SPEAK_MODEL_MAPPED",
            f"speak model {model!r} is not a Parley voice; using {voice.voice_id!r} "
            "(GET /v1/voices lists the voices; name one as speak.provider.voice_id).",
        )
    if speak.get("endpoint") is not None:
        setup.warn("SPEAK_ENDPOINT_IGNORED", "speak.endpoint is ignored: Parley's TTS speaks.")
    return voice.voice_id


def _functions(raw: Any, setup: AgentSetup) -> list[ToolDef]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SettingsError("INVALID_SETTINGS", "'agent.think.functions' must be a list.")
    tools: list[dict[str, Any]] = []
    for index, fn in enumerate(raw):
        if not isinstance(fn, dict):
            raise SettingsError(
                "INVALID_SETTINGS", f"'agent.think.functions[{index}]' must be an object."
            )
        extra = sorted(set(fn) - _FUNCTION_KEYS)
        if extra:
            setup.warn("UNSUPPORTED_FIELD", f"functions[{index}]: {extra} ignored.")
        tool = {k: v for k, v in fn.items() if k in _FUNCTION_KEYS and v is not None}
        if isinstance(tool.get("endpoint"), dict):
            endpoint = tool["endpoint"]
            tool["endpoint"] = {
                k: v for k, v in endpoint.items() if k in ("url", "method", "headers")
            }
        tools.append(tool)
    try:
        return normalise_tools(tools)
    except ApiError as exc:
        raise SettingsError(
            "INVALID_SETTINGS", exc.message.replace("tools[", "functions[")
        ) from exc


def _history(raw: Any, setup: AgentSetup) -> list[tuple[str, str]]:
    context = _obj(raw, "agent.context")
    messages = context.get("messages") or []
    if not isinstance(messages, list):
        raise SettingsError("INVALID_SETTINGS", "'agent.context.messages' must be a list.")
    if len(messages) > MAX_HISTORY:
        raise SettingsError(
            "INVALID_SETTINGS", f"'agent.context.messages' holds more than {MAX_HISTORY}."
        )
    out: list[tuple[str, str]] = []
    for index, msg in enumerate(messages):
        if isinstance(msg, dict) and "function_calls" in msg:
            setup.warn(
                "UNSUPPORTED_FIELD", f"context.messages[{index}]: function calls are not replayed."
            )
            continue
        role = msg.get("role") if isinstance(msg, dict) else None
        content = msg.get("content") if isinstance(msg, dict) else None
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise SettingsError(
                "INVALID_SETTINGS",
                f"'agent.context.messages[{index}]' needs a role and a string content.",
            )
        if len(content) > MAX_MESSAGE:
            raise SettingsError(
                "INVALID_SETTINGS",
                f"'agent.context.messages[{index}].content' is over {MAX_MESSAGE} characters.",
            )
        if content.strip():
            out.append((role, content.strip()))
    return out


async def _parley_agent(ctx: ServerContext, account: str, agent_id: Any) -> AgentRecord:
    if not isinstance(agent_id, str) or not agent_id:
        raise SettingsError("INVALID_SETTINGS", "'agent.agent_id' must be a Parley agent id.")
    agent = await ctx.store.agents.get(agent_id, account)
    if agent is None:
        raise SettingsError("UNKNOWN_AGENT", f"No Parley agent {agent_id!r} (GET /v1/agents).")
    return agent


async def parse_settings(ctx: ServerContext, account: str, msg: dict[str, Any]) -> AgentSetup:
    audio = _obj(msg.get("audio"), "audio")
    agent_raw = msg.get("agent")
    if isinstance(agent_raw, str):  # a stored agent, by id
        agent_raw = {"agent_id": agent_raw}
    agent = _obj(agent_raw, "agent")
    parley_agent = (
        await _parley_agent(ctx, account, agent["agent_id"]) if "agent_id" in agent else None
    )
    language = parley_agent.language if parley_agent and "language" not in agent else None
    setup = AgentSetup(
        input_format=_audio_format(audio.get("input"), "audio.input", DEFAULT_INPUT, False),
        output_format=_audio_format(audio.get("output"), "audio.output", DEFAULT_OUTPUT, True),
        language=language or _language(agent.get("language"), ctx),
        voice_id="",
        prompt=parley_agent.system_prompt if parley_agent else DEFAULT_PROMPT,
        tools=list(parley_agent.tools) if parley_agent else [],
        agent=parley_agent,
    )
    for where, keys, known in (("", msg, _TOP_KEYS), ("agent.", agent, _AGENT_KEYS)):
        if unknown := sorted(set(keys) - known):
            setup.warn(
                "UNSUPPORTED_FIELD", f"Ignored unknown fields: {[where + k for k in unknown]}."
            )
    if agent.get("think_live") is not None:
        setup.warn("UNSUPPORTED_FIELD", "agent.think_live is not supported; ignored.")
    flags = _obj(msg.get("flags"), "flags")
    setup.send_history = flags.get("history", True) is not False
    tags = msg.get("tags")
    setup.tags = [t for t in tags if isinstance(t, str)][:20] if isinstance(tags, list) else None

    listen = _obj(
        _obj(agent.get("listen"), "agent.listen").get("provider"), "agent.listen.provider"
    )
    if listen.get("model") is not None:
        setup.warn(
            "LISTEN_MODEL_MAPPED",
            f"listen model {listen.get('model')!r} is served by Parley's speech recognition "
            f"({ctx.stt_name or 'default'}).",
        )
    think = first_of(agent.get("think"), "agent.think", setup)
    apply_think(ctx, think, setup)
    speak = first_of(agent.get("speak"), "agent.speak", setup)
    if speak or parley_agent is None:
        setup.voice_id = speak_voice(ctx, speak, setup.language, setup)
    else:
        setup.voice_id = parley_agent.voice_id
    greeting = agent.get("greeting")
    if greeting is not None and (not isinstance(greeting, str) or len(greeting) > MAX_MESSAGE):
        raise SettingsError(
            "INVALID_SETTINGS", f"'agent.greeting' must be a string of at most {MAX_MESSAGE}."
        )
    setup.greeting = (greeting or "").strip() or None
    setup.history = _history(agent.get("context"), setup)
    return setup


def apply_think(ctx: ServerContext, think: dict[str, Any], setup: AgentSetup) -> None:
    """`prompt` and `functions`; the LLM itself is the server's."""
    prompt = think.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT:
            raise SettingsError(
                "INVALID_SETTINGS",
                f"'agent.think.prompt' must be a string of at most {MAX_PROMPT} characters.",
            )
        if prompt.strip():
            setup.prompt = prompt.strip()
    if "functions" in think:
        setup.tools = _functions(think.get("functions"), setup)
    provider = _obj(think.get("provider"), "agent.think.provider")
    if provider.get("model") is not None or provider.get("type") is not None:
        setup.warn(
            "THINK_PROVIDER_MAPPED",
            f"think provider {provider.get('type')!r} model {provider.get('model')!r}: "
            f"the server's LLM ({ctx.settings.llm_model or 'configured'}) answers.",
        )
    if think.get("endpoint") is not None:
        setup.warn(
            "THINK_ENDPOINT_IGNORED",
            "agent.think.endpoint is ignored: this server allows no per-session LLM endpoints.",
        )
