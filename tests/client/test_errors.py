"""A server `error` event fails a wait at once: against a live server with no LLM, a typed
question gets `error` `llm_not_configured` right after the user turn, and `wait_for` /
iteration raise it as `ParleyError` instead of waiting for a reply that cannot come."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.client import AsyncParley, ErrorEvent, Parley, ParleyError, TurnEnd
from tests.client.conftest import VOICE
from tests.client.test_readme import snippet
from tests.harness import ServerThread, fresh_database_url, server_settings

QUESTION = "What should I see first in Paris?"


@pytest.fixture(scope="module")
def no_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A live server with no LLM configured (whatever this shell's PARLEY_LLM_* say)."""
    tmp = tmp_path_factory.mktemp("no-llm")
    settings = server_settings(fresh_database_url("sqlite", tmp), tmp, llm_base_url=None)
    with ServerThread(settings) as srv:
        yield srv


@pytest.fixture
def client(no_llm: ServerThread) -> Iterator[Parley]:
    with Parley(base_url=no_llm.url, api_key=no_llm.new_key()) as c:
        yield c


def test_wait_for_raises_the_servers_error_at_once(client: Parley) -> None:
    conv = client.conversations.create(voice_id=VOICE, system_prompt="Hi.")
    with client.conversations.stream(conv.session_id) as stream:
        stream.inject_user_message(QUESTION)
        # The user turn came before the error: it is still returned.
        assert stream.wait_for(TurnEnd, role="user", timeout=30).turn_id == "turn_001"
        began = time.monotonic()
        with pytest.raises(ParleyError) as err:
            stream.wait_for("turn_end", role="assistant", timeout=60)
        assert time.monotonic() - began < 10
        # Raised once: the next wait waits (and times out) instead of raising it again.
        with pytest.raises(TimeoutError):
            stream.wait_for("turn_end", role="assistant", timeout=0.5)
    assert err.value.type == "llm_not_configured"
    assert err.value.status is None
    assert "PARLEY_LLM_BASE_URL" in err.value.message
    assert str(err.value).startswith("llm_not_configured: No LLM is configured")


def test_raise_on_error_false_waits_on(client: Parley) -> None:
    conv = client.conversations.create(voice_id=VOICE, system_prompt="Hi.")
    with client.conversations.stream(conv.session_id) as stream:
        stream.inject_user_message(QUESTION)
        error = stream.wait_for(ErrorEvent, timeout=30)  # waiting for errors never raises
        assert error.code == "llm_not_configured" and not error.client_side
        stream.inject_user_message("And then?")
        with pytest.raises(TimeoutError):
            stream.wait_for("turn_end", role="assistant", timeout=3, raise_on_error=False)
        # That second error was not raised: a wait that wants errors raised gets it now.
        with pytest.raises(ParleyError, match="llm_not_configured"):
            stream.wait_for("turn_end", role="assistant", timeout=3)


async def test_async_wait_for_and_iteration_raise(no_llm: ServerThread) -> None:
    async with AsyncParley(base_url=no_llm.url, api_key=no_llm.new_key()) as client:
        conv = await client.conversations.create(voice_id=VOICE, system_prompt="Hi.")
        async with client.conversations.stream(conv.session_id) as stream:
            await stream.inject_user_message(QUESTION)
            with pytest.raises(ParleyError) as err:
                await stream.wait_for(TurnEnd, role="assistant", timeout=60)
            assert err.value.type == "llm_not_configured"

        # Iteration: the events before the error, then the error raised.
        async with client.conversations.stream(conv.session_id) as stream:
            await stream.inject_user_message(QUESTION)
            seen: list[str] = []
            with pytest.raises(ParleyError) as err:
                async for event in stream:
                    seen.append(event.type)
                    if isinstance(event, TurnEnd) and event.role == "assistant":
                        break
            assert err.value.type == "llm_not_configured"
            assert "turn_end" in seen and "error" not in seen

        # With raise_on_error=False the stream yields the error event instead.
        async with client.conversations.stream(conv.session_id, raise_on_error=False) as stream:
            await stream.inject_user_message(QUESTION)
            async for event in stream:
                if isinstance(event, ErrorEvent):
                    assert event.code == "llm_not_configured"
                    break


def test_sync_iteration_raises(client: Parley) -> None:
    conv = client.conversations.create(voice_id=VOICE, system_prompt="Hi.")
    with client.conversations.stream(conv.session_id) as stream:
        stream.inject_user_message(QUESTION)
        with pytest.raises(ParleyError, match="llm_not_configured"):
            for _ in stream:
                pass


def test_readme_quick_start_fails_fast_with_the_servers_message(
    no_llm: ServerThread, tmp_path: Path
) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(snippet("quickstart-sync"))
    env = {**os.environ, "PARLEY_BASE_URL": no_llm.url, "PARLEY_API_KEY": no_llm.new_key()}
    began = time.monotonic()
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - began < 30  # not the 60 s wait
    assert out.returncode == 1, out.stderr
    assert "llm_not_configured" in out.stderr and "PARLEY_LLM_BASE_URL" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "reply.wav").exists()
