"""Projects and the prompt library over HTTP (ASGI) on PostgreSQL and SQLite: cross-user
refusal on every route, validation and limits; and on the real RabbitMQ, the REST path's
events coming back as duplicates. The owner's round trips: `test_projects_api.py`,
`test_prompts_api.py`."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from parley_history.bootstrap import History, bootstrap
from parley_history.entrypoints.app import create_app
from parley_testkit import FakeProvider, TestIssuer
from tests.events import prompt
from tests.integration.conftest import AUDIENCE, ISSUER, Broker, Running, auth
from tests.integration.rest import API, ok, published, seed


async def test_another_users_projects_and_prompts_are_refused_on_every_route(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer
) -> None:
    alice, bob = auth(issuer, "alice"), auth(issuer, "bob")
    admin = auth(issuer, "root", role="admin")
    hers, his = prompt("alice", "alice's chat"), prompt("bob", "bob's chat")
    await seed(history, hers, his)
    project = await ok(await client.post(f"{API}/projects", json={"name": "Secret"}, headers=alice), 201)
    bobs_project = await ok(await client.post(f"{API}/projects", json={"name": "Bob's"}, headers=bob), 201)
    await ok(
        await client.patch(
            f"{API}/conversations/{hers.conversation_id}", json={"project_id": project["id"]}, headers=alice
        )
    )
    private = await ok(
        await client.post(f"{API}/prompts", json={"name": "P", "text": "t"}, headers=alice), 201
    )
    shared = await ok(
        await client.post(f"{API}/prompts", json={"name": "S", "text": "t", "shared": True}, headers=alice),
        201,
    )
    before = len(published(history))

    p_url, private_url = f"{API}/projects/{project['id']}", f"{API}/prompts/{private['id']}"
    for who in (bob, admin):
        for response in (
            await client.get(p_url, headers=who),
            await client.patch(p_url, json={"name": "Mine now"}, headers=who),
            await client.delete(p_url, headers=who),
            await client.get(f"{p_url}/conversations", headers=who),
            await client.get(f"{API}/conversations?project_id={project['id']}", headers=who),
            # one's own conversation into another user's project
            await client.patch(
                f"{API}/conversations/{his.conversation_id}", json={"project_id": project["id"]}, headers=bob
            ),
        ):
            assert (response.status_code, response.json()) == (404, {"detail": "project not found"})
        for response in (
            await client.get(private_url, headers=who),
            await client.patch(private_url, json={"name": "x"}, headers=who),
            await client.patch(private_url, json={"shared": False}, headers=who),
            await client.delete(private_url, headers=who),
        ):
            assert (response.status_code, response.json()) == (404, {"detail": "saved prompt not found"})
        listed = await ok(await client.get(f"{API}/prompts", headers=who))
        assert [item["name"] for item in listed["items"]] == ["S"]
    # another user's conversation into one's own project: the conversation is not found
    response = await client.patch(
        f"{API}/conversations/{hers.conversation_id}", json={"project_id": bobs_project["id"]}, headers=bob
    )
    assert (response.status_code, response.json()) == (404, {"detail": "conversation not found"})
    assert [p["name"] for p in (await ok(await client.get(f"{API}/projects", headers=bob)))["items"]] == [
        "Bob's"
    ]
    # a shared prompt is readable, but only its owner changes it
    shared_url = f"{API}/prompts/{shared['id']}"
    assert (await ok(await client.get(shared_url, headers=bob)))["mine"] is False
    for response in (
        await client.patch(shared_url, json={"name": "x"}, headers=bob),
        await client.patch(shared_url, json={"shared": False}, headers=bob),
        await client.patch(shared_url, json={"text": "x"}, headers=admin),
        await client.delete(shared_url, headers=bob),
        await client.delete(shared_url, headers=admin),
    ):
        assert response.status_code == 403
        assert set(response.json()) == {"detail"}
    # nothing changed, nothing was published
    assert len(published(history)) == before
    assert (await ok(await client.get(p_url, headers=alice)))["conversation_count"] == 1
    assert (await ok(await client.get(private_url, headers=alice)))["name"] == "P"
    assert (await ok(await client.get(shared_url, headers=alice)))["shared"] is True


async def test_bad_input_is_a_clear_4xx(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer
) -> None:
    alice = auth(issuer, "alice")
    chat = prompt("alice", "hello")
    await seed(history, chat)
    project = await ok(await client.post(f"{API}/projects", json={"name": "P"}, headers=alice), 201)
    saved = await ok(await client.post(f"{API}/prompts", json={"name": "N", "text": "T"}, headers=alice), 201)
    conversation = f"{API}/conversations/{chat.conversation_id}"
    cases: list[tuple[str, str, Any, int]] = [
        ("POST", "/projects", {}, 422),
        ("POST", "/projects", {"name": ""}, 422),
        ("POST", "/projects", {"name": "   "}, 422),
        ("POST", "/projects", {"name": "x" * 101}, 422),
        ("POST", "/projects", {"name": "two\nlines"}, 422),
        ("POST", "/projects", {"name": "nul\u0000"}, 422),
        ("POST", "/projects", {"name": "P", "system_prompt": "s" * 20_001}, 422),
        ("POST", "/projects", {"name": "P", "system_prompt": "nul\u0000"}, 422),
        ("POST", "/projects", {"name": "P", "model": "m" * 256}, 422),
        ("POST", "/projects", [1, 2], 422),
        ("PATCH", f"/projects/{project['id']}", {"name": None}, 422),
        ("PATCH", "/projects/not-a-uuid", {"name": "x"}, 422),
        ("GET", f"/projects/{uuid.uuid4()}", None, 404),
        ("PATCH", conversation.removeprefix(API), {"project_id": str(uuid.uuid4())}, 404),
        ("PATCH", conversation.removeprefix(API), {"project_id": "nope"}, 422),
        ("GET", "/conversations?project_id=garbage", None, 422),
        # NUL cannot be stored nor searched on PostgreSQL: refused before anything is published
        ("PATCH", conversation.removeprefix(API), {"title": "nul\u0000"}, 422),
        ("GET", "/conversations?q=a%00b", None, 422),
        ("GET", "/prompts?q=a%00b", None, 422),
        ("GET", f"/projects/{project['id']}/conversations?q=%00", None, 422),
        ("GET", f"/conversations?project_id={uuid.uuid4()}", None, 404),
        ("POST", "/prompts", {"name": "N"}, 422),
        ("POST", "/prompts", {"name": "N", "text": ""}, 422),
        ("POST", "/prompts", {"name": "N", "text": " \n "}, 422),
        ("POST", "/prompts", {"name": "N", "text": "nul\u0000"}, 422),
        ("POST", "/prompts", {"name": "N", "text": "t" * 20_001}, 422),
        ("POST", "/prompts", {"name": "N", "text": "T", "tags": [f"t{i}" for i in range(11)]}, 422),
        ("POST", "/prompts", {"name": "N", "text": "T", "tags": ["a,b"]}, 422),
        ("POST", "/prompts", {"name": "N", "text": "T", "tags": ["x" * 33]}, 422),
        ("POST", "/prompts", {"name": "N", "text": "T", "tags": "fun"}, 422),
        ("PATCH", f"/prompts/{saved['id']}", {"text": None}, 422),
        ("PATCH", f"/prompts/{saved['id']}", {"shared": None}, 422),
        ("GET", "/prompts?scope=everything", None, 422),
        ("GET", "/prompts?cursor=garbage", None, 400),
        ("GET", "/prompts?tag=a,b", None, 422),
        ("GET", f"/prompts/{uuid.uuid4()}", None, 404),
    ]
    for method, path, body, status in cases:
        response = await client.request(method, API + path, json=body, headers=alice)
        assert response.status_code == status, (method, path, body, response.text)
        assert set(response.json()) == {"detail"}, response.text
    assert published(history) == ["project.created", "library.prompt.saved"]

    history.settings = history.settings.model_copy(
        update={"max_projects_per_user": 1, "max_prompts_per_user": 1}
    )
    for path, body in (("/projects", {"name": "Q"}), ("/prompts", {"name": "N", "text": "T"})):
        response = await client.post(API + path, json=body, headers=alice)
        assert response.status_code == 409
        assert "at most 1" in response.json()["detail"]


async def test_rest_changes_come_back_through_the_broker_as_duplicates(
    running: Running, broker: Broker, jwks: FakeProvider, issuer: TestIssuer
) -> None:
    settings = running.settings.model_copy(
        update={"jwks_url": jwks.jwks_url, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "consumer": False}
    )
    history = bootstrap(settings, store=running.store, publisher=running.publisher, with_consumer=False)
    chat = prompt("alice", "a chat to file")
    await broker.publish(chat)
    await running.wait_events(1)
    alice = auth(issuer, "alice")
    app = create_app(settings, history=history)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://history") as client:
        project = await ok(await client.post(f"{API}/projects", json={"name": "P"}, headers=alice), 201)
        await ok(
            await client.patch(
                f"{API}/conversations/{chat.conversation_id}",
                json={"project_id": project["id"]},
                headers=alice,
            )
        )
        await ok(
            await client.post(
                f"{API}/prompts", json={"name": "N", "text": "T", "shared": True}, headers=alice
            ),
            201,
        )

    events = running.metrics.events

    async def all_came_back() -> bool:
        # the REST path applies its event and the consumer gets a copy, in either order:
        # whichever comes second is a duplicate
        return all(
            events.labels(kind, "duplicate")._value.get() + events.labels(kind, "stored")._value.get() == 1
            for kind in (
                "project.created",
                "conversation.moved",
                "library.prompt.saved",
                "library.prompt.shared",
            )
        )

    await running.wait_for(all_came_back)
    assert await running.store.event_count() == 5
    assert (
        await running.store.get_conversation("alice", chat.conversation_id)
    ).summary.project_id == uuid.UUID(project["id"])
