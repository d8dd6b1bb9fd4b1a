"""The README's runnable tool example, run as a script against a live server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.doubles.llm_server import LLMServer, Script, text, tool_call
from tests.harness import BOOTSTRAP_KEY, ServerThread

ROOT = Path(__file__).resolve().parents[2]


async def test_order_lookup_example(server: ServerThread, llm: LLMServer, tmp_path: Path) -> None:
    llm.queue(
        Script(
            tool_call("lookup_order", {"order_id": "A42"}, id="c1"),
            tool_call("order_eta", {"order_id": "A42"}, id="c2"),
        ),
        Script(text("Order A42 has shipped with DHL and arrives Tuesday.")),
    )
    env = {**os.environ, "PARLEY_BASE_URL": server.url, "PARLEY_API_KEY": BOOTSTRAP_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "order_lookup.py"),
        "Where is order A42?",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert {
        "type": "tool_call",
        "call_id": "c1",
        "name": "lookup_order",
        "arguments": {"order_id": "A42"},
    } in events
    assert not [e for e in events if e.get("name") == "order_eta"]  # the server called it
    tool_messages = [m for m in llm.chat_requests[-1].body["messages"] if m["role"] == "tool"]
    assert json.loads(tool_messages[0]["content"]) == {"status": "shipped", "carrier": "DHL"}
    assert json.loads(tool_messages[1]["content"]) == {"order_id": "A42", "eta": "Tuesday"}
    assert (tmp_path / "order_reply.wav").stat().st_size > 32000
