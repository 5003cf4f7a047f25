"""Accounts through the gateway's one origin: register and log in through its
`/api/auth/*` proxy, chat over `/ws` with the auth service's token, refresh
with the cookie; quotas from the auth service's ledger reach the gateway; the ledger bills only
what a worker's broker user sent."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley_contracts import CompletionFinished, DomainEvent, QuotaExceeded, QuotaRestored, Usage, topology
from parley_testkit import FakeProvider, Script, TestIssuer, publish_as

from .stack import BOOTSTRAP_TOKEN, MODEL, Client, Gateway, Stack, postgres_database

ADMIN_EMAIL = "admin@e2e.parley.dev"
PASSWORD = "correct horse battery staple"
NOBODY_SERVES = "no-such-model"


@pytest.fixture(scope="module")
def accounts_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    """The auth service on its own PostgreSQL database, a worker, a gateway that trusts and routes to auth."""
    with postgres_database("parley_e2e_auth") as database_url:
        stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
        try:
            stack.start_auth(database_url, PARLEY_ADMIN_EMAIL=ADMIN_EMAIL, PARLEY_AUTH_QUOTA_SWEEP_S="1")
            stack.start_worker()
            stack.start_gateway()
            stack.wait_models(stack.gateways[0], workers=1)
            yield stack
        finally:
            stack.close()


@pytest.fixture
async def stack(accounts_stack: Stack, provider: FakeProvider) -> AsyncIterator[Stack]:
    provider.reset()
    yield accounts_stack


@dataclass
class Account:
    id: str
    email: str
    access_token: str
    refresh_cookie: str
    set_cookie: str


async def register_and_login(gateway: Gateway, email: str | None = None) -> Account:
    """A new account, signed in; ADMIN_EMAIL's registers with the operator's bootstrap token,
    so it is the admin."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@e2e.parley.dev"
    body = {"email": email, "display_name": "E2E", "password": PASSWORD}
    if email == ADMIN_EMAIL:
        body["bootstrap_token"] = BOOTSTRAP_TOKEN
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        registered = await http.post("/api/auth/register", json=body)
        assert registered.status_code == 201, registered.text
        login = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        [set_cookie] = login.headers.get_list("set-cookie")
        token = login.json()["access_token"]
        me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
    cookie = SimpleCookie()
    cookie.load(set_cookie)
    return Account(str(me.json()["id"]), email, token, cookie["parley_refresh"].value, set_cookie)


async def publish(stack: Stack, event: DomainEvent, *, service: str = "auth") -> None:
    """`event` on chat.events as `service` publishes it: its broker user, named as the sender."""
    await publish_as(
        stack.service_urls[service],
        event.to_json(),
        exchange=topology.CHAT_EVENTS.name,
        routing_key=event.type,
    )


async def refused_with(client: Client, code: str, *, timeout: float) -> float:
    """Seconds until a prompt (for a model nobody serves: quota is checked first) gets `code`."""
    started = time.monotonic()
    while True:
        frame = await client.prompt("probe", model=NOBODY_SERVES)
        assert frame["type"] == "error", frame
        if frame["code"] == code:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"still {frame['code']} after {timeout} s"


async def chat(client: Client, text: str = "Hello") -> dict[str, Any]:
    accepted = await client.prompt(text, max_tokens=32)
    assert accepted["type"] == "accepted", accepted
    frames = await client.until(accepted["message_id"])
    assert frames[-1]["type"] == "done", frames[-1]
    return frames[-1]


async def ping(client: Client) -> None:
    await client.send({"type": "ping"})
    while (await client.recv())["type"] != "pong":
        pass


async def test_register_login_chat_and_refresh_through_the_gateway(stack: Stack) -> None:
    gateway = stack.gateways[0]
    account = await register_and_login(gateway)
    attributes = account.set_cookie.lower()
    for attribute in ("httponly", "secure", "samesite=strict", "path=/api/auth/refresh"):
        assert attribute in attributes, account.set_cookie

    client = await Client.connect(gateway, account.access_token)
    try:
        done = await chat(client)
        assert done["text"] == "Hello from the fake provider."
    finally:
        await client.close()

    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        cookie = {"Cookie": f"parley_refresh={account.refresh_cookie}"}
        refreshed = await http.post("/api/auth/refresh", headers=cookie)
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.headers["cache-control"] == "no-store"
        assert "parley_refresh=" in refreshed.headers["set-cookie"]
        assert refreshed.json()["access_token"] != account.access_token
        # The spent cookie again: reuse revokes the whole session.
        assert (await http.post("/api/auth/refresh", headers=cookie)).status_code == 401
        jwks = await http.get("/api/auth/jwks.json")
        assert jwks.status_code == 200
        assert jwks.json()["keys"]
        wrong = await http.post("/api/auth/login", json={"email": account.email, "password": "nope-nope"})
        assert wrong.status_code == 401
        # ... and the access tokens it gave out: the thief's refreshed one is refused too.
        stolen = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert (await http.get("/api/auth/me", headers=stolen)).status_code == 401
        again = await http.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
        assert again.status_code == 200, again.text

    client = await Client.connect(gateway, again.json()["access_token"])
    await ping(client)
    await client.close()


async def test_a_quota_event_blocks_the_user_within_a_second_and_restored_lifts_it(stack: Stack) -> None:
    gateway = stack.gateways[0]
    account = await register_and_login(gateway)
    client = await Client.connect(gateway, account.access_token)
    try:
        await refused_with(client, "model_unavailable", timeout=1)
        await publish(stack, QuotaExceeded(user_id=account.id, quota="tokens/day", limit=10, used=12))
        assert await refused_with(client, "quota_exceeded", timeout=1.0) < 1.0
        refused = await client.prompt("Hello")
        assert (refused["type"], refused["code"]) == ("error", "quota_exceeded")
        await ping(client)  # the socket stays open
        assert stack.provider.requests == []
        await publish(
            stack,
            QuotaRestored(user_id=account.id, quota="tokens/day", limit=100, used=12, reason="budget_raised"),
        )
        await refused_with(client, "model_unavailable", timeout=1.0)
        await chat(client)
    finally:
        await client.close()


async def test_the_auth_ledger_blocks_a_user_over_budget_and_an_admin_lifts_it(stack: Stack) -> None:
    gateway = stack.gateways[0]
    admin = await register_and_login(gateway, ADMIN_EMAIL)
    user = await register_and_login(gateway)
    as_admin = {"Authorization": f"Bearer {admin.access_token}"}
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        small = await http.patch(f"/api/auth/users/{user.id}", json={"budget_tokens": 1}, headers=as_admin)
        assert small.status_code == 200, small.text
        as_user = {"Authorization": f"Bearer {user.access_token}"}
        forbidden = await http.patch(
            f"/api/auth/users/{user.id}", json={"budget_tokens": 10**6}, headers=as_user
        )
        assert forbidden.status_code == 403

    client = await Client.connect(gateway, user.access_token)
    try:
        await chat(client)  # more than one token: auth counts it and announces quota.exceeded
        await refused_with(client, "quota_exceeded", timeout=5)
        # A gateway started later learns the block from auth's periodic re-announcement.
        later = stack.start_gateway()
        late_client = await Client.connect(later, user.access_token)
        try:
            await refused_with(late_client, "quota_exceeded", timeout=5)
        finally:
            await late_client.close()

        async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
            raised = await http.patch(
                f"/api/auth/users/{user.id}", json={"budget_tokens": 10**6}, headers=as_admin
            )
            assert raised.status_code == 200, raised.text
        await refused_with(client, "model_unavailable", timeout=5)
        await chat(client)
    finally:
        await client.close()


async def _admin_token(gateway: Gateway) -> str:
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        login = await http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD})
        if login.status_code == 200:
            return str(login.json()["access_token"])
    return (await register_and_login(gateway, ADMIN_EMAIL)).access_token


async def test_admin_stats_sum_usage_and_show_latency_workers_and_queues(
    stack: Stack, provider: FakeProvider
) -> None:
    # Tokens a little apart: a decode rate needs two distinct arrival times.
    provider.set_script(Script(tokens=["Stats", " for", " admins."], delay_s=0.01))
    gateway = stack.gateways[0]
    admin = {"Authorization": f"Bearer {await _admin_token(gateway)}"}  # first: the first account is admin
    user = await register_and_login(gateway)
    client = await Client.connect(gateway, user.access_token)
    try:
        done = await chat(client)
    finally:
        await client.close()
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        assert (await http.get("/api/stats")).status_code == 401
        as_user = {"Authorization": f"Bearer {user.access_token}"}
        assert (await http.get("/api/stats", headers=as_user)).status_code == 403
        deadline = time.monotonic() + 10
        while True:  # auth and the gateway learn of the answer from their queues: look until both have
            stats = (await http.get("/api/stats", headers=admin)).json()
            mine = [u for u in stats["usage"]["by_user"] if u["user_id"] == user.id]
            if (mine and stats["generations_in_flight"] == 0) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    assert stats["usage_error"] is None
    assert mine == [
        {
            "user_id": user.id,
            "requests": 1,
            "prompt_tokens": done["usage"]["prompt_tokens"],
            "completion_tokens": done["usage"]["completion_tokens"],
            "cost": 0.0,
        }
    ]
    assert any(
        day["completion_tokens"] >= done["usage"]["completion_tokens"] for day in stats["usage"]["by_day"]
    )
    assert stats["latency"]["all"]["ttft_ms"]["count"] >= 1
    assert stats["latency"]["by_model"]["test-model"]["tokens_per_s"]["p50"] is not None
    (worker,) = stats["workers"]
    assert "test-model" in worker["models"]
    assert stats["generations_in_flight"] == 0
    queue = next(q for q in stats["queues"] if q["model"] == "test-model")
    assert (queue["queue"], queue["ready"]) == ("inference.requests.test-model", 0)


def _completion(user_id: str, prompt_tokens: int) -> CompletionFinished:
    return CompletionFinished(
        user_id=user_id,
        conversation_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        model=MODEL,
        text="an answer",
        finish_reason="stop",
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=1),
    )


async def _billed(stack: Stack, account: Account, *, at_least: int) -> list[tuple[int, int]]:
    """(requests, prompt tokens) of each ledger row, once `at_least` requests are there (10 s)."""
    async with httpx.AsyncClient(base_url=stack.gateways[0].http, timeout=10) as http:
        for _ in range(100):
            got = await http.get(
                "/api/auth/me/usage", headers={"Authorization": f"Bearer {account.access_token}"}
            )
            rows = [(row["requests"], row["prompt_tokens"]) for row in got.json()["usage"]]
            if sum(requests for requests, _ in rows) >= at_least:
                break
            await asyncio.sleep(0.1)
    return rows


async def test_an_outcome_the_gateway_forges_into_auths_queue_by_name_is_not_billed(stack: Stack) -> None:
    """The default exchange lets any service put a message in any queue by name, and the broker
    takes the gateway's forgery; but RabbitMQ stamps its sender, and auth bills only a worker's."""
    account = await register_and_login(stack.gateways[0])
    forged = _completion(account.id, 900).to_json()
    await publish_as(stack.service_urls["gateway"], forged, routing_key=topology.AUTH_USAGE.name)
    await publish(stack, _completion(account.id, 7), service="inference")
    assert await _billed(stack, account, at_least=1) == [(1, 7)]
    await asyncio.sleep(0.5)  # give the forgery, published first, every chance to show
    assert await _billed(stack, account, at_least=1) == [(1, 7)]
