"""The model catalogue: admin CRUD over REST, write-only provider keys, `catalog.updated` on the
real RabbitMQ after every change, the request-reply answer a starting worker gets, usage prices."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from parley_auth import usage
from parley_auth.adapters.passwords import Argon2Hasher
from parley_auth.settings import Settings
from parley_contracts import CompletionFinished, Usage
from parley_contracts.catalog import CATALOG_REQUESTS, SYSTEM_USER, CatalogUpdated
from parley_platform.sealing import Sealer, provider_binding
from tests.integration.broker import chat_events_queue, next_event
from tests.integration.conftest import Api, User, make_admin, make_settings, start_api

SECRET = "catalogue-test-secret-of-at-least-32-characters"
CATALOG = "/api/auth/catalog"
LOOPBACK = "127.0.0.0/8,::1"
"""Providers on this host are allowed here (some tests point at a port nobody listens on)."""


@pytest.fixture
async def settings(postgres_url: str, amqp_url: str) -> Settings:
    return make_settings(postgres_url, amqp_url, catalog_secret=SECRET, catalog_egress_allow=LOOPBACK)


class Events:
    """`catalog.updated` as a worker sees it: a queue bound to `chat.events`."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue

    async def next(self, *, user_id: str, after: int = -1, timeout: float = 5.0) -> CatalogUpdated:
        """The next event caused by `user_id` with a revision above `after` (skips re-announcements)."""
        return await next_event(
            self.queue,
            _catalog_updated,
            lambda event: event.user_id == user_id and event.revision > after,
            timeout=timeout,
        )


def _catalog_updated(message: aio_pika.abc.AbstractIncomingMessage) -> CatalogUpdated:
    assert message.routing_key == "catalog.updated"
    return CatalogUpdated.model_validate_json(message.body)


async def bind_events(amqp_url: str) -> AsyncIterator[Events]:
    async with chat_events_queue(amqp_url, "catalog.updated") as queue:
        yield Events(queue)


@pytest.fixture
async def events(api: Api, amqp_url: str) -> AsyncIterator[Events]:
    async for value in bind_events(amqp_url):
        yield value


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def _provider(admin: User, **body: Any) -> dict[str, Any]:
    body = {"name": _name("prov"), "base_url": "http://127.0.0.1:9/v1", **body}
    response = await admin.http.post(f"{CATALOG}/providers", headers=admin.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _model(admin: User, provider_id: str, **body: Any) -> dict[str, Any]:
    body = {"name": _name("model"), "provider_id": provider_id, "upstream": "up/stream", **body}
    response = await admin.http.post(f"{CATALOG}/models", headers=admin.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_admin_crud_publishes_the_whole_catalogue(api: Api, events: Events, admin: User) -> None:
    key = "sk-" + secrets.token_urlsafe(24)
    created = await admin.http.post(
        f"{CATALOG}/providers",
        headers=admin.headers,
        json={"name": _name("openai"), "base_url": "https://api.example.com/v1/", "api_key": key},
    )
    assert created.status_code == 201, created.text
    provider = created.json()
    assert (provider["base_url"], provider["has_key"], provider["key_last4"]) == (
        "https://api.example.com/v1", True, key[-4:],
    )  # fmt: skip
    first = await events.next(user_id=admin.id)
    published = {p.id: p for p in first.providers}[uuid.UUID(provider["id"])]
    assert published.sealed_key is not None
    assert published.key_last4 == key[-4:]
    assert (
        Sealer(SECRET).open(published.sealed_key, bound_to=provider_binding(published.id, published.base_url))
        == key
    )
    for text in (created.text, (await admin.http.get(CATALOG, headers=admin.headers)).text):
        assert key not in text
        assert published.sealed_key not in text
        assert "sealed" not in text

    model = await _model(
        admin, provider["id"], context_window=4096, max_tokens=512, input_price_per_mtok=0.5,
        output_price_per_mtok=1.5, concurrency=2, defaults={"repeat_penalty": 1.1},
    )  # fmt: skip
    second = await events.next(user_id=admin.id, after=first.revision)
    assert second.revision == first.revision + 1
    [sent] = [m for m in second.models if str(m.id) == model["id"]]
    assert (sent.name, sent.upstream, sent.enabled, sent.concurrency) == (model["name"], "up/stream", True, 2)
    assert (sent.context_window, sent.max_tokens, sent.output_price_per_mtok) == (4096, 512, 1.5)
    assert dict(sent.defaults) == {"repeat_penalty": 1.1}
    assert {p.id for p in second.providers} >= {uuid.UUID(provider["id"])}  # the whole catalogue

    patched = await admin.http.patch(
        f"{CATALOG}/models/{model['id']}", headers=admin.headers, json={"enabled": False, "concurrency": None}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["enabled"], patched.json()["concurrency"]) == (False, None)
    third = await events.next(user_id=admin.id, after=second.revision)
    assert [m.enabled for m in third.models if str(m.id) == model["id"]] == [False]

    in_use = await admin.http.delete(f"{CATALOG}/providers/{provider['id']}", headers=admin.headers)
    assert in_use.status_code == 409
    assert model["name"] in in_use.json()["detail"]

    cleared = await admin.http.patch(
        f"{CATALOG}/providers/{provider['id']}", headers=admin.headers, json={"api_key": ""}
    )
    assert (cleared.json()["has_key"], cleared.json()["key_last4"]) == (False, None)
    fourth = await events.next(user_id=admin.id, after=third.revision)
    assert [p.sealed_key for p in fourth.providers if str(p.id) == provider["id"]] == [None]

    for path in (f"models/{model['id']}", f"providers/{provider['id']}"):
        assert (await admin.http.delete(f"{CATALOG}/{path}", headers=admin.headers)).status_code == 204
        assert (await admin.http.delete(f"{CATALOG}/{path}", headers=admin.headers)).status_code == 404
    listing = (await admin.http.get(CATALOG, headers=admin.headers)).json()
    assert provider["id"] not in {p["id"] for p in listing["providers"]}
    assert model["id"] not in {m["id"] for m in listing["models"]}
    last = await events.next(user_id=admin.id, after=fourth.revision + 1)
    assert last.revision == listing["revision"] == first.revision + 5


async def test_non_admins_get_403_and_strangers_401(api: Api, admin: User, alice: User) -> None:
    provider = await _provider(admin)
    model = await _model(admin, provider["id"])
    calls = [
        ("GET", CATALOG, None),
        ("POST", f"{CATALOG}/providers", {"name": _name("p"), "base_url": "http://h/v1"}),
        ("PATCH", f"{CATALOG}/providers/{provider['id']}", {"name": "mine"}),
        ("DELETE", f"{CATALOG}/providers/{provider['id']}", None),
        ("POST", f"{CATALOG}/models", {"name": _name("m"), "provider_id": provider["id"], "upstream": "x"}),
        ("PATCH", f"{CATALOG}/models/{model['id']}", {"enabled": False}),
        ("DELETE", f"{CATALOG}/models/{model['id']}", None),
    ]
    for method, path, body in calls:
        forbidden = await alice.http.request(method, path, headers=alice.headers, json=body)
        assert forbidden.status_code == 403, (method, path)
        assert set(forbidden.json()) == {"detail"}
        stranger = await api.http.request(method, path, json=body)
        assert stranger.status_code == 401, (method, path)
    listing = (await admin.http.get(CATALOG, headers=admin.headers)).json()
    [still] = [m for m in listing["models"] if m["id"] == model["id"]]
    assert still["enabled"] is True


async def test_validation_errors_are_clear_4xx(api: Api, admin: User) -> None:
    provider = await _provider(admin)
    model = await _model(admin, provider["id"])
    pid = provider["id"]
    bad: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("POST", "providers", {"name": _name("p"), "base_url": "ftp://h/v1"}, 422, "http://"),
        ("POST", "providers", {"name": _name("p"), "base_url": "http://"}, 422, "host"),
        ("POST", "providers", {"name": _name("p"), "base_url": "http://h", "api_key": "a b"}, 422, "space"),
        ("POST", "providers", {"name": provider["name"], "base_url": "http://h/v1"}, 409, "exists"),
        ("POST", "providers", {"name": " ", "base_url": "http://h/v1"}, 422, "blank"),
        ("PATCH", f"providers/{pid}", {"name": None}, 422, "null"),
        ("PATCH", f"providers/{pid}", {"base_url": "localhost:8080"}, 422, "http://"),
        ("PATCH", f"providers/{uuid.uuid4()}", {"name": _name("p")}, 404, "not found"),
        ("POST", "models", {"name": model["name"], "provider_id": pid, "upstream": "u"}, 409, "exists"),
        ("POST", "models", {"name": _name("m"), "provider_id": str(uuid.uuid4()), "upstream": "u"}, 422,
         "provider"),
        ("POST", "models", {"name": "has space", "provider_id": pid, "upstream": "u"}, 422, "pattern"),
        ("POST", "models", {"name": _name("m"), "provider_id": pid, "upstream": "u", "max_tokens": 9000,
                            "context_window": 8192}, 422, "context_window"),
        ("POST", "models", {"name": _name("m"), "provider_id": pid, "upstream": "u", "context_window": 0},
         422, "greater than"),
        ("POST", "models", {"name": _name("m"), "provider_id": pid, "upstream": "u", "concurrency": 0}, 422,
         "greater than"),
        ("POST", "models", {"name": _name("m"), "provider_id": pid, "upstream": "u",
                            "input_price_per_mtok": -1}, 422, "greater than"),
        ("POST", "models", {"name": _name("m"), "provider_id": pid, "upstream": "u",
                            "defaults": {"model": "other"}}, 422, "worker"),
        ("POST", "models", {"name": _name("m"), "provider_id": pid, "upstream": "u", "secret": 1}, 422,
         "Extra"),
        ("PATCH", f"models/{model['id']}", {"max_tokens": 100_000}, 422, "context_window"),
        ("PATCH", f"models/{model['id']}", {"provider_id": str(uuid.uuid4())}, 422, "provider"),
        ("PATCH", f"models/{model['id']}", {"enabled": None}, 422, "null"),
        ("PATCH", f"models/{uuid.uuid4()}", {"enabled": False}, 404, "not found"),
    ]  # fmt: skip
    for method, path, body, code, words in bad:
        response = await admin.http.request(method, f"{CATALOG}/{path}", headers=admin.headers, json=body)
        assert response.status_code == code, (path, body, response.text)
        assert words.lower() in response.text.lower(), (path, body, response.text)
    nan = await admin.http.patch(
        f"{CATALOG}/models/{model['id']}",
        headers={**admin.headers, "Content-Type": "application/json"},
        content=b'{"defaults": {"temperature": NaN}}',
    )
    assert nan.status_code == 422, nan.text
    renamed = await admin.http.patch(
        f"{CATALOG}/models/{model['id']}", headers=admin.headers, json={"name": model["name"]}
    )
    assert renamed.status_code == 200  # its own name is not a duplicate


async def test_a_key_without_a_secret_is_refused(
    postgres_url: str, amqp_url: str, hasher: Argon2Hasher
) -> None:

    settings = make_settings(postgres_url, amqp_url)
    assert settings.catalog_secret is None
    async for api in start_api(settings, hasher):
        admin = await make_admin(api)
        body = {"name": _name("p"), "base_url": "http://h/v1", "api_key": "sk-123456789"}
        refused = await admin.http.post(f"{CATALOG}/providers", headers=admin.headers, json=body)
        assert refused.status_code == 503
        assert "PARLEY_CATALOG_SECRET" in refused.json()["detail"]
        keyless = await admin.http.post(
            f"{CATALOG}/providers", headers=admin.headers, json={**body, "api_key": ""}
        )
        assert keyless.status_code == 201
        assert keyless.json()["has_key"] is False
        await admin.http.aclose()


async def test_a_starting_worker_gets_the_catalogue_by_request_reply(
    api: Api, admin: User, amqp_url: str
) -> None:
    provider = await _provider(admin, api_key="sk-request-reply-key")
    model = await _model(admin, provider["id"])
    revision = (await admin.http.get(CATALOG, headers=admin.headers)).json()["revision"]
    async with RabbitBroker(amqp_url, logger=None) as broker:
        reply = await broker.request(b"{}", queue=CATALOG_REQUESTS, timeout=5)
    assert reply.content_type == "application/json"
    event = CatalogUpdated.model_validate_json(reply.body)
    assert (event.type, event.user_id, event.revision) == ("catalog.updated", SYSTEM_USER, revision)
    [sent] = [p for p in event.providers if str(p.id) == provider["id"]]
    assert sent.sealed_key is not None
    assert Sealer(SECRET).open(sent.sealed_key, bound_to=provider_binding(sent.id, sent.base_url)) == (
        "sk-request-reply-key"
    )
    assert model["name"] in {m.name for m in event.models}


async def test_concurrent_changes_get_distinct_revisions(api: Api, events: Events, admin: User) -> None:
    provider = await _provider(admin)
    base = (await events.next(user_id=admin.id)).revision
    created = await asyncio.gather(*(_model(admin, provider["id"]) for _ in range(5)))
    seen = [await events.next(user_id=admin.id, after=base) for _ in range(5)]
    assert sorted(e.revision for e in seen) == list(range(base + 1, base + 6))
    newest = max(seen, key=lambda e: e.revision)  # what a worker keeps: it has every change
    assert {m["name"] for m in created} <= {m.name for m in newest.models}


async def test_usage_prefers_the_catalogue_prices(api: Api, admin: User, alice: User) -> None:
    provider = await _provider(admin)
    model = await _model(admin, provider["id"], input_price_per_mtok=3.0, output_price_per_mtok=4.0)
    for name in (model["name"], "m1"):  # m1: not in the catalogue, priced by the settings (1.0, 2.0)
        event = CompletionFinished(
            user_id=alice.id, conversation_id=uuid.uuid4(), message_id=uuid.uuid4(), model=name,
            text="hi", finish_reason="stop", usage=Usage(prompt_tokens=1000, completion_tokens=2000),
        )  # fmt: skip
        assert await usage.record_completion(event, auth=api.auth)
    rows = (
        await admin.http.get("/api/auth/usage", headers=admin.headers, params={"user_id": alice.id})
    ).json()
    costs = {row["model"]: row["cost"] for row in rows["usage"]}
    assert costs[model["name"]] == pytest.approx((1000 * 3.0 + 2000 * 4.0) / 1_000_000)
    assert costs["m1"] == pytest.approx((1000 * 1.0 + 2000 * 2.0) / 1_000_000)
