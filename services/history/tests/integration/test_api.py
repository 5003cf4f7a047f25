"""The REST API over HTTP (ASGI), tokens checked against a JWKS served over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import pytest

from parley_contracts import DomainEvent
from parley_history.bootstrap import History
from parley_testkit import TestIssuer
from parley_testkit.attacks import ATTACKS
from tests.events import finished, prompt
from tests.fakes import FakePublisher
from tests.integration.conftest import AUDIENCE, ISSUER, auth


async def _seed(history: History, *events: DomainEvent) -> None:
    for event in events:
        await history.store.apply(event, event.to_json().decode())


async def test_the_owner_lists_gets_renames_pins_exports_and_deletes(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer
) -> None:
    p = prompt("alice", "How do I bake bread?", system="Be brief")
    follow = prompt("alice", "And rye bread?", conversation_id=p.conversation_id, parent_id=p.message_id)
    await _seed(
        history, p, finished(p, "Flour, water, salt, yeast."), follow, finished(follow, "Use rye flour.")
    )
    alice = auth(issuer, "alice")
    cid = str(p.conversation_id)

    listed = (await client.get("/api/history/conversations", headers=alice)).json()
    assert [item["id"] for item in listed["items"]] == [cid]
    assert listed["items"][0]["title"] == "How do I bake bread?"
    assert listed["next_cursor"] is None
    assert (await client.get("/api/history/conversations?q=rye", headers=alice)).json()["items"][0][
        "id"
    ] == cid
    assert (await client.get("/api/history/conversations?q=pizza", headers=alice)).json()["items"] == []

    detail = (await client.get(f"/api/history/conversations/{cid}", headers=alice)).json()
    assert len(detail["messages"]) == 4
    assert detail["current_path"][-1] == str(follow.message_id)
    assert detail["messages"][1]["tokens_per_s"] == 48.0

    renamed = await client.patch(
        f"/api/history/conversations/{cid}", json={"title": "Bread", "pinned": True}, headers=alice
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["title"], renamed.json()["pinned"]) == ("Bread", True)
    publisher = history.publisher
    assert isinstance(publisher, FakePublisher)
    assert [e.type for e in publisher.published] == ["conversation.renamed", "conversation.pinned"]

    md = await client.get(f"/api/history/conversations/{cid}/export?format=md", headers=alice)
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Bread\n")
    assert "Use rye flour." in md.text
    exported = (
        await client.get(f"/api/history/conversations/{cid}/export?format=json", headers=alice)
    ).json()
    assert exported["id"] == cid
    assert len(exported["messages"]) == 4

    assert (await client.delete(f"/api/history/conversations/{cid}", headers=alice)).status_code == 204
    assert (await client.get(f"/api/history/conversations/{cid}", headers=alice)).status_code == 404
    assert (await client.get("/api/history/conversations", headers=alice)).json()["items"] == []
    assert publisher.published[-1].type == "conversation.deleted"


async def test_another_users_conversation_is_404_on_every_route(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer
) -> None:
    p = prompt("alice", "mine")
    await _seed(history, p)
    bob = auth(issuer, "bob")
    url = f"/api/history/conversations/{p.conversation_id}"
    for response in (
        await client.get(url, headers=bob),
        await client.patch(url, json={"title": "x"}, headers=bob),
        await client.patch(url, json={"pinned": True}, headers=bob),
        await client.delete(url, headers=bob),
        await client.get(f"{url}/export?format=md", headers=bob),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "conversation not found"}
    assert (await client.get("/api/history/conversations", headers=bob)).json()["items"] == []


async def test_tokens_are_checked(client: httpx.AsyncClient, issuer: TestIssuer) -> None:
    assert (await client.get("/api/history/conversations")).status_code == 401
    forged = TestIssuer(issuer=ISSUER, audience=AUDIENCE, kid=issuer.kid).token("alice")
    response = await client.get("/api/history/conversations", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert "detail" in response.json()
    expired = issuer.token("alice", expires_in=-10)
    assert (
        await client.get("/api/history/conversations", headers={"Authorization": f"Bearer {expired}"})
    ).status_code == 401
    assert (
        await client.get("/api/history/conversations?cursor=garbage", headers=auth(issuer, "a"))
    ).status_code == 400


@pytest.mark.parametrize(("name", "make"), [(name, make) for name, make, _ in ATTACKS])
async def test_every_jwt_attack_is_refused(
    client: httpx.AsyncClient, issuer: TestIssuer, name: str, make: Callable[[TestIssuer], str]
) -> None:
    response = await client.get(
        "/api/history/conversations", headers={"Authorization": f"Bearer {make(issuer)}"}
    )
    assert response.status_code == 401, name
    assert set(response.json()) == {"detail"}


async def test_pagination_over_http(client: httpx.AsyncClient, history: History, issuer: TestIssuer) -> None:
    prompts = [prompt("alice", f"topic {i}") for i in range(5)]
    await _seed(history, *prompts)
    seen: list[str] = []
    url = "/api/history/conversations?limit=2"
    while url:
        page = (await client.get(url, headers=auth(issuer, "alice"))).json()
        seen += [item["id"] for item in page["items"]]
        url = (
            f"/api/history/conversations?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
        )
    assert seen == [str(p.conversation_id) for p in reversed(prompts)]


async def test_admin_audit_stream_as_ndjson(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer
) -> None:
    p1, p2 = prompt("alice", "one"), prompt("bob", "two")
    await _seed(history, p1, p2, finished(p1, "1"))
    admin = auth(issuer, "root", role="admin")
    assert (await client.get("/api/history/audit/events", headers=auth(issuer, "alice"))).status_code == 403

    response = await client.get(
        f"/api/history/audit/events?conversation_id={p1.conversation_id}", headers=admin
    )
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in response.text.splitlines()]
    assert [(line["seq"], line["type"]) for line in lines] == [
        (1, "prompt.submitted"),
        (3, "completion.finished"),
    ]
    assert lines[0]["event"]["event_id"] == str(p1.event_id)
    bob = (await client.get("/api/history/audit/events?user_id=bob", headers=admin)).text.splitlines()
    assert len(bob) == 1
    since = p2.occurred_at.isoformat().replace("+00:00", "Z")
    later = (
        await client.get("/api/history/audit/events", params={"since": since}, headers=admin)
    ).text.splitlines()
    assert [orjson.loads(line)["seq"] for line in later] == [2, 3]


async def test_health_readiness_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    metrics = await client.get("/metrics")
    assert "history_events_handled_total" in metrics.text
    assert "history_consumer_lag_seconds" in metrics.text


async def test_the_branch_shown_is_kept_and_only_within_the_conversation(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer
) -> None:
    first = prompt("alice", "A joke, please")
    again = prompt("alice", "A joke, please", conversation_id=first.conversation_id).model_copy(
        update={"prompt_message_id": first.prompt_message_id}
    )
    elsewhere = prompt("alice", "Other chat")
    await _seed(history, first, finished(first, "Joke A"), again, finished(again, "Joke B"), elsewhere)
    alice, cid = auth(issuer, "alice"), str(first.conversation_id)
    shown = (await client.get(f"/api/history/conversations/{cid}", headers=alice)).json()
    assert shown["current_path"] == [str(first.prompt_message_id), str(again.message_id)]

    picked = await client.patch(
        f"/api/history/conversations/{cid}", json={"current_leaf_id": str(first.message_id)}, headers=alice
    )
    assert picked.status_code == 200, picked.text
    assert picked.json()["current_path"] == [str(first.prompt_message_id), str(first.message_id)]
    publisher = history.publisher
    assert isinstance(publisher, FakePublisher)
    assert publisher.published[-1].type == "conversation.branch_selected"

    foreign = await client.patch(
        f"/api/history/conversations/{cid}",
        json={"current_leaf_id": str(elsewhere.message_id)},
        headers=alice,
    )
    assert foreign.status_code == 422
    bob = await client.patch(
        f"/api/history/conversations/{cid}",
        json={"current_leaf_id": str(first.message_id)},
        headers=auth(issuer, "bob"),
    )
    assert bob.status_code == 404
