"""The README's protocol examples, run as scripts against a live server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.doubles.llm_server import LLMServer, Script, text
from tests.harness import BOOTSTRAP_KEY, ServerThread

ROOT = Path(__file__).resolve().parents[2]


async def run_example(server: ServerThread, name: str, *args: str) -> list[str]:
    env = {**os.environ, "PARLEY_BASE_URL": server.url, "PARLEY_API_KEY": BOOTSTRAP_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / name),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    return out.decode().splitlines()


async def test_deepgram_example(server: ServerThread, llm: LLMServer) -> None:
    llm.queue(Script(text("I can talk with you. Ask me anything.")))
    lines = await run_example(server, "deepgram_agent.py", "What can you do?")
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert kinds[:2] == ["Welcome", "SettingsApplied"]
    said = [line for line in lines if line.startswith("ConversationText")]
    assert '"role":"user","content":"What can you do?"' in said[0]
    assert '"role":"assistant","content":"I can talk with you."' in said[1]
    assert any(line.startswith("AgentStartedSpeaking") for line in lines)
    seconds = float(lines[-1].removeprefix("audio: ").removesuffix(" s"))
    assert lines[-2].startswith("AgentAudioDone") and seconds > 1.0


async def test_openai_realtime_example(server: ServerThread, llm: LLMServer) -> None:
    llm.queue(Script(text("I can talk with you. Ask me anything.")))
    lines = await run_example(server, "openai_realtime.py", "What can you do?")
    assert lines[:2] == ["session.created", "session.updated"]
    assert "response.created" in lines and lines[-3] == "response.done"
    assert lines[-2] == "transcript: I can talk with you. Ask me anything."
    assert float(lines[-1].removeprefix("audio: ").removesuffix(" s")) > 1.0
