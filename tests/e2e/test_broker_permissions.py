"""Each service's RabbitMQ user (deploy/rabbitmq/permissions.json, made by
deploy/docker/broker_users.py on the session's vhost) may do only what its service owns: the
internet-facing gateway and the workers that call admin-chosen URLs cannot forge another
service's events nor read the audit stream (what one puts in another's queue by name is dropped
by its sender check: test_accounts.py). And the platform runs on those users."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aio_pika
import httpx
import pytest
from aiormq.exceptions import ChannelAccessRefused

from parley_contracts.senders import OWNED, Service
from parley_contracts.topology import AUDIT_EVENTS, AUTH_USAGE, CHAT_EVENTS, HISTORY_EVENTS
from parley_platform.rabbit import declare
from parley_testkit import FakeProvider, TestIssuer, amqp_url_from_env, isolated_vhost

from .stack import Client, Stack, broker_users, platform, service_urls

SERVICES: tuple[Service, ...] = ("auth", "gateway", "history", "inference")
# Which service may publish each event on chat.events (the routing key is the event's type).
OWNERS = {
    event_type: {svc for svc in SERVICES if event_type in OWNED[svc]}
    for event_type in (
        "prompt.submitted",
        "completion.finished",
        "completion.failed",
        "completion.cancelled",
        "catalog.updated",
        "quota.exceeded",
        "quota.restored",
        "user.registered",
        "user.access_changed",
        "conversation.deleted",
        "project.created",
        "library.prompt.shared",
    )
}


@pytest.fixture(scope="module")
def own_vhost() -> Iterator[str]:
    """A vhost of this module's, with its broker users: the probes below publish made-up events,
    which must not reach the audit stream other tests read."""
    with isolated_vhost(amqp_url_from_env(), prefix="parley-e2e-perms") as url, broker_users(url):
        yield url


@pytest.fixture
async def topology(own_vhost: str) -> AsyncIterator[str]:
    """The shared queues declared (by the administrator) as the running platform has them."""
    async with await aio_pika.connect(own_vhost) as connection:
        await declare(await connection.channel(), HISTORY_EVENTS, AUDIT_EVENTS, AUTH_USAGE)
    yield own_vhost


async def _publishes(amqp_url: str, exchange: str, routing_key: str) -> bool:
    """Whether the broker takes (confirms) a publish as this user; False: access refused."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        try:
            await target.publish(aio_pika.Message(b"{}"), routing_key=routing_key, timeout=5)
        except ChannelAccessRefused:
            return False
        return True


async def _ignore(_message: aio_pika.abc.AbstractIncomingMessage) -> None:
    pass


async def _consumes(amqp_url: str, queue: str) -> bool:
    """Whether this user may consume `queue`; False: access refused."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=10)  # a stream queue needs a prefetch
        try:
            declared = await channel.get_queue(queue, ensure=False)
            await declared.consume(_ignore)
        except ChannelAccessRefused:
            return False
        return True


async def _binds(amqp_url: str, queue: str, routing_key: str) -> bool:
    """Whether this user may declare `queue` and bind it to chat.events with `routing_key`."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, exclusive=True, auto_delete=True)
            await declared.bind(CHAT_EVENTS.name, routing_key=routing_key)
        except ChannelAccessRefused:
            return False
        return True


@pytest.mark.parametrize("event_type", sorted(OWNERS))
async def test_only_the_owner_of_an_event_may_publish_it(topology: str, event_type: str) -> None:
    urls = service_urls(topology)
    allowed = {svc for svc in SERVICES if await _publishes(urls[svc], CHAT_EVENTS.name, event_type)}
    assert allowed == OWNERS[event_type]


async def test_the_gateway_cannot_forge_outcomes_quota_or_the_catalogue(topology: str) -> None:
    gateway = service_urls(topology)["gateway"]
    for forged in ["completion.finished", "quota.restored", "catalog.updated", "user.access_changed"]:
        assert not await _publishes(gateway, CHAT_EVENTS.name, forged), forged
    assert await _publishes(gateway, CHAT_EVENTS.name, "prompt.submitted")


async def test_the_workers_cannot_forge_quota_catalogue_or_prompts(topology: str) -> None:
    inference = service_urls(topology)["inference"]
    for forged in [
        "catalog.updated",
        "quota.exceeded",
        "quota.restored",
        "prompt.submitted",
        "user.registered",
    ]:
        assert not await _publishes(inference, CHAT_EVENTS.name, forged), forged
    assert await _publishes(inference, CHAT_EVENTS.name, "completion.finished")


async def test_only_history_reads_the_audit_stream(topology: str) -> None:
    urls = service_urls(topology)
    readers = {svc for svc in SERVICES if await _consumes(urls[svc], AUDIT_EVENTS.name)}
    assert readers == {"history"}


async def test_the_gateway_cannot_tap_events_it_does_not_need(topology: str) -> None:
    """The internet-facing gateway binds its own queues to the event types it acts on only, not
    to every event (conversations, projects, registrations): the audit stream is not its."""
    gateway = service_urls(topology)["gateway"]
    for key in ("#", "*.*", "conversation.*", "project.created", "user.registered", "library.prompt.*"):
        assert not await _binds(gateway, "gateway.tap", key), key
    assert await _binds(gateway, "gateway.test.access", "user.access_changed")


async def test_no_service_reads_another_services_queue(topology: str) -> None:
    urls = service_urls(topology)
    assert {svc for svc in SERVICES if await _consumes(urls[svc], HISTORY_EVENTS.name)} == {"history"}
    assert {svc for svc in SERVICES if await _consumes(urls[svc], AUTH_USAGE.name)} == {"auth"}


async def test_a_service_cannot_make_a_queue_outside_its_own_names(topology: str) -> None:
    urls = service_urls(topology)
    for svc in ("gateway", "inference", "auth"):
        assert not await _binds(urls[svc], "spy", "completion.finished"), svc
    # The workers may not tap the prompts of other names either: only their own queues.
    assert not await _binds(urls["inference"], "inference.requests.spy", "quota.exceeded")
    assert await _binds(urls["gateway"], "gateway.test.quota", "quota.exceeded")


def _connection_users(vhost: str) -> set[str]:
    """The users of the connections to `vhost` (`list_connections` lists the whole node's)."""
    done = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "--no-table-headers", "vhost", "user"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split("\t") for line in done.stdout.splitlines() if line.strip()]
    return {user for on, user in rows if on == vhost}


async def test_the_platform_runs_on_its_restricted_users(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> None:
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    with platform("broker_users", stack) as running:
        async with httpx.AsyncClient(base_url=running.gateways[0].http, timeout=10) as http:
            account = {"email": "broker-users@e2e.parley.dev", "password": "correct horse battery staple"}
            registered = await http.post("/api/auth/register", json={**account, "display_name": "E2E"})
            assert registered.status_code == 201, registered.text
            login = await http.post("/api/auth/login", json=account)
            token = login.json()["access_token"]
        client = await Client.connect(running.gateways[0], token)
        try:
            accepted = await client.prompt("hello")
            assert accepted["type"] == "accepted", accepted
            frames = await client.until(accepted["message_id"])
            assert frames[-1]["type"] == "done", frames[-1]
        finally:
            await client.close()
        # Every connection on the vhost (the test's own are closed) is one of the services' users.
        users = _connection_users(unquote(urlsplit(vhost_url).path[1:]))
        assert users == {unquote(urlsplit(url).username or "") for url in running.service_urls.values()}
