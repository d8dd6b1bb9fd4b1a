"""Parley quick start, asyncio API: ask a spoken question, hear the answer.

    PARLEY_API_KEY=... python examples/quickstart_async.py [question.wav]

The same as quickstart_sync.py, reading the events with `async for`: creates a
conversation with a `get_weather` tool, streams the question from a WAV file (spoken by
espeak-ng if no file is given), prints the transcripts, answers the tool call, and saves
the spoken reply to reply.wav.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path

import numpy as np

from parley.client import (
    AsyncParley,
    ErrorEvent,
    ParleyError,
    Reconnected,
    ToolCall,
    Transcript,
    TurnEnd,
)

QUESTION = "What is the weather like in Paris today?"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Today's weather in a city",
    "parameters": {"city": {"type": "string", "required": True}},
}


def spoken_question(path: str | None) -> Path:
    """The WAV file to play: the one given, or QUESTION spoken by espeak-ng."""
    if path:
        return Path(path)
    from parley.audio.wav import write_wav
    from parley.providers.tts.espeak import EspeakTTS

    tts = EspeakTTS()
    speech = tts.synthesize_blocking(QUESTION, "espeak-en-us-male")
    lead_in = np.zeros(tts.sample_rate // 4, dtype=np.int16)
    out = Path(tempfile.gettempdir()) / "parley-question.wav"
    write_wav(out, np.concatenate([lead_in, speech]), tts.sample_rate)
    return out


async def main() -> int:
    wav = spoken_question(sys.argv[1] if len(sys.argv) > 1 else None)
    async with AsyncParley() as client:  # PARLEY_BASE_URL, PARLEY_API_KEY
        conv = await client.conversations.create(
            voice_id="piper-en-us-joe",
            system_prompt="You are a friendly travel assistant. Use get_weather for weather "
            "questions. Answer in one or two short sentences.",
            tools=[WEATHER_TOOL],
        )
        print(f"conversation {conv.session_id}; playing {wav}")
        stream = client.conversations.stream(conv.session_id)

        @stream.tool("get_weather")  # answered automatically
        async def get_weather(city: str) -> dict[str, object]:
            return {"city": city, "forecast": "sunny", "temperature_c": 22}

        async with stream:
            speaking = asyncio.create_task(stream.play_file(wav, then_silence=1.5))
            try:
                async with asyncio.timeout(60):
                    async for event in stream:  # typed events, in order
                        match event:
                            case Transcript(is_final=True):
                                print(f"{event.role:>9}: {event.text}")
                            case ToolCall():
                                print(f"     tool: {event.name}({event.arguments})")
                            case Reconnected():
                                print(f"(reconnected after {event.attempts} attempt(s))")
                            case ErrorEvent():  # the SDK's own, e.g. a tool raised; the
                                # server's (llm_not_configured, …) raise ParleyError
                                print(f"    error: {event.code}: {event.message}", file=sys.stderr)
                            case TurnEnd(discarded=True):
                                print("(the recogniser heard no words)")
                                break
                            case TurnEnd(role="assistant"):
                                break
            except TimeoutError:
                print("no reply within 60 s", file=sys.stderr)
            speaking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await speaking
            stream.save_audio("reply.wav")
        print(f"saved {stream.audio_seconds:.1f} s of the reply to reply.wav")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except ParleyError as exc:
        print(f"Parley error: {exc}", file=sys.stderr)
        sys.exit(1)
