"""The database going away for a few seconds in the middle of a conversation (PostgreSQL,
a cluster of the test's own, stopped and started again): the conversation goes on and
says what it could not store (`error` `storage_error`), the socket stays open, nothing
stored before is lost, and once the database is back, turns are stored again."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.doubles.llm_server import LLMServer, Script, text
from tests.harness import ServerThread, server_settings
from tests.stream_client import StreamClient
from tests.test_cli import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "start-test-postgres.sh"
pytestmark = pytest.mark.skipif(
    not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    reason="Debian's postgresql is not installed (.ci/run installs it)",
)


class Cluster:
    """A PostgreSQL cluster of this test's own (scripts/start-test-postgres.sh)."""

    def __init__(self, directory: Path) -> None:
        self.env = {
            **os.environ,
            "PARLEY_TEST_PG_PORT": str(free_port()),
            "PARLEY_TEST_PG_DIR": str(directory),
        }

    def _run(self, command: str) -> str:
        out = subprocess.run(
            [str(SCRIPT), command], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def start(self) -> str:
        return self._run("start")

    def stop(self) -> None:
        self._run("stop")


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = Path("/tmp") / f"parley-outage-pg-{os.getpid()}-{free_port()}"
    pg = Cluster(directory)
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


async def test_the_database_going_away_for_a_while_loses_nothing_stored(
    cluster: Cluster, llm: LLMServer, tmp_path: Path
) -> None:
    url = cluster.start()
    llm.queue(
        Script(text("Hello there!")), Script(text("I am here.")), Script(text("Welcome back."))
    )
    settings = server_settings(url, tmp_path, llm_base_url=llm.base_url, llm_model="m")
    with ServerThread(settings) as server:
        key = server.new_key()
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=30) as client:
            body = {"voice_id": "espeak-en-us-male", "system_prompt": "Be brief."}
            sid = client.post("/v1/conversations/create", json=body).json()["session_id"]
            stream = await StreamClient.connect(server.ws_url, sid, key)
            try:
                await stream.wait_for("session_started")
                await stream.send_json({"type": "inject_user_message", "text": "Hi."})
                await stream.wait_for("turn_end", role="assistant", timeout=30)

                cluster.stop()  # the database goes away
                await stream.send_json({"type": "inject_user_message", "text": "Still there?"})
                await stream.wait_until(
                    lambda: len(stream.of_type("error", code="storage_error")) >= 2,
                    "storage_error for the user turn and the reply",
                    timeout=30,
                )
                assert stream.closed is None  # the socket stays open
                assert len(stream.of_type("turn_start", role="assistant")) == 2  # it answered

                cluster.start()  # and comes back
                await stream.send_json({"type": "inject_user_message", "text": "And now?"})
                await stream.wait_until(
                    lambda: len(stream.of_type("turn_end", role="assistant")) == 2,
                    "the reply after the outage, stored",
                    timeout=30,
                )
            finally:
                await stream.close()
            got = client.get(f"/v1/conversations/{sid}")
            assert got.status_code == 200, got.text
            texts = [(t["role"], t["text"]) for t in got.json()["history"]]
            assert texts == [
                ("user", "Hi."),
                ("assistant", "Hello there!"),
                ("user", "And now?"),
                ("assistant", "Welcome back."),
            ]
