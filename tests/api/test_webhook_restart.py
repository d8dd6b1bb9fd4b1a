"""A delivery still being retried when the server stops is finished by the next start."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.doubles.receiver import Receiver, Reply
from tests.harness import ServerThread, fresh_database_url, server_settings


def wait_delivery(c: httpx.Client, hook: str, done: str, attempts: int) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = c.get(f"/v1/webhooks/{hook}/deliveries").json()["data"]
        if rows and rows[0]["status"] == done and rows[0]["attempts"] == attempts:
            return rows[0]  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"no {done} delivery after {attempts} attempts: {rows}")


def test_pending_deliveries_resume_after_a_restart(tmp_path: Path) -> None:
    settings = server_settings(
        fresh_database_url("sqlite", tmp_path),
        tmp_path,
        webhook_allow="127.0.0.1",
        webhook_backoff_s=2.0,
        webhook_max_attempts=5,
    )
    with Receiver() as rx:
        rx.default = Reply(500)
        with ServerThread(settings) as first:
            key = first.new_key()
            with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {key}"}) as c:
                hook = c.post(
                    "/v1/webhooks", json={"url": rx.url(), "events": ["conversation.ended"]}
                ).json()
                sid = c.post(
                    "/v1/conversations/create",
                    json={"voice_id": "espeak-en-us-female", "system_prompt": "Hi."},
                ).json()
                c.delete(f"/v1/conversations/{sid['session_id']}")
                pending = wait_delivery(c, hook["id"], "pending", 1)
                assert pending["next_attempt_at"] is not None
        rx.default = Reply(200)
        with ServerThread(settings) as second:
            with httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {key}"}) as c:
                done = wait_delivery(c, hook["id"], "delivered", 2)
    assert [a["status_code"] for a in done["attempt_log"]] == [500, 200]
    assert len(rx.received) == 2 and rx.received[0].body == rx.received[1].body
