"""The one error type of the text-to-speech providers."""

from __future__ import annotations

TTS_UNAVAILABLE = "tts_unavailable"  # engine or optional extra not installed
TTS_MISCONFIGURED = "tts_misconfigured"  # PARLEY_TTS* settings that cannot work
TTS_UNKNOWN_VOICE = "tts_unknown_voice"
TTS_UNREACHABLE = "tts_unreachable"  # connection refused, DNS failure, reset…
TTS_AUTH = "tts_auth"  # HTTP 401/403
TTS_TIMEOUT = "tts_timeout"
TTS_REMOTE_ERROR = "tts_remote_error"  # any other HTTP error, or audio we cannot play
TTS_FAILED = "tts_failed"  # a local engine raised while speaking
TTS_DOWNLOAD_FAILED = "tts_download_failed"  # `parley models pull` of a voice
TTS_MODEL_CORRUPT = "tts_model_corrupt"  # a bundled voice file is not the pinned one


class TTSError(RuntimeError):
    """A text-to-speech failure, with a stable `code` for stream error messages.

    `message` is written for the operator: it names the setting or command that fixes it.
    `status` is the HTTP status when a remote server answered with an error.
    """

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
