"""Projects over HTTP (ASGI) on PostgreSQL and SQLite: the owner's round trip, filing
conversations into them, and what each change publishes."""

from __future__ import annotations

import uuid

import httpx

from parley_contracts.owned_ids import owns
from parley_history.bootstrap import History
from parley_testkit import TestIssuer
from tests.events import prompt
from tests.integration.conftest import auth
from tests.integration.rest import API, ok, published, seed


async def test_projects_group_conversations(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer
) -> None:
    first, second = prompt("alice", "Tomatoes in pots?"), prompt("alice", "Fix my bike")
    await seed(history, first, second)
    alice = auth(issuer, "alice")
    c1, c2 = str(first.conversation_id), str(second.conversation_id)

    created = await ok(
        await client.post(
            f"{API}/projects",
            json={"name": "  Garden ", "system_prompt": "You are a gardener.", "model": "m1"},
            headers=alice,
        ),
        201,
    )
    pid = created["id"]
    assert owns(uuid.UUID(pid), "alice")  # so that a gateway refuses it in another user's prompt
    assert (created["name"], created["system_prompt"], created["model"]) == (
        "Garden",
        "You are a gardener.",
        "m1",
    )
    assert created["conversation_count"] == 0

    moved = await ok(await client.patch(f"{API}/conversations/{c1}", json={"project_id": pid}, headers=alice))
    assert moved["project_id"] == pid
    assert (await ok(await client.get(f"{API}/conversations/{c1}", headers=alice)))["project_id"] == pid
    listed = (await ok(await client.get(f"{API}/conversations", headers=alice)))["items"]
    assert {item["id"]: item["project_id"] for item in listed} == {c1: pid, c2: None}
    in_project = await ok(await client.get(f"{API}/projects/{pid}/conversations", headers=alice))
    assert [item["id"] for item in in_project["items"]] == [c1]
    assert [
        item["id"]
        for item in (await ok(await client.get(f"{API}/conversations?project_id=none", headers=alice)))[
            "items"
        ]
    ] == [c2]
    assert [
        item["id"]
        for item in (await ok(await client.get(f"{API}/conversations?project_id={pid}", headers=alice)))[
            "items"
        ]
    ] == [c1]
    assert (await ok(await client.get(f"{API}/projects", headers=alice)))["items"][0][
        "conversation_count"
    ] == 1

    # moving it where it is publishes nothing; a rename alone keeps the project
    before = len(published(history))
    await ok(await client.patch(f"{API}/conversations/{c1}", json={"project_id": pid}, headers=alice))
    assert len(published(history)) == before
    renamed = await ok(await client.patch(f"{API}/conversations/{c1}", json={"title": "Pots"}, headers=alice))
    assert (renamed["title"], renamed["project_id"]) == ("Pots", pid)

    updated = await ok(
        await client.patch(f"{API}/projects/{pid}", json={"name": "Yard", "model": None}, headers=alice)
    )
    assert (updated["name"], updated["system_prompt"], updated["model"]) == (
        "Yard",
        "You are a gardener.",
        None,
    )
    before = len(published(history))
    await ok(await client.patch(f"{API}/projects/{pid}", json={"name": "Yard"}, headers=alice))
    assert len(published(history)) == before
    assert (await ok(await client.get(f"{API}/projects/{pid}", headers=alice)))["name"] == "Yard"

    out = await ok(await client.patch(f"{API}/conversations/{c1}", json={"project_id": None}, headers=alice))
    assert out["project_id"] is None
    await ok(await client.patch(f"{API}/conversations/{c2}", json={"project_id": pid}, headers=alice))

    await ok(await client.delete(f"{API}/projects/{pid}", headers=alice), 204)
    assert (await client.get(f"{API}/projects/{pid}", headers=alice)).status_code == 404
    assert (await ok(await client.get(f"{API}/projects", headers=alice)))["items"] == []
    kept = await ok(await client.get(f"{API}/conversations/{c2}", headers=alice))
    assert kept["project_id"] is None
    assert published(history) == [
        "project.created",
        "conversation.moved",
        "conversation.renamed",
        "project.updated",
        "conversation.moved",
        "conversation.moved",
        "project.deleted",
    ]
