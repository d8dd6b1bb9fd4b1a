"""The playground in a real browser: Debian's Chromium (headless) driven by Selenium.

Chromium's fake microphone plays a WAV file the test makes with Parley's own TTS. The
page is opened, the key typed in, Start clicked; then, as a person would see it:

- a spoken question becomes the user's final transcript; the LLM double asks the page for
  a tool result, answered through the page's form; the reply is spoken, its transcript
  shown, its audio played, its latency broken down; ending the conversation through the
  API shows on the page. The WebSocket was opened with a stream token, never the key.
  A screenshot goes to test-artifacts/playground.png.
- speech over a long reply interrupts it: the page flushes its playback at once.
- a wrong key, a denied microphone and a server without an LLM are said plainly.

Needs `scripts/browser-deps.sh` (apt chromium + chromium-driver, pip selenium); skips,
saying so, when they are missing.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from parley.audio.wav import write_wav
from tests.doubles.llm_server import ChatRequest, LLMServer, Script, text, tool_call
from tests.harness import ServerThread, fresh_database_url, server_settings
from tests.playground.conftest import mount_playground
from tests.speech import silence, speak

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - depends on the machine
    webdriver = None  # type: ignore[assignment]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
QUESTION = "What is the weather like in Paris today?"
REPLY = "It is sunny in Paris today, eighteen degrees."
TOOL_RESULT = {"sky": "sunny", "temperature_c": 18}
LONG_REPLY = (
    "Paris is the capital of France. It sits on the river Seine. "
    "It is known for its museums, its cafes and its long avenues. "
    "Millions of people visit it every year, in every season."
)

MISSING = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
pytestmark = pytest.mark.skipif(
    webdriver is None or bool(MISSING),
    reason=(
        "no real browser here: "
        + ("selenium is not installed; " if webdriver is None else "")
        + (f"missing {', '.join(MISSING)}; " if MISSING else "")
        + "run scripts/browser-deps.sh (apt chromium chromium-driver, pip selenium)"
    ),
)

Launch = Callable[[Path], Any]


# --- fixtures ------------------------------------------------------------------------------


# JS: the text of the user's first final transcript bubble, once there is one.
USER_FINAL = (
    "(() => { const m = document.querySelector('.msg[data-role=user][data-final=true]');"
    " return m && m.querySelector('.text').textContent.trim(); })()"
)


def fake_mic(path: Path, *parts: np.ndarray) -> Path:
    """A 16 kHz WAV for Chromium's fake microphone (which loops it: end on long silence)."""
    write_wav(path, np.concatenate(parts).astype(np.int16), 16000)
    return path


def chrome_options(profile: Path, *extra: str) -> Any:
    """Headless Chromium, quiet (no background traffic), logging the console and network."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1440,1000",
        *extra,
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return options


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start headless Chromium with a given WAV as its microphone; all quit at the end."""
    drivers: list[Any] = []

    def start(wav: Path) -> Any:
        options = chrome_options(
            tmp_path / f"profile-{len(drivers)}",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
            "--autoplay-policy=no-user-gesture-required",
        )
        try:
            service = Service(executable_path=CHROMEDRIVER)
            driver = webdriver.Chrome(options=options, service=service)
        except WebDriverException as exc:  # installed, but cannot start here
            pytest.skip(f"Chromium would not start: {exc.msg}")
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


@pytest.fixture(scope="module")
def server_without_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("no-llm")
    settings = server_settings(fresh_database_url("sqlite", tmp), tmp)  # no LLM
    with mount_playground(ServerThread(settings)) as srv:
        yield srv


# --- helpers -------------------------------------------------------------------------------


def page_state(driver: Any) -> str:
    """What the page shows and heard, for failure messages."""
    state = driver.execute_script(
        "return {status: document.getElementById('status').textContent,"
        " alerts: document.getElementById('alerts').innerText,"
        " transcript: document.getElementById('transcript').innerText,"
        " events: window.parleyEvents}"
    )
    logs = [e["message"] for e in driver.get_log("browser")]
    return f"page: {json.dumps(state, indent=1)}; console: {logs}"


def wait_for(driver: Any, what: str, script: str, timeout: float = 30) -> Any:
    """Poll a JS expression until it is truthy; fail with the page's state if it never is."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
            lambda d: d.execute_script(f"return {script}")
        )
    except TimeoutException:
        pytest.fail(f"timed out waiting for {what}; {page_state(driver)}")


def alert_text(code: str) -> str:
    """JS: the text of the page's alert with this data-code (or of any alert, for '')."""
    selector = f".alert[data-code={code}]" if code else ".alert"
    return f"(document.querySelector('{selector}') || {{}}).textContent"


def open_playground(driver: Any, url: str, key: str) -> None:
    driver.get(f"{url}/playground")
    wait_for(driver, "the page's module", "document.body.dataset.ready === 'true'")
    driver.find_element("id", "api-key").send_keys(key)
    driver.find_element("id", "load-voices").click()


def start_talking(driver: Any) -> None:
    wait_for(driver, "the voices", "document.getElementById('voice').value === 'piper-en-us-joe'")
    driver.find_element("id", "start").click()
    wait_for(driver, "the session", "document.getElementById('status').dataset.state === 'live'")


def stats_ms(driver: Any, *names: str) -> list[int]:
    """Several of the page's stats read in one script, i.e. from one and the same refresh
    (read one by one, a refresh between the reads could pair an older value with a newer)."""
    ids = json.dumps([f"stat-{name}" for name in names])
    values = driver.execute_script(
        f"return {ids}.map(id => document.getElementById(id).dataset.ms)"
    )
    return [int(v) for v in values]


def websocket_handshakes(driver: Any) -> list[dict[str, Any]]:
    """The WebSocket handshakes the browser sent (URL and headers), from its network log."""
    out = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.webSocketCreated":
            out.append({"url": message["params"]["url"], "headers": None})
        if message["method"] == "Network.webSocketWillSendHandshakeRequest":
            headers = message["params"]["request"]["headers"]
            out.append({"url": "", "headers": {k.lower(): v for k, v in headers.items()}})
    return out


def weather_responder(request: ChatRequest) -> Script:
    """First round: call the page's tool; once its result is in: the spoken answer."""
    if request.messages and request.messages[-1].get("role") == "tool":
        return Script(text(REPLY))
    if request.tools:
        return Script(tool_call("get_weather", {"city": "Paris"}, id="call_weather_1"))
    return Script(text(REPLY))


# --- tests ---------------------------------------------------------------------------------


def test_talk_to_parley_in_chromium(
    launch: Launch, tmp_path: Path, server: ServerThread, llm: LLMServer, api_key: str
) -> None:
    llm.responder = weather_responder
    started = time.monotonic()
    wav = fake_mic(tmp_path / "question.wav", silence(1.0), speak(QUESTION), silence(14.0))
    driver = launch(wav)
    open_playground(driver, server.url, api_key)
    start_talking(driver)

    # The fake microphone's question, transcribed: a final user bubble with words in it.
    user_text: str = wait_for(driver, "the user's final transcript", USER_FINAL)
    # (The embedded recogniser hears espeak's "…in Paris today" as other words; "weather"
    # it gets, as in tests/stream/test_conversation.py.)
    assert "weather" in user_text.lower(), page_state(driver)

    # The LLM called the page's tool: answer it through the card's form.
    wait_for(driver, "the tool call card", "document.querySelector('.tool-call textarea')")
    card = driver.find_element("css selector", ".tool-call")
    assert card.get_attribute("data-call-id") == "call_weather_1"
    assert "Paris" in card.find_element("css selector", "pre.args").text
    card.find_element("css selector", "textarea").send_keys(json.dumps(TOOL_RESULT))
    card.find_element("css selector", "button[type=submit]").click()

    # The reply: its final transcript on the page, its audio received and played.
    reply_text: str = wait_for(
        driver,
        "the assistant's final transcript",
        "(() => { const all = [...document.querySelectorAll("
        "'.msg[data-role=assistant][data-final=true]')];"
        " const m = all.find(x => x.querySelector('.text').textContent.includes('Paris'));"
        " return m && m.querySelector('.text').textContent; })()",
    )
    assert REPLY in reply_text
    wait_for(
        driver,
        "the reply's audio to be played",
        "Number(document.getElementById('stat-played').dataset.ms) >= 1500",
        timeout=20,
    )
    # The turn's latency: first audio, then the breakdown read back from the history.
    wait_for(driver, "the latency breakdown", "document.querySelector('#latency .part')")
    latency = driver.find_element("css selector", "#latency tbody tr:last-child").text
    assert "ms" in latency and "LLM" in latency and "end of turn" in latency, latency

    sent, received, played = stats_ms(driver, "sent", "received", "played")
    assert sent > 3000 and received >= played >= 1500, (sent, received, played)
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "playground.png"))

    # The result typed in the page reached the LLM as the tool's output.
    tool_messages = [
        m
        for r in llm.chat_requests
        for m in (r.body or {}).get("messages", [])
        if m.get("role") == "tool"
    ]
    assert tool_messages and json.loads(tool_messages[-1]["content"]) == TOOL_RESULT

    # Auth: the socket carried a stream token as a subprotocol; the key went nowhere else
    # than the REST calls' Authorization header.
    handshakes = websocket_handshakes(driver)
    urls = [h["url"] for h in handshakes if h["url"]]
    sent_headers = [h["headers"] for h in handshakes if h["headers"]]
    assert urls and sent_headers, handshakes
    for url in urls:
        assert api_key not in url and "token=" not in url, url
    for headers in sent_headers:
        protocols = [p.strip() for p in headers["sec-websocket-protocol"].split(",")]
        assert protocols[0] == "parley" and protocols[1].startswith("token."), protocols
        assert api_key not in json.dumps(headers) and "authorization" not in headers
    stored = driver.execute_script(
        "return JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + location.href"
        " + document.cookie"
    )
    assert api_key not in stored

    # Ending the conversation through the API closes the stream; the page says so.
    session_id = driver.find_element("id", "session-id").text
    r = httpx.delete(
        f"{server.url}/v1/conversations/{session_id}",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert r.status_code == 200
    ended = wait_for(driver, "the end of the session", alert_text("close_4000"))
    assert "ended through the API" in ended
    assert driver.execute_script("return document.getElementById('status').dataset.state") == (
        "ended"
    )
    assert driver.find_element("id", "start").is_enabled()
    assert [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"] == []
    assert time.monotonic() - started < 60


def test_speaking_over_the_reply_flushes_playback(
    launch: Launch, tmp_path: Path, server: ServerThread, llm: LLMServer, api_key: str
) -> None:
    llm.responder = lambda request: Script(text(LONG_REPLY))
    # The question, then — while the long reply plays — the person talks over it.
    wav = fake_mic(
        tmp_path / "barge-in.wav",
        silence(1.0),
        speak(QUESTION),
        silence(3.5),
        speak("Please stop talking now."),
        silence(14.0),
    )
    driver = launch(wav)
    open_playground(driver, server.url, api_key)
    start_talking(driver)

    event = wait_for(
        driver,
        "the interruption",
        "window.parleyEvents.find(e => e.type === 'interrupted')",
        timeout=30,
    )
    assert event["played_ms"] > 0
    # At the interruption the page dropped its queue (the server runs up to 200 ms ahead,
    # the page keeps a lead on top): no more of that reply is played.
    assert event["page"]["dropped_ms"] > 0, event
    played_at_flush = event["page"]["played_ms"]
    time.sleep(1.0)
    # One snapshot: whether a next reply began, and the playback stats. (Read apart, the
    # next reply, to "please stop", could begin between the check and the stats.)
    later_replies, played, queued = driver.execute_script(
        "return [window.parleyEvents.filter(e => e.type === 'turn_start' && e.role ==="
        f" 'assistant' && e.at > {event['at']}).length,"
        " Number(document.getElementById('stat-played').dataset.ms),"
        " document.getElementById('stat-queued').textContent]"
    )
    if later_replies == 0:  # (the next reply, to "please stop", may have begun since)
        assert played <= played_at_flush + 1, page_state(driver)
        assert queued == "0", page_state(driver)
    wait_for(driver, "the cut reply marked", "document.querySelector('.msg.interrupted')")
    assert driver.find_element("id", "stat-interruptions").text == "1"
    assert "Interrupted after" in driver.find_element("id", "transcript").text


def test_errors_are_said_plainly(
    launch: Launch, tmp_path: Path, server_without_llm: ServerThread
) -> None:
    wav = fake_mic(tmp_path / "quiet.wav", silence(5.0))
    driver = launch(wav)

    # A wrong key: refused when the voices load, and again at Start.
    open_playground(driver, server_without_llm.url, "prl_not_a_real_key")
    refused = wait_for(driver, "the key refusal", alert_text(""))
    assert "API key was refused" in refused
    driver.find_element("id", "start").click()
    wait_for(driver, "the status", "document.getElementById('status').dataset.state === 'error'")

    # A denied microphone, with a good key.
    key = server_without_llm.new_key()
    field = driver.find_element("id", "api-key")
    field.clear()
    field.send_keys(key)
    driver.execute_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));"
        "document.getElementById('alerts').replaceChildren();"
    )
    driver.find_element("id", "start").click()
    denied = wait_for(driver, "the microphone refusal", alert_text(""))
    assert "Microphone access was denied" in denied

    # No LLM on the server: a typed message gets the stream's error, in words.
    driver.refresh()
    open_playground(driver, server_without_llm.url, key)
    start_talking(driver)
    driver.find_element("id", "say-text").send_keys("Hello there")
    driver.find_element("id", "say").click()
    no_llm = wait_for(driver, "the LLM error", alert_text("llm_not_configured"))
    assert "No LLM is configured" in no_llm and "PARLEY_LLM_BASE_URL" in no_llm, no_llm
    typed = driver.find_element("css selector", ".msg[data-role=user][data-final=true] .text")
    assert typed.text == "Hello there"


def test_stream_url_follows_the_page_behind_a_tls_proxy(
    launch: Launch, tmp_path: Path, server: ServerThread, api_key: str
) -> None:
    """The page opens wss:// when it was served over https, whatever the proxy forwarded."""
    driver = launch(fake_mic(tmp_path / "quiet.wav", silence(2.0)))
    driver.get(f"{server.url}/playground")
    wait_for(driver, "the page's module", "document.body.dataset.ready === 'true'")
    urls = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        import('/playground/stream.js').then(({ streamUrl }) => {
          const https = { protocol: 'https:', href: 'https://voice.example/playground' };
          const http = { protocol: 'http:', href: 'http://127.0.0.1:8000/playground' };
          done([
            streamUrl('wss://voice.example/v1/conversations/conv_a/stream', 'conv_a', https),
            streamUrl('ws://voice.example/v1/conversations/conv_a/stream', 'conv_a', https),
            streamUrl('ws://127.0.0.1:8000/v1/conversations/conv_a/stream', 'conv_a', http),
            streamUrl('', 'conv_a', https),
          ].map(String));
        });
        """
    )
    query = "?sample_rate=16000&encoding=pcm16"
    assert urls == [
        f"wss://voice.example/v1/conversations/conv_a/stream{query}",
        f"wss://voice.example/v1/conversations/conv_a/stream{query}",  # proxy forgot the scheme
        f"ws://127.0.0.1:8000/v1/conversations/conv_a/stream{query}",
        f"wss://voice.example/v1/conversations/conv_a/stream{query}",
    ]
    # And the server itself names wss:// when the proxy says the client came over https.
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}
    ) as client:
        sid = client.post(
            "/v1/conversations/create",
            json={"voice_id": "espeak-en-us-female", "system_prompt": "Be brief."},
        ).json()["session_id"]
        grant = client.post(
            f"/v1/conversations/{sid}/stream_token",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "voice.example"},
        ).json()
    assert grant["websocket_url"] == f"wss://voice.example/v1/conversations/{sid}/stream"
