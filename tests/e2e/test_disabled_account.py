"""A disabled account's access tokens stop working at once, through the whole stack: Alice
chats on an open socket; an admin disables her; within seconds her socket gets the
`account_disabled` error frame and closes 4401, and her old access token is refused on `/ws`,
on `/v1/chat/completions` and on `GET /api/history/conversations` (history and the gateway
learn it from auth's `user.access_changed`). Enabled again, she logs in and chats again."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from parley_testkit import FakeProvider, TestIssuer

from .stack import MODEL, Client, Gateway, Stack, platform
from .test_accounts import ADMIN_EMAIL, PASSWORD, register_and_login


@pytest.fixture(scope="module")
def disabled_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    with platform(
        "disabled",
        stack,
        auth_env={"PARLEY_ADMIN_EMAIL": ADMIN_EMAIL},
        history_env={"PARLEY_HISTORY_TITLE_REQUESTS": "false"},
    ):
        yield stack


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _chat(client: Client, text: str) -> None:
    accepted = await client.prompt(text, max_tokens=16)
    assert accepted["type"] == "accepted", accepted
    frames = await client.until(accepted["message_id"])
    assert frames[-1]["type"] == "done", frames[-1]


async def _hello_refused(gateway: Gateway, token: str) -> tuple[str, int | None]:
    async with websockets.connect(gateway.ws) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "session_id": None, "last_seq": None}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["type"] == "error", frame
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return str(frame["code"]), ws.close_code


async def _refused_everywhere(http: httpx.AsyncClient, gateway: Gateway, token: str) -> str:
    code, close = await _hello_refused(gateway, token)
    assert close == 4401
    completion = await http.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8},
        headers=_bearer(token),
    )
    assert completion.status_code == 401, completion.text
    conversations = await http.get("/api/history/conversations", headers=_bearer(token))
    assert conversations.status_code == 401, conversations.text
    return code


async def test_a_disabled_account_loses_its_socket_and_tokens_at_once_and_chats_again_once_enabled(
    disabled_stack: Stack,
) -> None:
    gateway = disabled_stack.gateways[0]
    admin = await register_and_login(gateway, ADMIN_EMAIL)
    alice = await register_and_login(gateway)
    socket = await Client.connect(gateway, alice.access_token)
    async with httpx.AsyncClient(base_url=gateway.http, timeout=15) as http:
        try:
            await _chat(socket, "hello before")
            assert (
                await http.get("/api/history/conversations", headers=_bearer(alice.access_token))
            ).status_code == 200

            started = time.monotonic()
            disabled = await http.patch(
                f"/api/auth/users/{alice.id}", json={"disabled": True}, headers=_bearer(admin.access_token)
            )
            assert disabled.status_code == 200, disabled.text
            disabled_by = time.time()
            frame = await socket.recv(timeout=5)
            while frame["type"] != "error":
                frame = await socket.recv(timeout=5)
            assert frame["code"] == "account_disabled", frame
            with pytest.raises(ConnectionClosed):
                await socket.recv(timeout=5)
            assert socket.ws.close_code == 4401
            assert time.monotonic() - started < 5

            deadline = time.monotonic() + 5  # history applies the event from its queue
            while (
                await http.get("/api/history/conversations", headers=_bearer(alice.access_token))
            ).status_code != 401:
                assert time.monotonic() < deadline, "history still takes the disabled account's token"
                await asyncio.sleep(0.1)
            assert await _refused_everywhere(http, gateway, alice.access_token) == "account_disabled"
            login = await http.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
            assert login.status_code == 403, login.text

            # `iat` is whole seconds: a token issued within the second of the disable predates it.
            await asyncio.sleep(max(0.0, int(disabled_by) + 1.05 - time.time()))
            enabled = await http.patch(
                f"/api/auth/users/{alice.id}", json={"disabled": False}, headers=_bearer(admin.access_token)
            )
            assert enabled.status_code == 200, enabled.text
            login = await http.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
            assert login.status_code == 200, login.text
            fresh = login.json()["access_token"]
            again = await Client.connect(gateway, fresh)
            try:
                await _chat(again, "hello again")
            finally:
                await again.close()
            listed = await http.get("/api/history/conversations", headers=_bearer(fresh))
            assert listed.status_code == 200, listed.text
            # The token from before the disable stays refused.
            assert await _refused_everywhere(http, gateway, alice.access_token) == "token_revoked"
        finally:
            await socket.close()
