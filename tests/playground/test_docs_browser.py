"""`/docs` renders in headless Chromium with no network: every host name but
127.0.0.1 fails to resolve, and every request the page makes must go to the server.

Needs `scripts/browser-deps.sh` (apt chromium + chromium-driver, pip selenium); skips,
saying so, when they are missing (the skip of tests/playground/test_playground_browser.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ServerThread
from tests.playground.test_playground_browser import (
    ARTIFACTS,
    CHROMEDRIVER,
    chrome_options,
    pytestmark,  # noqa: F401 - the same skip: no browser here
    webdriver,
)

try:
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - skipped by pytestmark
    pass


@pytest.fixture
def offline_browser(tmp_path: Path) -> Iterator[Any]:
    # No network: names do not resolve (the server is reached by its IP address).
    options = chrome_options(
        tmp_path / "profile", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
    )
    try:
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    except WebDriverException as exc:  # installed, but cannot start here
        pytest.skip(f"Chromium would not start: {exc.msg}")
    yield driver
    driver.quit()


def requested_urls(driver: Any) -> list[str]:
    """The network requests the browser made (http, https, ws…; not chrome:// or data:)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.split(":", 1)[0] in ("http", "https", "ws", "wss"):
                urls.append(url)
    return urls


def rendered(driver: Any, what: str, script: str, timeout: float = 30) -> Any:
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(
            lambda d: d.execute_script(f"return {script}")
        )
    except TimeoutException:
        logs = [e["message"] for e in driver.get_log("browser")]
        text = driver.execute_script("return document.body.innerText")[:500]
        pytest.fail(f"{what} did not render; page text: {text!r}; console: {logs}")


def test_swagger_ui_renders_offline(server: ServerThread, offline_browser: Any) -> None:
    driver = offline_browser
    driver.get(f"{server.url}/docs")
    title = rendered(
        driver,
        "Swagger UI's title",
        "document.querySelector('.swagger-ui .info .title')?.textContent",
    )
    assert title.startswith("Parley")
    paths = rendered(
        driver,
        "the operations",
        "Array.from(document.querySelectorAll('.opblock-summary-path')).map(e => e.textContent)",
    )
    ours = {p.replace("\u200b", "") for p in paths}  # Swagger UI breaks paths with ZWSPs
    assert {"/v1/conversations/create", "/v1/agents", "/healthz"} <= ours
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "docs.png"))
    urls = requested_urls(driver)
    assert f"{server.url}/docs/static/swagger-ui-bundle.js" in urls
    assert [u for u in urls if not u.startswith(server.url)] == []
