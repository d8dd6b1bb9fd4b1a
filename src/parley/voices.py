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

    def refusal(self, voice_id: str, language: str) -> str | None:
        """Why `voice_id` cannot speak a conversation in `language` (None: it can)."""
        voice = self.get(voice_id)
        if voice is None:
            example = self.example_for(language)
            hint = f" such as {example.voice_id!r}" if example else ""
            return (
                f"Unknown 'voice_id' {voice_id!r}. List valid voices with GET /v1/voices "
                f"(filter with ?language={language}) and pick one{hint}."
            )
        if voice.language is not None and voice.language != language:
            example = self.example_for(language)
            hint = f", e.g. {example.voice_id!r}" if example else ""
            return (
                f"Voice {voice_id!r} speaks {voice.language!r}, not {language!r}: choose a "
                f"voice for {language!r} (GET /v1/voices?language={language}){hint}."
            )
        return None

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
