"""Random connection cuts under the SDK: every turn delivered once, none lost.

    python -m bench.sdk_cuts --cuts 100 --sessions 4

A live server (in this process, on a fresh SQLite file, its LLM the OpenAI-compatible
double: each reply echoes the question in ~2 s of speech) is reached through a TCP proxy
(`tests/client/proxy.py`) that aborts every connection at random moments (0.3-2.5 s
apart: during replies, between them, during reconnections). Each session asks a typed
question, waits for the reply's `turn_end`, and asks again, until the cuts are done.
A question written into a socket just before it is cut may never reach the server
(counted as unanswered; the session asks again). Then, per session, the turn ids its
handlers saw (`turn_end`) are compared with the stored history: a stored turn never
delivered is lost, one delivered twice duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from parley.client import AsyncParley, TurnEnd
from tests.client.proxy import TcpProxy
from tests.doubles.llm_server import LLMServer
from tests.harness import llm_backed_server

VOICE = "espeak-en-us-male"


@dataclass
class Report:
    cuts: int = 0
    sessions: int = 0
    questions: int = 0
    unanswered: int = 0  # a question lost in a cut socket, before the server read it
    turns_stored: int = 0
    turns_delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    connections: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


async def one_session(
    api: AsyncParley, via: AsyncParley, stop: asyncio.Event, report: Report
) -> None:
    conv = await api.conversations.create(voice_id=VOICE, system_prompt="Answer briefly.")
    ends: list[TurnEnd] = []
    stream = via.conversations.stream(conv.session_id, max_reconnect_attempts=10_000)
    async with stream:
        stream.on("turn_end", ends.append)
        while not stop.is_set():
            report.questions += 1
            await stream.inject_user_message(f"Question {report.questions}, please.")
            try:
                await stream.wait_for(TurnEnd, role="assistant", timeout=30)
            except Exception as exc:  # noqa: BLE001 - counted, and the session asks again
                report.unanswered += 1
                report.problems.append(f"{conv.session_id}: no reply: {exc}")
        report.connections += stream.connection_attempts
    stored = [t.turn_id for t in (await api.conversations.get(conv.session_id)).history]
    seen = collections.Counter(e.turn_id for e in ends)
    report.turns_stored += len(stored)
    report.turns_delivered += sum(seen.values())
    lost = [t for t in stored if t not in seen]
    twice = [t for t, n in seen.items() if n > 1]
    report.lost += len(lost)
    report.duplicated += len(twice)
    if lost or twice:
        report.problems.append(f"{conv.session_id}: lost {lost}, duplicated {twice}")


async def cutter(proxy: TcpProxy, cuts: int, rng: random.Random, report: Report) -> None:
    for _ in range(cuts):
        await asyncio.sleep(rng.uniform(0.3, 2.5))
        proxy.cut()
        report.cuts += 1


async def run(cuts: int, sessions: int, seed: int) -> Report:
    report = Report(sessions=sessions)
    rng = random.Random(seed)
    started = time.monotonic()
    with (
        LLMServer() as llm,
        tempfile.TemporaryDirectory() as tmp,
        llm_backed_server(llm.base_url, Path(tmp)) as server,
        TcpProxy(server.port) as proxy,
    ):
        key = server.new_key()
        async with (
            AsyncParley(base_url=server.url, api_key=key) as api,
            AsyncParley(base_url=proxy.url, api_key=key) as via,
        ):
            stop = asyncio.Event()
            talkers = [
                asyncio.create_task(one_session(api, via, stop, report)) for _ in range(sessions)
            ]
            await cutter(proxy, cuts, rng, report)
            stop.set()
            await asyncio.gather(*talkers)
    report.seconds = round(time.monotonic() - started, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    report = asyncio.run(run(args.cuts, args.sessions, args.seed))
    print(
        f"{report.cuts} cuts, {report.sessions} sessions, {report.questions} questions, "
        f"{report.connections} connections in {report.seconds} s: {report.turns_stored} turns "
        f"stored, {report.turns_delivered} delivered; lost {report.lost}, "
        f"duplicated {report.duplicated}; questions unanswered {report.unanswered}"
    )
    for problem in report.problems:
        print("  ", problem)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    raise SystemExit(1 if report.lost or report.duplicated else 0)


if __name__ == "__main__":
    main()
