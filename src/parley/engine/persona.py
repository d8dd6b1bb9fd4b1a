"""Who the assistant is in one conversation: what it is told (the system prompt) and how
it sounds (the voice). Live updates are checked and stored; each gives the event that
acknowledges (or refuses) it."""

from __future__ import annotations

from parley.engine import events as ev
from parley.store.conversations import ConversationStore
from parley.store.records import ConversationRecord
from parley.voices import VoiceCatalogue


class Persona:
    def __init__(
        self, record: ConversationRecord, store: ConversationStore, voices: VoiceCatalogue
    ) -> None:
        self._id = record.id
        self._language = record.language
        self._store = store
        self._voices = voices
        self.system_prompt = record.system_prompt
        self.voice_id = record.voice_id

    async def set_prompt(self, prompt: str) -> ev.Event:
        """From the next reply on."""
        self.system_prompt = prompt
        await self._store.update_settings(self._id, system_prompt=prompt)
        return ev.Ack("prompt_updated", {"prompt": prompt})

    async def set_voice(self, voice_id: str) -> ev.Event:
        """From the next sentence on; an unknown voice, or one of another language, is
        refused (`unknown_voice`)."""
        if (problem := self._voices.refusal(voice_id, self._language)) is not None:
            return ev.ErrorEvent("unknown_voice", problem)
        self.voice_id = voice_id
        await self._store.update_settings(self._id, voice_id=voice_id)
        return ev.Ack("voice_updated", {"voice_id": voice_id})
