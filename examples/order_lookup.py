"""Look up an order by voice: a client-side tool and a server-side webhook.

Run against a server whose LLM can call tools (e.g. Ollama with llama3.1), started with
`PARLEY_WEBHOOK_ALLOW=127.0.0.1` (the webhook below listens on loopback, which the
server refuses to call by default):

    PARLEY_API_KEY=dev-key-change-me python examples/order_lookup.py "Where is order A42?"

The question is sent as a typed user turn (so the example needs no microphone); the
reply's speech is saved to order_reply.wav. `lookup_order` is answered here, by this
script; `order_eta` is a webhook the server calls itself (served by this script too).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import websockets

BASE = os.environ.get("PARLEY_BASE_URL", "http://127.0.0.1:8000")
KEY = os.environ.get("PARLEY_API_KEY", "dev-key-change-me")
ORDERS = {"A42": {"status": "shipped", "carrier": "DHL"}, "B7": {"status": "packing"}}

TOOLS = [
    {
        "name": "lookup_order",
        "description": "Look up an order's status by its ID",
        "parameters": {"order_id": {"type": "string", "required": True}},
    },
    {
        "name": "order_eta",
        "description": "When will an order arrive",
        "parameters": {"order_id": {"type": "string", "required": True}},
        "endpoint": {"url": "http://127.0.0.1:{port}/eta", "method": "POST"},
    },
]


def start_webhook() -> int:
    """The server-side tool: Parley POSTs the arguments here."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            args = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = json.dumps({"order_id": args.get("order_id"), "eta": "Tuesday"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return int(server.server_address[1])


async def main(question: str) -> None:
    port = start_webhook()
    tools = json.loads(json.dumps(TOOLS).replace("{port}", str(port)))
    async with httpx.AsyncClient(base_url=BASE, headers={"Authorization": f"Bearer {KEY}"}) as api:
        r = await api.post(
            "/v1/conversations/create",
            json={
                "voice_id": "piper-en-us-joe",
                "system_prompt": "You are Acme's order assistant. Use the tools; be brief.",
                "tools": tools,
            },
        )
        r.raise_for_status()
        conv = r.json()
    url = conv["websocket_url"] + "?sample_rate=16000&encoding=pcm16"
    audio = bytearray()
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ws.send(json.dumps({"type": "inject_user_message", "text": question}))
        async for message in ws:
            if isinstance(message, bytes):
                audio.extend(message)
                continue
            event = json.loads(message)
            kind = event["type"]
            if kind == "tool_call" and event["name"] == "lookup_order":
                order = ORDERS.get(str(event["arguments"].get("order_id", "")).upper())
                answer: dict[str, Any] = {"type": "tool_result", "call_id": event["call_id"]}
                if order is None:
                    answer["error"] = "no such order"
                else:
                    answer["result"] = order
                await ws.send(json.dumps(answer))
            if kind in ("transcript", "tool_call", "error") and event.get("is_final", True):
                print(json.dumps(event))
            if kind == "turn_end" and event["role"] == "assistant":
                break
            if kind == "error" and event["code"].startswith("llm_"):
                break
    with wave.open("order_reply.wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(audio))
    print(f"saved {len(audio) / 32000:.1f} s of speech to order_reply.wav")


if __name__ == "__main__":
    default = "Where is order A42, and when will it arrive?"
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else default))
