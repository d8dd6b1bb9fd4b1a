"""Configuration: `PARLEY_*` environment variables (CLI flags override them)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
    stream_token_ttl_s: int = 300
    session_linger_s: float = 30.0  # a dropped session's conversation waits this long
    max_body_bytes: int = 1024 * 1024
    log_level: str = "info"

    # Providers
    stt: str = "auto"  # auto | pocketsphinx | whisper | openai
    tts: str = "auto"  # auto | espeak | piper | openai
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    stt_base_url: str | None = None
    stt_api_key: str | None = None
    stt_model: str = "whisper-1"
    whisper_model: str = "base"
    tts_base_url: str | None = None
    tts_api_key: str | None = None
    tts_model: str = "tts-1"
    tts_voices: str = "alloy,echo,fable,onyx,nova,shimmer"  # `name:xx` pins a language
    tts_sample_rate: int = 24000  # of the server's response_format="pcm" audio
    piper_voices_dir: Path | None = None  # default: data_dir/models/piper

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
