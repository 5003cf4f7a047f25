"""Cross-user access through the one origin: Bob, a plain user with a valid
token, tries every route and frame on Alice's things (her conversation and its
messages, her project, her private saved prompt, her socket session, her API
key, her usage) and every admin route; each is refused, nothing Bob receives
carries Alice's secret, and afterwards Alice reads all of it back unchanged.
Then the tokens of a revoked key and of a disabled account stop working.

The attempts are one table each (REST, then WebSocket frames), so the file
reads as the inventory of what was tried."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from parley_testkit import FakeProvider, TestIssuer

from .stack import MODEL, Client, Gateway, Stack, platform
from .test_accounts import ADMIN_EMAIL, PASSWORD, register_and_login

SECRET = f"alice-secret-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def cross_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    """Auth and history on their own databases, a worker, and a gateway routing to both."""
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    with platform(
        "cross",
        stack,
        auth_env={"PARLEY_ADMIN_EMAIL": ADMIN_EMAIL},
        # No title requests: Alice's conversation must not change on its own while Bob tries.
        history_env={"PARLEY_HISTORY_TITLE_REQUESTS": "false"},
        # An API key is checked with auth again after 1 s (60 s by default).
        gateway_env={"PARLEY_GATEWAY_API_KEY_CACHE_S": "1"},
    ):
        yield stack


@dataclass
class Alice:
    id: str
    token: str
    api_key: str
    api_key_id: str
    session_id: str
    conversation_id: str
    prompt_message_id: str
    answer_id: str
    project_id: str
    prompt_id: str
    shared_prompt_id: str


@dataclass
class Bob:
    id: str
    token: str
    conversation_id: str
    project_id: str


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _until_stored(http: httpx.AsyncClient, token: str, conversation_id: str) -> dict[str, Any]:
    """The conversation once history has its answer (history consumes events asynchronously)."""
    deadline = time.monotonic() + 20
    while True:
        response = await http.get(f"/api/history/conversations/{conversation_id}", headers=_bearer(token))
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            if any(m["role"] == "assistant" and m["status"] == "finished" for m in body["messages"]):
                return body
        assert time.monotonic() < deadline, (response.status_code, response.text)
        await asyncio.sleep(0.1)


async def _chat(gateway: Gateway, token: str, text: str, **frame: Any) -> tuple[Client, dict[str, Any]]:
    """A socket that chatted once (left open), and the `accepted` frame."""
    client = await Client.connect(gateway, token)
    request_id = str(uuid.uuid4())
    await client.send(
        {
            "type": "prompt",
            "request_id": request_id,
            "model": MODEL,
            "messages": [{"role": "user", "content": text}],
            "params": {"max_tokens": 32},
            **frame,
        }
    )
    accepted = await client.recv()
    assert accepted["type"] == "accepted", accepted
    frames = await client.until(accepted["message_id"])
    assert frames[-1]["type"] == "done", frames[-1]
    return client, accepted


async def _admin_registered(gateway: Gateway) -> None:
    """The admin account exists (so that neither Alice nor Bob is the first account)."""
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        login = await http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD})
    if login.status_code != 200:
        await register_and_login(gateway, ADMIN_EMAIL)


@pytest.fixture
async def people(cross_stack: Stack) -> AsyncIterator[tuple[Alice, Bob]]:
    gateway = cross_stack.gateways[0]
    await _admin_registered(gateway)
    alice_account = await register_and_login(gateway)
    bob_account = await register_and_login(gateway)
    alice_socket, accepted = await _chat(gateway, alice_account.access_token, f"Hello, I am {SECRET}")
    bob_socket, bob_accepted = await _chat(gateway, bob_account.access_token, "Hello from Bob")
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        as_alice, as_bob = _bearer(alice_account.access_token), _bearer(bob_account.access_token)
        project = await http.post("/api/history/projects", json={"name": SECRET}, headers=as_alice)
        assert project.status_code == 201, project.text
        saved = await http.post(
            "/api/history/prompts", json={"name": SECRET, "text": SECRET, "tags": ["alice"]}, headers=as_alice
        )
        assert saved.status_code == 201, saved.text
        shared = await http.post(
            "/api/history/prompts",
            json={"name": "Shared", "text": "for all", "shared": True},
            headers=as_alice,
        )
        assert shared.status_code == 201, shared.text
        key = await http.post("/api/auth/keys", json={"name": "alice-key"}, headers=as_alice)
        assert key.status_code == 201, key.text
        bob_project = await http.post("/api/history/projects", json={"name": "Bob's"}, headers=as_bob)
        assert bob_project.status_code == 201, bob_project.text
        await _until_stored(http, alice_account.access_token, accepted["conversation_id"])
        await _until_stored(http, bob_account.access_token, bob_accepted["conversation_id"])
    await bob_socket.close()
    alice = Alice(
        id=alice_account.id,
        token=alice_account.access_token,
        api_key=key.json()["key"],
        api_key_id=key.json()["id"],
        session_id=str(alice_socket.session_id),
        conversation_id=accepted["conversation_id"],
        prompt_message_id=accepted["prompt_message_id"],
        answer_id=accepted["message_id"],
        project_id=project.json()["id"],
        prompt_id=saved.json()["id"],
        shared_prompt_id=shared.json()["id"],
    )
    bob = Bob(
        bob_account.id, bob_account.access_token, bob_accepted["conversation_id"], bob_project.json()["id"]
    )
    try:
        yield alice, bob
    finally:
        await alice_socket.close()


async def _alices_view(http: httpx.AsyncClient, alice: Alice) -> dict[str, Any]:
    """Everything of Alice's that Bob aimed at, as she reads it."""
    headers = _bearer(alice.token)
    paths = [
        f"/api/history/conversations/{alice.conversation_id}",
        f"/api/history/conversations/{alice.conversation_id}/export?format=md",
        "/api/history/conversations",
        f"/api/history/projects/{alice.project_id}",
        f"/api/history/projects/{alice.project_id}/conversations",
        f"/api/history/prompts/{alice.prompt_id}",
        f"/api/history/prompts/{alice.shared_prompt_id}",
        "/api/history/prompts?scope=own",
        "/api/auth/keys",
        "/api/auth/me",
    ]
    view: dict[str, Any] = {}
    for path in paths:
        response = await http.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        view[path] = response.text
    # Her key still works (which moves its `last_used_at`: that field is left out).
    keys = json.loads(view.pop("/api/auth/keys"))["keys"]
    view["keys"] = [{k: v for k, v in key.items() if k != "last_used_at"} for key in keys]
    models = await http.get("/v1/models", headers=_bearer(alice.api_key))
    view["her API key works"] = models.status_code
    return view


@dataclass(frozen=True)
class Attempt:
    what: str
    method: str
    path: str
    body: Any = None
    refused: tuple[int, ...] = (404,)


def rest_attempts(alice: Alice, bob: Bob) -> list[Attempt]:
    conv = f"/api/history/conversations/{alice.conversation_id}"
    project = f"/api/history/projects/{alice.project_id}"
    prompt = f"/api/history/prompts/{alice.prompt_id}"
    shared = f"/api/history/prompts/{alice.shared_prompt_id}"
    return [
        Attempt("read her conversation", "GET", conv),
        Attempt("rename her conversation", "PATCH", conv, {"title": "mine now"}),
        Attempt("pin her conversation", "PATCH", conv, {"pinned": True}),
        Attempt("move her conversation into his project", "PATCH", conv, {"project_id": bob.project_id}),
        Attempt("pick a branch of her conversation", "PATCH", conv, {"current_leaf_id": alice.answer_id}),
        Attempt("export her conversation as JSON", "GET", f"{conv}/export?format=json"),
        Attempt("export her conversation as Markdown", "GET", f"{conv}/export?format=md"),
        Attempt("delete her conversation", "DELETE", conv),
        Attempt(
            "show her answer as his conversation's branch",
            "PATCH",
            f"/api/history/conversations/{bob.conversation_id}",
            {"current_leaf_id": alice.answer_id},
            (422,),
        ),
        Attempt(
            "move his conversation into her project",
            "PATCH",
            f"/api/history/conversations/{bob.conversation_id}",
            {"project_id": alice.project_id},
        ),
        Attempt(
            "list conversations of her project",
            "GET",
            f"/api/history/conversations?project_id={alice.project_id}",
        ),
        Attempt("read her project", "GET", project),
        Attempt("list her project's conversations", "GET", f"{project}/conversations"),
        Attempt("rename her project", "PATCH", project, {"name": "mine now"}),
        Attempt("delete her project", "DELETE", project),
        Attempt("read her private prompt", "GET", prompt),
        Attempt("edit her private prompt", "PATCH", prompt, {"text": "mine now"}),
        Attempt("share her private prompt", "PATCH", prompt, {"shared": True}),
        Attempt("delete her private prompt", "DELETE", prompt),
        # Her shared prompt: Bob may use it (read), never change it.
        Attempt("edit her shared prompt", "PATCH", shared, {"text": "mine now"}, (403,)),
        Attempt("unshare her shared prompt", "PATCH", shared, {"shared": False}, (403,)),
        Attempt("delete her shared prompt", "DELETE", shared, refused=(403,)),
        Attempt("revoke her API key", "DELETE", f"/api/auth/keys/{alice.api_key_id}"),
        Attempt(
            "read her usage (admin ledger)", "GET", f"/api/auth/usage?user_id={alice.id}", refused=(403,)
        ),
        Attempt("list users", "GET", "/api/auth/users", refused=(403,)),
        Attempt("disable her account", "PATCH", f"/api/auth/users/{alice.id}", {"disabled": True}, (403,)),
        Attempt("make himself admin", "PATCH", f"/api/auth/users/{bob.id}", {"role": "admin"}, (403,)),
        Attempt("make himself admin through /me", "PATCH", "/api/auth/me", {"role": "admin"}, (422,)),
        Attempt("read the model catalogue", "GET", "/api/auth/catalog", refused=(403,)),
        Attempt(
            "add a model to the catalogue",
            "POST",
            "/api/auth/catalog/models",
            {"name": "bobs", "provider_id": str(uuid.uuid4()), "upstream": "x"},
            (403,),
        ),
        Attempt("read the admin statistics", "GET", "/api/stats", refused=(403,)),
        Attempt(
            "read her audit trail", "GET", f"/api/history/audit/events?user_id={alice.id}", refused=(403,)
        ),
        Attempt(
            "read her conversation's audit trail",
            "GET",
            f"/api/history/audit/events?conversation_id={alice.conversation_id}",
            refused=(403,),
        ),
    ]


def listing_attempts(alice: Alice) -> list[tuple[str, str, Callable[[Any], list[Any]]]]:
    """Bob's own listings and searches: answered, and nothing of Alice's in them."""

    def items_with(ids: set[str]) -> Callable[[Any], list[Any]]:
        return lambda body: [item for item in body["items"] if item.get("id") in ids]

    return [
        (
            "search conversations for her text",
            f"/api/history/conversations?q={SECRET}",
            items_with({alice.conversation_id}),
        ),
        ("list conversations", "/api/history/conversations", items_with({alice.conversation_id})),
        ("list projects", "/api/history/projects", items_with({alice.project_id})),
        ("list every prompt he may use", "/api/history/prompts?scope=all", items_with({alice.prompt_id})),
        ("search prompts for her text", f"/api/history/prompts?q={SECRET}", items_with({alice.prompt_id})),
        (
            "list prompt tags",
            "/api/history/prompts/tags",
            lambda b: [t for t in b["items"] if t["tag"] == "alice"],
        ),
        ("list API keys", "/api/auth/keys", lambda b: [k for k in b["keys"] if k["id"] == alice.api_key_id]),
        (
            "read his usage, naming her",
            f"/api/auth/me/usage?user_id={alice.id}",
            lambda b: [row for row in b["usage"] if row["user_id"] == alice.id],
        ),
    ]


async def test_bob_is_refused_every_rest_route_on_alices_things_and_changes_nothing(
    cross_stack: Stack, people: tuple[Alice, Bob]
) -> None:
    alice, bob = people
    gateway = cross_stack.gateways[0]
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        before = await _alices_view(http, alice)
        assert SECRET in before[f"/api/history/conversations/{alice.conversation_id}"]
        outcomes = []
        for attempt in rest_attempts(alice, bob):
            response = await http.request(
                attempt.method, attempt.path, json=attempt.body, headers=_bearer(bob.token)
            )
            outcomes.append((attempt.what, response.status_code))
            assert response.status_code in attempt.refused, (attempt, response.status_code, response.text)
            assert SECRET not in response.text, (attempt, response.text)
        for what, path, of_alice in listing_attempts(alice):
            response = await http.get(path, headers=_bearer(bob.token))
            assert response.status_code == 200, (what, response.text)
            assert of_alice(response.json()) == [], (what, response.text)
            assert SECRET not in response.text, (what, response.text)
        me = await http.get("/api/auth/me", headers=_bearer(bob.token))
        assert me.json()["role"] == "user", me.text
        after = await _alices_view(http, alice)
    assert after == before
    assert len(outcomes) >= 30


async def _frame_answer(client: Client) -> dict[str, Any]:
    """The next frame that answers a request (not a stream frame of an earlier prompt)."""
    while True:
        frame = await client.recv(timeout=10)
        if frame["type"] in {"error", "accepted", "ready", "pong"}:
            return frame


ANSWERED = "answered"


def ws_attempts(alice: Alice, bob: Bob) -> list[tuple[str, dict[str, Any], str]]:
    """(what, frame, the error code it gets, or ANSWERED) on Bob's authenticated socket."""
    prompt = {
        "type": "prompt",
        "request_id": "bob",
        "model": MODEL,
        "messages": [{"role": "user", "content": "mine now"}],
        "params": {"max_tokens": 8},
    }
    return [
        # The one frame answered: his own project takes his chat (so the refusals are not all).
        ("start a chat inside his project", {**prompt, "project_id": bob.project_id}, ANSWERED),
        ("resume her session", {"type": "resume", "session_id": alice.session_id}, "session_forbidden"),
        ("stop her answer", {"type": "stop", "message_id": alice.answer_id}, "unknown_message"),
        ("prompt into her conversation", {**prompt, "conversation_id": alice.conversation_id}, "not_found"),
        ("answer under her message", {**prompt, "parent_id": alice.answer_id}, "not_found"),
        (
            "regenerate her prompt in her conversation",
            {
                **prompt,
                "conversation_id": alice.conversation_id,
                "prompt_message_id": alice.prompt_message_id,
            },
            "not_found",
        ),
        (
            "regenerate her prompt in a chat of his",
            {**prompt, "prompt_message_id": alice.prompt_message_id},
            "not_found",
        ),
        # Project ids carry their owner too (history mints them so): refused at the edge.
        ("start a chat inside her project", {**prompt, "project_id": alice.project_id}, "not_found"),
    ]


async def test_bob_is_refused_every_frame_on_alices_things_and_changes_nothing(
    cross_stack: Stack, people: tuple[Alice, Bob]
) -> None:
    alice, bob = people
    gateway = cross_stack.gateways[0]
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        before = await _alices_view(http, alice)
        client = await Client.connect(gateway, bob.token)
        try:
            answered = []
            for what, frame, code in ws_attempts(alice, bob):
                await client.send(frame)
                answer = await _frame_answer(client)
                if code == ANSWERED:
                    assert answer["type"] == "accepted", (what, answer)
                    assert (await client.until(answer["message_id"]))[-1]["type"] == "done", what
                    answered.append(answer["conversation_id"])
                else:
                    assert (answer["type"], answer.get("code")) == ("error", code), (what, answer)
                await client.send({"type": "ping"})
                assert (await _frame_answer(client))["type"] == "pong", what
        finally:
            await client.close()
        for conversation_id in answered:
            stored = await _until_stored(http, bob.token, conversation_id)
            assert stored["project_id"] == bob.project_id, stored

        # A hello naming her session is refused and the socket closed 4403.
        ws = await websockets.connect(gateway.ws)
        await ws.send(json.dumps({"type": "hello", "token": bob.token, "session_id": alice.session_id}))
        refused = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (refused["type"], refused["code"]) == ("error", "session_forbidden"), refused
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 4403
        after = await _alices_view(http, alice)
    assert after == before


async def _until_refused(http: httpx.AsyncClient, api_key: str, *, timeout: float = 15) -> float:
    """Seconds until `/v1/models` refuses the key (the gateway's key cache is 1 s here)."""
    started = time.monotonic()
    while (response := await http.get("/v1/models", headers=_bearer(api_key))).status_code == 200:
        assert time.monotonic() - started < timeout, "the key still works"
        await asyncio.sleep(0.2)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_api_key", response.text
    return time.monotonic() - started


async def test_a_revoked_key_and_a_disabled_account_stop_working(
    cross_stack: Stack, people: tuple[Alice, Bob]
) -> None:
    alice, bob = people
    gateway = cross_stack.gateways[0]
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        as_alice = _bearer(alice.token)
        spare = await http.post("/api/auth/keys", json={"name": "spare"}, headers=as_alice)
        assert spare.status_code == 201, spare.text
        for key in (alice.api_key, spare.json()["key"]):
            assert (await http.get("/v1/models", headers=_bearer(key))).status_code == 200
        revoked = await http.delete(f"/api/auth/keys/{alice.api_key_id}", headers=as_alice)
        assert revoked.status_code == 204, revoked.text
        await _until_refused(http, alice.api_key)

        admin = await http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD})
        disabled = await http.patch(
            f"/api/auth/users/{alice.id}",
            json={"disabled": True},
            headers=_bearer(admin.json()["access_token"]),
        )
        assert disabled.status_code == 200, disabled.text
        await _until_refused(http, spare.json()["key"])
        assert (await http.get("/api/auth/me", headers=as_alice)).status_code == 403
        # Bob, not disabled, is not affected.
        assert (await http.get("/api/auth/me", headers=_bearer(bob.token))).status_code == 200
