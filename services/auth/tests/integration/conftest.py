"""Integration fixtures: the app over ASGI (httpx) on the real PostgreSQL and a
fresh vhost of the real RabbitMQ, users registered and logged in through the API."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from parley_auth import services
from parley_auth.adapters.passwords import Argon2Hasher
from parley_auth.bootstrap import Auth, bootstrap
from parley_auth.entrypoints.app import create_app
from parley_auth.settings import Settings
from parley_testkit import amqp_url_from_env, isolated_vhost

ISSUER, AUDIENCE = "parley-auth-test", "parley-test"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with isolated_vhost(amqp_url_from_env(), prefix="parley-auth-test") as url:
        yield url


def make_settings(database_url: str, amqp_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "amqp_url": amqp_url,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "register_max_per_ip": 10_000,
        "default_budget_tokens": 1000,
        "prices": {"m1": {"input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0}},
        "quota_sweep_s": 3600,
        **overrides,
    }
    return Settings.model_validate(values)


@dataclass
class Api:
    app: FastAPI
    auth: Auth
    http: httpx.AsyncClient

    def client(self) -> httpx.AsyncClient:
        """Another browser: its own cookie jar."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="https://testserver")

    async def register(
        self, email: str | None = None, password: str = PASSWORD, name: str = "Someone"
    ) -> str:
        email = email or f"user-{secrets.token_hex(5)}@parley.dev"
        response = await self.http.post(
            "/api/auth/register", json={"email": email, "display_name": name, "password": password}
        )
        assert response.status_code == 201, response.text
        return email


@dataclass
class User:
    email: str
    id: str
    token: str
    http: httpx.AsyncClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def start_api(settings: Settings, hasher: Argon2Hasher) -> AsyncIterator[Api]:
    auth = bootstrap(settings, hasher=hasher)
    app = create_app(settings, auth=auth)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as http,
    ):
        yield Api(app, auth, http)


@pytest.fixture
async def settings(postgres_url: str, amqp_url: str) -> Settings:
    return make_settings(postgres_url, amqp_url)


@pytest.fixture
async def api(settings: Settings, hasher: Argon2Hasher) -> AsyncIterator[Api]:
    async for value in start_api(settings, hasher):
        yield value


async def login(api: Api, email: str, password: str = PASSWORD) -> User:
    http = api.client()
    response = await http.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    return User(email, me.json()["id"], token, http)


@pytest.fixture
async def alice(api: Api) -> AsyncIterator[User]:
    user = await login(api, await api.register(name="Alice"))
    yield user
    await user.http.aclose()


@pytest.fixture
async def bob(api: Api) -> AsyncIterator[User]:
    user = await login(api, await api.register(name="Bob"))
    yield user
    await user.http.aclose()


async def make_admin(api: Api) -> User:
    """An account made admin the operator's way (`grant-admin`), then signed in."""
    email = await api.register(name="Admin")
    await services.grant_admin(email, auth=api.auth)
    return await login(api, email)


@pytest.fixture
async def admin(api: Api) -> AsyncIterator[User]:
    user = await make_admin(api)
    yield user
    await user.http.aclose()
