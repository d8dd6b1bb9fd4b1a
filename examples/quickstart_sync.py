"""Parley quick start, blocking API: ask a spoken question, hear the answer.

    PARLEY_API_KEY=... python examples/quickstart_sync.py [question.wav]

Creates a conversation with a `get_weather` tool, streams the question from a WAV file
(spoken by espeak-ng if no file is given) in real time, prints the transcripts, answers
the tool call, and saves the spoken reply to reply.wav. The server is PARLEY_BASE_URL
(default http://127.0.0.1:8000); it needs an LLM (PARLEY_LLM_BASE_URL) to answer.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from parley.client import ErrorEvent, Parley, ParleyError, Reconnected, Transcript, TurnEnd

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


def main() -> int:
    wav = spoken_question(sys.argv[1] if len(sys.argv) > 1 else None)
    with Parley() as client:  # PARLEY_BASE_URL, PARLEY_API_KEY
        conv = client.conversations.create(
            voice_id="piper-en-us-joe",
            system_prompt="You are a friendly travel assistant. Use get_weather for weather "
            "questions. Answer in one or two short sentences.",
            tools=[WEATHER_TOOL],
        )
        print(f"conversation {conv.session_id}; playing {wav}")
        answered = threading.Event()

        with client.conversations.stream(conv.session_id) as stream:
            # Handlers run on the stream's own thread, one event at a time.
            @stream.on("transcript")
            def show(event: Transcript) -> None:
                if event.is_final:
                    print(f"{event.role:>9}: {event.text}")

            @stream.on("turn_end")
            def turn_over(event: TurnEnd) -> None:
                if event.discarded:
                    print("(the recogniser heard no words)")
                if event.role == "assistant" or event.discarded:
                    answered.set()

            @stream.on("error")
            def failed(event: ErrorEvent) -> None:
                print(f"    error: {event.code}: {event.message}", file=sys.stderr)
                if not event.client_side:  # e.g. llm_not_configured: no reply will come
                    answered.set()

            @stream.on("reconnected")
            def back(event: Reconnected) -> None:
                print(f"(reconnected after {event.attempts} attempt(s))")

            # Answered automatically; plain functions run in a worker thread.
            @stream.tool("get_weather")
            def get_weather(city: str) -> dict[str, object]:
                print(f"     tool: get_weather(city={city!r})")
                return {"city": city, "forecast": "sunny", "temperature_c": 22}

            stream.play_file(wav, then_silence=1.5)  # blocks while it plays, in real time
            if not answered.wait(timeout=60):
                print("no reply within 60 s", file=sys.stderr)
            stream.save_audio("reply.wav")
        print(f"saved {stream.audio_seconds:.1f} s of the reply to reply.wav")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ParleyError as exc:
        print(f"Parley error: {exc}", file=sys.stderr)
        sys.exit(1)
