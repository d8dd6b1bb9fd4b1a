"""The issue's "done when": the playground, a spoken question, a spoken answer, with
nothing but Parley: the server's own embedded LLM (no double, no setting but
PARLEY_LLM=embedded, which is what `auto` picks on a fresh machine), headless Chromium
with a fake microphone playing the question (as tests/playground does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ServerThread, fresh_database_url, server_settings
from tests.llm_fixtures import _require_llama
from tests.playground.conftest import mount_playground
from tests.playground.test_playground_browser import (
    MISSING,
    QUESTION,
    USER_FINAL,
    Launch,
    fake_mic,
    launch,
    open_playground,
    page_state,
    start_talking,
    stats_ms,
    wait_for,
)
from tests.speech import silence, speak

__all__ = ["launch"]  # the fixture, shared with tests/playground
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"no {', '.join(MISSING)}: ./scripts/browser-deps.sh"),
]


@pytest.fixture(scope="module")
def playground_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    _require_llama()
    tmp: Path = tmp_path_factory.mktemp("embedded-playground")
    settings = server_settings(fresh_database_url("sqlite", tmp), tmp, llm="embedded")
    with mount_playground(ServerThread(settings)) as srv:
        yield srv


def test_a_spoken_question_in_the_playground_gets_a_spoken_answer_from_the_embedded_llm(
    launch: Launch, tmp_path: Path, playground_server: ServerThread
) -> None:
    wav = fake_mic(tmp_path / "question.wav", silence(1.0), speak(QUESTION), silence(14.0))
    driver = launch(wav)
    open_playground(driver, playground_server.url, playground_server.new_key())
    start_talking(driver)
    user_text: str = wait_for(driver, "the user's final transcript", USER_FINAL, timeout=45)
    assert "weather" in user_text.lower(), page_state(driver)
    reply: str = wait_for(
        driver,
        "the assistant's final transcript",
        "(() => { const m = document.querySelector('.msg[data-role=assistant][data-final=true]');"
        " return m && m.querySelector('.text').textContent.trim(); })()",
        timeout=60,
    )
    assert len(reply.split()) >= 2, page_state(driver)
    wait_for(
        driver,
        "the reply's audio to be played",
        "Number(document.getElementById('stat-played').dataset.ms) >= 1000",
        timeout=30,
    )
    (played,) = stats_ms(driver, "played")
    assert played >= 1000, played
    alerts = driver.execute_script(
        "return [...document.querySelectorAll('#alerts .alert')].map(e => e.textContent)"
    )
    assert alerts == [], alerts  # no llm_* error, nothing else
