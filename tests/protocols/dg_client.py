"""Deepgram's own SDK (`deepgram-sdk`, agent v1 socket) pointed at a Parley server.

Every JSON message the server sends is parsed by the SDK (`recv()`), then validated
strictly against the model the SDK picked: a message missing a required field, or of
a type the SDK does not know, fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from deepgram.agent.v1.types import (
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

from tests.harness import ServerThread


def settings(prompt: str = "You are a helpful assistant.", **agent: Any) -> AgentV1Settings:
    """Settings as a Deepgram app sends them: linear16 16 kHz in, 24 kHz out."""
    return AgentV1Settings(
        audio=AgentV1SettingsAudio(
            input=AgentV1SettingsAudioInput(encoding="linear16", sample_rate=16000),
            output=AgentV1SettingsAudioOutput(
                encoding="linear16", sample_rate=24000, container="none"
            ),
        ),
        agent=AgentV1SettingsAgent(
            think=ThinkSettingsV1(
                provider=ThinkSettingsV1Provider_OpenAi(type="open_ai", model="gpt-4o-mini"),
                prompt=prompt,
                **agent.pop("think", {}),
            ),
            speak=SpeakSettingsV1(
                provider=SpeakSettingsV1Provider_Deepgram(type="deepgram", model="aura-2-thalia-en")
            ),
            **agent,
        ),
    )


class Agent:
    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.messages: list[Any] = []
        self.times: list[float] = []
        self.audio: list[tuple[float, bytes]] = []
        self.closed = False
        self._reader = asyncio.create_task(self._read())
        # an app streams its microphone all along; a test that sends nothing for a
        # while keeps the socket open as Deepgram's docs say: KeepAlive every few seconds
        self._keep_alive = asyncio.create_task(self._keep_alive_loop())

    async def _keep_alive_loop(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(3)
                await self.sock.send_keep_alive()

    async def _read(self) -> None:
        try:
            while True:
                message = await self.sock.recv()
                now = time.monotonic()
                if isinstance(message, bytes):
                    self.audio.append((now, message))
                    continue
                assert not isinstance(message, dict), f"the SDK does not know {message}"
                # strict: the SDK's own model, with every required field present
                type(message).model_validate(message.model_dump(exclude_unset=True))
                self.messages.append(message)
                self.times.append(now)
        except Exception as exc:  # the socket closed (or a message failed validation)
            self.closed = True
            if isinstance(exc, AssertionError | ValueError):
                self.failure: BaseException = exc
            return

    def of_type(self, kind: str, **match: Any) -> list[Any]:
        self._check()
        return [
            m
            for m in self.messages
            if m.type == kind and all(getattr(m, k, None) == v for k, v in match.items())
        ]

    def _check(self) -> None:
        if (failure := getattr(self, "failure", None)) is not None:
            raise AssertionError(f"a server message failed the SDK's model: {failure}")

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 20, **match: Any) -> Any:
        deadline = time.monotonic() + timeout
        while len(found := self.of_type(kind, **match)) < count:
            if time.monotonic() > deadline or self.closed:
                self._check()
                seen = [m.type for m in self.messages]
                raise AssertionError(f"no {count}x {kind} {match} (closed={self.closed}): {seen}")
            await asyncio.sleep(0.02)
        return found[count - 1]

    def audio_seconds(self, rate: int = 24000, after: float = 0.0) -> float:
        return sum(len(b) for t, b in self.audio if t > after) / 2 / rate

    async def send_audio(self, samples: np.ndarray, rate: int = 16000, chunk_ms: int = 20) -> None:
        """Linear16 at `rate`, paced in real time, as a microphone sends it."""
        step = rate * chunk_ms // 1000
        start = time.monotonic()
        for i, offset in enumerate(range(0, len(samples), step)):
            await self.sock.send_media(samples[offset : offset + step].astype("<i2").tobytes())
            delay = start + (i + 1) * chunk_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def send_silence(self, seconds: float, rate: int = 16000) -> None:
        await self.send_audio(np.zeros(int(seconds * rate), dtype=np.int16), rate)


def sdk_client(server: ServerThread, key: str) -> AsyncDeepgramClient:
    env = DeepgramClientEnvironment(
        base=server.url, production=server.ws_url, agent=server.ws_url, agent_rest=server.url
    )
    return AsyncDeepgramClient(api_key=key, environment=env)


@contextlib.asynccontextmanager
async def connect(server: ServerThread, key: str) -> AsyncIterator[Agent]:
    async with sdk_client(server, key).agent.v1.connect() as sock:
        agent = Agent(sock)
        try:
            yield agent
        finally:
            for task in (agent._reader, agent._keep_alive):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
