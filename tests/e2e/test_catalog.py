"""The runtime model catalogue end to end: an admin adds a provider and a model
through the gateway, a user streams from it with no restart anywhere, and
disabling it refuses new prompts with a clear code while a running stream
finishes."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley_testkit import FakeProvider, Script, TestIssuer

from .stack import Client, Gateway, Stack, postgres_database
from .test_accounts import ADMIN_EMAIL, chat, register_and_login

SECRET = "e2e-catalogue-secret-of-at-least-32-characters"
NEW_MODEL = "second-model"


@pytest.fixture(scope="module")
def second_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def catalog_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    secret = {"PARLEY_CATALOG_SECRET": SECRET}
    with postgres_database("parley_e2e_catalog") as database_url:
        stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
        try:
            stack.start_auth(database_url, PARLEY_ADMIN_EMAIL=ADMIN_EMAIL, **secret)
            stack.start_worker(**secret)
            stack.start_gateway()
            stack.wait_models(stack.gateways[0], workers=1)
            yield stack
        finally:
            stack.close()


def _served(gateway: Gateway) -> set[str]:
    with urllib.request.urlopen(f"{gateway.http}/api/models", timeout=2) as response:
        return {m["name"] for m in json.load(response)["models"]}


async def _until_served(gateway: Gateway, wanted: bool, within_s: float = 1.5) -> float:
    """Seconds until the gateway lists (or stops listing) the new model."""
    started = time.monotonic()
    while (NEW_MODEL in await asyncio.to_thread(_served, gateway)) != wanted:
        assert time.monotonic() - started < within_s, f"{NEW_MODEL} served={not wanted} after {within_s} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_an_admin_adds_a_model_users_chat_with_it_and_disabling_it_refuses_new_prompts(
    catalog_stack: Stack, second_provider: FakeProvider
) -> None:
    gateway = catalog_stack.gateways[0]
    admin = await register_and_login(gateway, ADMIN_EMAIL)
    user = await register_and_login(gateway)
    as_admin = {"Authorization": f"Bearer {admin.access_token}"}
    second_provider.set_script(Script(tokens=["Second", " provider", " here."]))
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        seeded = (await http.get("/api/auth/catalog", headers=as_admin)).json()
        assert {m["name"] for m in seeded["models"]} >= {"test-model"}  # from the models file
        provider = await http.post(
            "/api/auth/catalog/providers",
            headers=as_admin,
            json={"name": "second", "base_url": second_provider.base_url, "api_key": "sk-second-0000-abcd"},
        )
        assert provider.status_code == 201, provider.text
        assert provider.json()["key_last4"] == "abcd"
        assert "sk-second" not in provider.text
        model = await http.post(
            "/api/auth/catalog/models",
            headers=as_admin,
            json={
                "name": NEW_MODEL,
                "provider_id": provider.json()["id"],
                "upstream": "second-upstream",
                "concurrency": 2,
            },
        )
        assert model.status_code == 201, model.text
        listed_after = await _until_served(gateway, True)

        client = await Client.connect(gateway, user.access_token)
        tabs = [client]
        try:
            done = await chat_with(client, NEW_MODEL)
            assert done["text"] == "Second provider here."
            (request,) = second_provider.requests
            assert request.body["model"] == "second-upstream"
            assert request.headers["authorization"] == "Bearer sk-second-0000-abcd"

            # Two long answers run (the model's concurrency) and a third waits in its queue
            # when the admin disables the model.
            long_text = "".join(f"w{i} " for i in range(40))
            second_provider.set_script(Script(tokens=[f"w{i} " for i in range(40)], delay_s=0.05))
            tabs = [client, *[await Client.connect(gateway, user.access_token) for _ in range(2)]]
            running = [await tab.prompt(f"long {i}", model=NEW_MODEL) for i, tab in enumerate(tabs)]
            assert all(r["type"] == "accepted" for r in running), running
            await _until_requests(second_provider, 3)  # the first chat, then two of the three
            disabled = await http.patch(
                f"/api/auth/catalog/models/{model.json()['id']}", headers=as_admin, json={"enabled": False}
            )
            assert disabled.status_code == 200, disabled.text
            await _until_served(gateway, False)
            refused = await client.prompt("again", model=NEW_MODEL)
            assert (refused["type"], refused["code"]) == ("error", "model_unavailable")
            pairs = zip(tabs, running, strict=True)
            ends = [(await tab.until(r["message_id"], timeout=20))[-1] for tab, r in pairs]
            # The running ones finish; the waiting one is told at once, not left waiting.
            assert sorted(e["type"] for e in ends) == ["done", "done", "error"], ends
            assert all(e["text"] == long_text for e in ends if e["type"] == "done"), ends
            [waiting] = [e for e in ends if e["type"] == "error"]
            assert waiting["code"] == "model_unavailable", waiting
            assert NEW_MODEL in waiting["message"], waiting
            assert len(second_provider.requests) == 3  # the waiting prompt never reached the provider
            await chat(client)  # the models file's model is served as before
        finally:
            for tab in tabs:
                await tab.close()
    sys_note = f"catalogue: {NEW_MODEL} listed {listed_after * 1000:.0f} ms after the admin added it"
    print(sys_note)  # noqa: T201


async def _until_requests(provider: FakeProvider, count: int, within_s: float = 10) -> None:
    deadline = time.monotonic() + within_s
    while len(provider.requests) < count:
        assert time.monotonic() < deadline, f"{len(provider.requests)} provider requests, not {count}"
        await asyncio.sleep(0.05)


async def chat_with(client: Client, model: str) -> dict[str, Any]:
    accepted = await client.prompt("Hello", model=model)
    assert accepted["type"] == "accepted", accepted
    frames = await client.until(accepted["message_id"])
    assert frames[-1]["type"] == "done", frames[-1]
    return frames[-1]
