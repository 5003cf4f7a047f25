"""`user.access_changed` on the real RabbitMQ when an admin disables, enables or demotes an
account, and the request-reply answer a gateway that starts later gets on `access.requests`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import aio_pika
import jwt
import pytest
from faststream.rabbit import RabbitBroker

from parley_contracts import UserAccessChanged
from parley_contracts.access import ACCESS_REQUESTS, RecentAccessChanges
from tests.integration.broker import chat_events_queue, next_event
from tests.integration.conftest import Api, User, login


class AccessEvents:
    """`user.access_changed` as a gateway sees it: a queue bound to `chat.events`."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue

    async def next(self, user_id: str, *, timeout: float = 5.0) -> UserAccessChanged:
        return await next_event(
            self.queue,
            lambda message: UserAccessChanged.model_validate_json(message.body),
            lambda event: event.user_id == user_id,
            timeout=timeout,
        )

    async def none_for(self, user_id: str, *, wait_s: float = 0.5) -> bool:
        try:
            await self.next(user_id, timeout=wait_s)
        except TimeoutError:
            return True
        return False


@pytest.fixture
async def events(api: Api, amqp_url: str) -> AsyncIterator[AccessEvents]:
    async with chat_events_queue(amqp_url, "user.access_changed") as queue:
        yield AccessEvents(queue)


async def _patch(admin: User, user: User, **body: object) -> None:
    response = await admin.http.patch(f"/api/auth/users/{user.id}", headers=admin.headers, json=body)
    assert response.status_code == 200, response.text


async def test_disable_enable_and_role_changes_are_published(
    api: Api, events: AccessEvents, admin: User, alice: User
) -> None:
    issued_at = jwt.decode(alice.token, options={"verify_signature": False})["iat"]
    ttl = timedelta(seconds=api.auth.settings.access_ttl_s)

    await _patch(admin, alice, disabled=True)
    disabled = await events.next(alice.id)
    assert (disabled.type, disabled.version, disabled.disabled, disabled.role) == (
        "user.access_changed", 1, True, "user",
    )  # fmt: skip
    assert disabled.tokens_not_before is not None
    assert disabled.tokens_not_before.timestamp() > issued_at
    assert disabled.relevant_until >= disabled.occurred_at + ttl

    await _patch(admin, alice, disabled=False)
    enabled = await events.next(alice.id)
    assert (enabled.disabled, enabled.tokens_not_before) == (False, disabled.tokens_not_before)
    assert enabled.occurred_at > disabled.occurred_at

    await _patch(admin, alice, role="admin")
    promoted = await events.next(alice.id)
    assert (promoted.disabled, promoted.role, promoted.tokens_not_before) == (
        False, "admin", disabled.tokens_not_before,
    )  # fmt: skip
    await _patch(admin, alice, role="user")
    assert (await events.next(alice.id)).role == "user"


async def test_changes_that_change_no_access_publish_nothing(
    api: Api, events: AccessEvents, admin: User, alice: User
) -> None:
    await _patch(admin, alice, budget_tokens=5000)
    await _patch(admin, alice, role="user", disabled=False)
    assert await events.none_for(alice.id)


async def test_a_starting_gateway_learns_the_recent_changes(
    api: Api, amqp_url: str, admin: User, alice: User, bob: User
) -> None:
    carol = await login(api, await api.register(name="Carol"))
    await _patch(admin, alice, disabled=True)
    await _patch(admin, bob, role="admin")
    async with RabbitBroker(amqp_url, logger=None) as broker:
        reply = await broker.request(b"{}", queue=ACCESS_REQUESTS, timeout=5)
    changes = {c.user_id: c for c in RecentAccessChanges.model_validate_json(reply.body).changes}
    assert (changes[alice.id].disabled, changes[alice.id].role) == (True, "user")
    assert (changes[bob.id].disabled, changes[bob.id].role) == (False, "admin")
    assert carol.id not in changes  # nothing happened to her access
    await carol.http.aclose()


async def test_a_token_after_re_enabling_is_issued_after_the_cutoff(
    api: Api, events: AccessEvents, admin: User, alice: User
) -> None:
    await _patch(admin, alice, disabled=True)
    await events.next(alice.id)
    await asyncio.sleep(1.0)  # `iat` is whole seconds
    await _patch(admin, alice, disabled=False)
    enabled = await events.next(alice.id)
    again = await login(api, alice.email)
    try:
        issued_at = jwt.decode(again.token, options={"verify_signature": False})["iat"]
        assert enabled.tokens_not_before is not None
        assert issued_at >= enabled.tokens_not_before.timestamp()
    finally:
        await again.http.aclose()
