"""Several processes on one PostgreSQL: two servers starting at once on a fresh database
both come up (migrations under an advisory lock, the bootstrap key upserted), and turns
appended at once from two connections get distinct, gapless sequence numbers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from parley.store import Store
from parley.timeutil import utcnow
from tests.harness import fresh_database_url, run_async
from tests.test_cli import free_port

pytestmark = pytest.mark.postgres


def test_two_servers_start_at_once_on_a_fresh_database(tmp_path: Path) -> None:
    url = fresh_database_url("postgres", tmp_path)
    key = "a-long-shared-bootstrap-key-0123456789"
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "parley", "serve", "--port", str(port)],
            env={
                **os.environ,
                "PARLEY_DATABASE_URL": url,
                "PARLEY_API_KEY": key,
                "PARLEY_DATA_DIR": str(tmp_path / f"d{port}"),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for port in ports
    ]
    try:
        for proc, port in zip(procs, ports, strict=True):
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, proc.communicate()[0]
                try:
                    r = httpx.get(
                        f"http://127.0.0.1:{port}/v1/keys",
                        headers={"Authorization": f"Bearer {key}"},
                        timeout=2,
                    )
                    if r.status_code == 200:
                        assert len(r.json()["data"]) == 1  # registered once
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_concurrent_append_turn_from_two_connections(tmp_path: Path) -> None:
    url = fresh_database_url("postgres", tmp_path)

    async def race() -> list[int]:
        one, two = await Store.open(url), await Store.open(url)
        try:
            account, _ = await one.keys.create_account_with_key("race")
            conv = await one.conversations.create(
                account_id=account,
                voice_id="v",
                system_prompt="p",
                language="en",
                tools=[],
                context_window=10,
                max_turns=None,
            )
            stores = [one, two] * 15
            turns = await asyncio.gather(
                *(
                    s.conversations.append_turn(
                        conv.id, role="user", text=f"t{i}", timestamp=utcnow(), duration_ms=0
                    )
                    for i, s in enumerate(stores)
                )
            )
            return sorted(t.seq for t in turns)
        finally:
            await one.close()
            await two.close()

    assert run_async(race) == list(range(1, 31))


def test_concurrent_migrations_on_a_fresh_database(tmp_path: Path) -> None:
    url = fresh_database_url("postgres", tmp_path)

    async def all_at_once() -> int:
        # (before the advisory lock this hung or failed: concurrent CREATE TABLEs)
        stores = await asyncio.wait_for(
            asyncio.gather(*(Store.open(url) for _ in range(4))), timeout=60
        )
        try:
            await asyncio.gather(*(s.keys.ensure_bootstrap_key("k" * 30) for s in stores))
            return await stores[0].keys.count()
        finally:
            for s in stores:
                await s.close()

    assert run_async(all_at_once) == 1
