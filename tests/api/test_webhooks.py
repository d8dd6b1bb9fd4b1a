"""/v1/webhooks: register, list, delete; targets the address policy refuses (no allow-list)."""

from __future__ import annotations

import re

import httpx

from tests.harness import ServerThread

PUBLIC_URL = "https://93.184.216.34/hooks/parley"  # an address literal: no DNS needed


def test_create_list_get_delete(client: httpx.Client) -> None:
    r = client.post(
        "/v1/webhooks", json={"url": PUBLIC_URL, "events": ["conversation.ended", "tool.failed"]}
    )
    assert r.status_code == 200, r.text
    hook = r.json()
    assert re.match(r"^whk_[a-z0-9]{12}$", hook["id"])
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    assert hook["events"] == ["conversation.ended", "tool.failed"]
    listed = client.get("/v1/webhooks").json()
    assert listed["total"] == 1 and listed["data"][0]["id"] == hook["id"]
    assert "secret" not in listed["data"][0]  # shown once, at creation
    got = client.get(f"/v1/webhooks/{hook['id']}").json()
    assert got == {k: v for k, v in hook.items() if k != "secret"}
    deliveries = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    assert deliveries["data"] == [] and deliveries["total"] == 0
    assert client.delete(f"/v1/webhooks/{hook['id']}").json() == {"id": hook["id"], "deleted": True}
    assert client.get(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert client.delete(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries").status_code == 404


def test_private_targets_are_refused_without_the_allow_list(client: httpx.Client) -> None:
    for url in (
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
    ):
        r = client.post("/v1/webhooks", json={"url": url, "events": ["conversation.ended"]})
        assert r.status_code == 400, (url, r.text)
        err = r.json()["error"]
        assert err["param"] == "url" and "PARLEY_WEBHOOK_ALLOW" in err["message"], url
    assert client.get("/v1/webhooks").json()["total"] == 0


def test_bad_bodies_name_the_field(client: httpx.Client) -> None:
    for body, param in (
        ({"events": ["conversation.ended"]}, "url"),
        ({"url": "ftp://93.184.216.34/x", "events": ["conversation.ended"]}, "url"),
        ({"url": PUBLIC_URL, "events": []}, "events"),
        ({"url": PUBLIC_URL, "events": ["conversation.exploded"]}, "events"),
        ({"url": PUBLIC_URL, "events": "conversation.ended"}, "events"),
        ({"url": PUBLIC_URL, "events": ["turn.completed"], "secret": "mine"}, "secret"),
    ):
        r = client.post("/v1/webhooks", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"] == param, (body, r.text)


def test_webhooks_are_scoped_to_their_account(server: ServerThread, client: httpx.Client) -> None:
    hook = client.post(
        "/v1/webhooks", json={"url": PUBLIC_URL, "events": ["conversation.ended"]}
    ).json()
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.new_key()}"}
    ) as other:
        assert other.get("/v1/webhooks").json()["data"] == []
        assert other.get(f"/v1/webhooks/{hook['id']}").status_code == 404
        assert other.get(f"/v1/webhooks/{hook['id']}/deliveries").status_code == 404
        assert other.delete(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert client.get(f"/v1/webhooks/{hook['id']}").status_code == 200


def test_openapi_documents_the_operator_endpoints(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]

    def ok_schema(path: str, method: str) -> str:
        content = paths[path][method]["responses"]["200"]["content"]
        return str(content["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]

    assert ok_schema("/v1/agents/{agent_id}", "patch") == "AgentUpdated"
    assert paths["/v1/agents/{agent_id}"]["patch"]["requestBody"]["content"]["application/json"][
        "schema"
    ]["$ref"].endswith("/AgentUpdate")
    assert ok_schema("/v1/agents/{agent_id}/sessions", "get") == "AgentSessionList"
    assert "409" in paths["/v1/agents/{agent_id}/sessions"]["post"]["responses"]
    assert ok_schema("/v1/conversations", "get") == "ConversationList"
    params = {p["name"] for p in paths["/v1/conversations"]["get"]["parameters"]}
    assert {
        "status",
        "agent_id",
        "created_after",
        "created_before",
        "cursor",
        "order",
        "limit",
        "offset",
    } <= params
    assert "metadata.KEY=VALUE" in paths["/v1/conversations"]["get"]["description"]
    transcript = paths["/v1/conversations/{session_id}/transcript"]["get"]
    assert {"text/plain", "text/vtt"} <= set(transcript["responses"]["200"]["content"])
    assert ok_schema("/v1/webhooks", "post") == "WebhookCreated"
    assert ok_schema("/v1/webhooks", "get") == "WebhookList"
    assert ok_schema("/v1/webhooks/{webhook_id}", "delete") == "WebhookDeleted"
    assert ok_schema("/v1/webhooks/{webhook_id}/deliveries", "get") == "DeliveryList"
    assert "attempt_log" in spec["components"]["schemas"]["DeliveryOut"]["properties"]
