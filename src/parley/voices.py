"""The voice catalogue: every voice the configured TTS engines can speak.

`voice_id` values in requests are checked against it, and `GET /v1/voices` lists it.
"""

from __future__ import annotations

from collections.abc import Iterable

from parley.providers.tts.base import VoiceInfo


class VoiceCatalogue:
    def __init__(self, voices: Iterable[VoiceInfo]) -> None:
        self._voices: dict[str, VoiceInfo] = {}
        for v in voices:
            self._voices.setdefault(v.voice_id, v)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._voices.values())

    def __len__(self) -> int:
        return len(self._voices)

    def get(self, voice_id: str) -> VoiceInfo | None:
        return self._voices.get(voice_id)

    def languages(self) -> set[str]:
        """Languages some voice speaks (multilingual voices count for none in particular)."""
        return {v.language for v in self._voices.values() if v.language}

    def multilingual(self) -> bool:
        return any(v.language is None for v in self._voices.values())

    def example_for(self, language: str) -> VoiceInfo | None:
        for v in self._voices.values():
            if v.language == language:
                return v
        return None

    def filter(self, language: str | None = None, engine: str | None = None) -> list[VoiceInfo]:
        return [
            v
            for v in self._voices.values()
            if (language is None or v.language in (language, None))
            and (engine is None or v.engine == engine)
        ]
