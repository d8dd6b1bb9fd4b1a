"""Malformed inputs against a live server: how many were tried, how many 5xx, how many
crashed a session. `python -m bench.malformed --rest 200 --stream 150` (examples per
REST operation, batches per stream encoding).

REST: schemathesis generates requests from the app's own OpenAPI schema (valid and
invalid bodies, query and path values); every answer must be < 500, and every error
`{"error": {"type", "message", "param"}}`. Stream: hypothesis batches of random text
(JSON and not, deep nesting, huge numbers) and binary frames in each encoding; after
each batch the socket must still answer a probe. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

from parley.audio.codecs import ENCODINGS
from tests.harness import ServerThread, fresh_database_url, server_settings
from tests.security.test_fuzz_stream import _batch as send_batch
from tests.security.test_fuzz_stream import messages

COUNTS = {"rest": 0, "rest_5xx": 0, "bad_shape": 0, "stream_messages": 0, "dead_sessions": 0}


def fuzz_rest(srv: ServerThread, key: str, examples: int) -> None:
    schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
    for result in schema.get_all_operations():
        op = result.ok()

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def run(case: schemathesis.Case) -> None:
            COUNTS["rest"] += 1
            r = case.call(base_url=srv.url, headers={"Authorization": f"Bearer {key}"})
            if r.status_code >= 500:
                COUNTS["rest_5xx"] += 1
                print("5xx:", case.method, case.formatted_path, r.text[:200])
            elif r.status_code >= 400:
                body = r.json()
                if set(body) != {"error"} or set(body["error"]) != {"type", "message", "param"}:
                    COUNTS["bad_shape"] += 1

        run()


async def one_batch(srv: ServerThread, key: str, sid: str, enc: str, batch: list[Any]) -> None:
    try:
        await send_batch(srv, key, sid, enc, batch, f"probe_{time.monotonic_ns()}")
    except Exception as exc:  # noqa: BLE001 - counted
        COUNTS["dead_sessions"] += 1
        print("session died:", enc, type(exc).__name__, exc)
    COUNTS["stream_messages"] += len(batch)


def fuzz_encoding(srv: ServerThread, key: str, sid: str, enc: str, batches: int) -> None:
    @settings(
        max_examples=batches, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(batch=messages)
    def run(batch: list[Any]) -> None:
        asyncio.run(one_batch(srv, key, sid, enc, batch))

    run()


def fuzz_stream(srv: ServerThread, key: str, sid: str, batches: int) -> None:
    for enc in ENCODINGS:
        fuzz_encoding(srv, key, sid, enc, batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rest", type=int, default=200, help="examples per REST operation")
    parser.add_argument("--stream", type=int, default=150, help="batches per encoding")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        s = server_settings(
            fresh_database_url("sqlite", Path(tmp)),
            Path(tmp),
            rate_limit_per_s=1e6,
            rate_limit_burst=10**6,
            global_rate_limit_per_s=1e6,
        )
        started = time.monotonic()
        with ServerThread(s) as srv:
            key = srv.new_key("bench")
            sid = httpx.post(
                f"{srv.url}/v1/conversations/create",
                json={"voice_id": "espeak-en-us-female", "system_prompt": "Hi."},
                headers={"Authorization": f"Bearer {key}"},
            ).json()["session_id"]
            fuzz_rest(srv, key, args.rest)
            fuzz_stream(srv, key, sid, args.stream)
            alive = httpx.get(f"{srv.url}/healthz").status_code == 200
    took = time.monotonic() - started
    print(
        f"REST requests {COUNTS['rest']}: {COUNTS['rest_5xx']} 5xx, "
        f"{COUNTS['bad_shape']} errors not in the documented shape\n"
        f"stream messages {COUNTS['stream_messages']} in {args.stream * len(ENCODINGS)} "
        f"batches: {COUNTS['dead_sessions']} sessions died\n"
        f"server alive at the end: {alive}; {took:.0f} s"
    )


if __name__ == "__main__":
    main()
