"""An OpenAI Realtime app, unchanged but for the URL and the key, talking to Parley.

    PARLEY_BASE_URL=http://127.0.0.1:8000 PARLEY_API_KEY=prl_… \\
        python examples/openai_realtime.py "What can you do?"

It types a question instead of streaming a microphone, prints each server event's type
(and the reply's transcript), and counts the reply's audio (audio/pcm, 24 kHz).
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys

from openai import AsyncOpenAI


async def main(question: str) -> None:
    base = os.environ.get("PARLEY_BASE_URL", "http://127.0.0.1:8000")
    client = AsyncOpenAI(
        api_key=os.environ["PARLEY_API_KEY"],
        websocket_base_url=base.replace("http", "ws", 1) + "/v1",
    )
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "instructions": "You are a helpful assistant."},
            }
        )
        await conn.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": question}],
                },
            }
        )
        await conn.send({"type": "response.create"})
        audio = 0
        async for event in conn:
            if event.type == "response.output_audio.delta":
                audio += len(base64.b64decode(event.delta))
                continue
            print(event.type)
            if event.type == "response.done":
                print("transcript:", event.response.output[0].content[0].transcript)
                print(f"audio: {audio / 2 / 24000:.1f} s")
                break


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "Hello!"))
