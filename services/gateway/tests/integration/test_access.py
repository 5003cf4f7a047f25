"""Account access changes on the real broker: a `user.access_changed` on `chat.events`
closes the user's open sockets on every gateway, refuses the old token on `/ws` and `/v1`,
caps a demoted admin's role on `/api/stats`; a gateway that starts later learns the change
from auth's answer on `access.requests`."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from faststream.rabbit import RabbitBroker, RabbitQueue, RabbitResponse

from parley_contracts import UserAccessChanged
from parley_contracts.access import ACCESS_REQUESTS, RecentAccessChanges
from parley_testkit import FakeProvider
from tests.fakes import access_changed
from tests.integration.client import Client
from tests.integration.conftest import GatewayProcess, KeyRing, spawn_gateway
from tests.integration.test_quota import publish


async def refused_hello(client: Client, token: str) -> tuple[dict[str, Any], int | None]:
    await client.send({"type": "hello", "token": token, "session_id": None, "last_seq": None})
    error = await client.expect("error")
    return error, await client.closed()


async def v1_status(gateway: GatewayProcess, token: str) -> int:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as http:
        response = await http.get("/v1/models", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_disabling_closes_the_users_sockets_everywhere_and_refuses_the_old_token(
    gateway_a: GatewayProcess,
    gateway_b: GatewayProcess,
    connect: Any,
    amqp_url: str,
    keyring: KeyRing,
    user: str,
) -> None:
    token = keyring.token(user)
    sockets = [await connect(gateway_a), await connect(gateway_b), await connect(gateway_a)]
    for socket in sockets:
        await socket.hello(token)
    other = await connect(gateway_a)
    await other.hello(keyring.token(f"{user}-other"))
    assert await v1_status(gateway_a, token) == 200

    disabled_at = datetime.now(UTC)
    await publish(amqp_url, access_changed(user, disabled=True, cut=disabled_at))
    for socket in sockets:
        error = await socket.expect("error", timeout=3.0)
        assert (error["code"], error["message"]) == ("account_disabled", "the account is disabled")
        assert await socket.closed(timeout=3.0) == 4401
    await other.ping()  # another user's socket stays open

    for gateway in (gateway_a, gateway_b):
        error, code = await refused_hello(await connect(gateway), token)
        assert (error["code"], code) == ("account_disabled", 4401)
        assert await v1_status(gateway, token) == 401

    # Enabled again: the token from before the disable stays refused, a token issued since works.
    await publish(amqp_url, access_changed(user, disabled=False, cut=disabled_at))
    await asyncio.sleep(0.5)
    error, code = await refused_hello(await connect(gateway_b), token)
    assert (error["code"], code) == ("token_revoked", 4401)
    assert await v1_status(gateway_b, token) == 401
    # `iat` is whole seconds: a token of the second after the disable's (waited for, since a token
    # from the future is refused as not yet valid).
    issued_at = math.floor(disabled_at.timestamp()) + 1
    await asyncio.sleep(max(issued_at - time.time(), 0.0))
    fresh = keyring.token(user, issued_at=issued_at)
    client = await connect(gateway_b)
    await client.hello(fresh)
    await client.ping()
    assert await v1_status(gateway_a, fresh) == 200


async def stats_status(gateway: GatewayProcess, token: str) -> int:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as http:
        response = await http.get("/api/stats", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_a_demoted_admins_old_token_loses_the_admin_route_but_keeps_chatting(
    gateway_a: GatewayProcess, connect: Any, amqp_url: str, keyring: KeyRing, user: str
) -> None:
    token = keyring.token(user, role="admin")
    client = await connect(gateway_a)
    await client.hello(token)
    assert await stats_status(gateway_a, token) == 200
    await publish(amqp_url, access_changed(user, disabled=False, role="user"))
    deadline = asyncio.get_running_loop().time() + 3.0
    while await stats_status(gateway_a, token) != 403:
        assert asyncio.get_running_loop().time() < deadline, "the old admin token still passes"
        await asyncio.sleep(0.1)
    await client.ping()  # a user may chat: the socket stays
    assert await v1_status(gateway_a, token) == 200


@pytest.fixture
async def fake_auth(amqp_url: str) -> AsyncIterator[list[UserAccessChanged]]:
    """Answers `access.requests` as auth does, with the changes the test puts in the list."""
    changes: list[UserAccessChanged] = []
    broker = RabbitBroker(amqp_url, logger=None)

    @broker.subscriber(RabbitQueue(ACCESS_REQUESTS, durable=True))
    async def answer(_body: bytes) -> RabbitResponse:
        reply = RecentAccessChanges(changes=tuple(changes))
        return RabbitResponse(reply.model_dump_json().encode(), content_type="application/json")

    async with broker:
        await broker.start()
        yield changes


async def test_a_gateway_started_after_the_change_learns_it_from_auth(
    fake_auth: list[UserAccessChanged],
    connect: Any,
    amqp_url: str,
    jwks_server: FakeProvider,
    keyring: KeyRing,
    user: str,
) -> None:
    token = keyring.token(user)
    fake_auth.append(access_changed(user, disabled=True, cut=datetime.now(UTC)))
    late = spawn_gateway("gateway-late", amqp_url, jwks_server.jwks_url)
    try:
        # In a thread: the fake auth answers on this event loop while the gateway starts.
        await asyncio.to_thread(late.process.wait_ready, f"{late.ops_url}/readyz", timeout=30)
        assert "learned 1 recent access change(s)" in late.process.log_text()
        error, code = await refused_hello(await connect(late), token)
        assert (error["code"], code) == ("account_disabled", 4401)
        other = await connect(late)
        await other.hello(keyring.token(f"{user}-other"))
    finally:
        late.process.terminate()
