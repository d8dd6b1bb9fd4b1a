"""A Deepgram Voice Agent app, unchanged but for the URL and the key, talking to Parley.

    PARLEY_BASE_URL=http://127.0.0.1:8000 PARLEY_API_KEY=prl_… \\
        python examples/deepgram_agent.py "What can you do?"

It types a question (InjectUserMessage) instead of streaming a microphone, prints every
message it gets, and counts the reply's audio (linear16, 24 kHz).
"""

from __future__ import annotations

import os
import sys

from deepgram import DeepgramClient, DeepgramClientEnvironment
from deepgram.agent.v1.types import (
    AgentV1InjectUserMessage,
    AgentV1Settings,
    AgentV1SettingsAgent,
    AgentV1SettingsAudio,
    AgentV1SettingsAudioInput,
    AgentV1SettingsAudioOutput,
)
from deepgram.types.speak_settings_v1 import SpeakSettingsV1
from deepgram.types.speak_settings_v1provider import SpeakSettingsV1Provider_Deepgram
from deepgram.types.think_settings_v1 import ThinkSettingsV1
from deepgram.types.think_settings_v1provider import ThinkSettingsV1Provider_OpenAi

base = os.environ.get("PARLEY_BASE_URL", "http://127.0.0.1:8000")
ws = base.replace("http", "ws", 1)
env = DeepgramClientEnvironment(base=base, production=ws, agent=ws, agent_rest=base)
client = DeepgramClient(api_key=os.environ["PARLEY_API_KEY"], environment=env)

settings = AgentV1Settings(
    audio=AgentV1SettingsAudio(
        input=AgentV1SettingsAudioInput(encoding="linear16", sample_rate=16000),
        output=AgentV1SettingsAudioOutput(encoding="linear16", sample_rate=24000),
    ),
    agent=AgentV1SettingsAgent(
        think=ThinkSettingsV1(
            provider=ThinkSettingsV1Provider_OpenAi(type="open_ai", model="gpt-4o-mini"),
            prompt="You are a helpful assistant.",
        ),
        speak=SpeakSettingsV1(
            provider=SpeakSettingsV1Provider_Deepgram(type="deepgram", model="aura-2-thalia-en")
        ),
    ),
)

with client.agent.v1.connect() as agent:
    agent.send_settings(settings)
    audio = 0
    for message in agent:
        if isinstance(message, bytes):
            audio += len(message)
            continue
        print(message.type, message.model_dump_json())
        if message.type == "SettingsApplied":
            question = sys.argv[1] if len(sys.argv) > 1 else "Hello!"
            agent.send_inject_user_message(AgentV1InjectUserMessage(content=question))
        if message.type == "AgentAudioDone":
            print(f"audio: {audio / 2 / 24000:.1f} s")
            break
