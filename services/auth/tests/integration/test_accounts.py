"""Accounts through the HTTP API on PostgreSQL: register, login, me, password, throttling."""

from __future__ import annotations

import secrets

import pytest

from parley_auth.settings import Settings
from tests.fakes import FakePublisher
from tests.integration.conftest import PASSWORD, Api, User, login, make_settings, start_api


async def test_register_login_me(api: Api) -> None:
    email = await api.register(name="Carol")
    user = await login(api, email)
    me = (await user.http.get("/api/auth/me", headers=user.headers)).json()
    assert me["email"] == email
    assert me["display_name"] == "Carol"
    assert me["role"] == "user"
    assert "password" not in str(me)
    assert "hash" not in str(me)
    await user.http.aclose()


async def test_login_sets_a_strict_refresh_cookie(api: Api) -> None:
    email = await api.register()
    response = await api.http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    cookie = response.headers["set-cookie"].lower()
    for part in ("httponly", "secure", "samesite=strict", "path=/api/auth/refresh", "parley_refresh="):
        assert part in cookie


async def test_email_is_case_insensitively_unique(api: Api) -> None:
    email = await api.register()
    response = await api.http.post(
        "/api/auth/register", json={"email": email.upper(), "display_name": "X", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert "detail" in response.json()
    user = await login(api, email.upper())  # login is case-insensitive too
    await user.http.aclose()


async def test_password_policy(api: Api) -> None:
    for password in ("short", "password123", "aaaaaaaaaaaa", "x" * 300):
        response = await api.http.post(
            "/api/auth/register",
            json={"email": f"p-{secrets.token_hex(4)}@parley.dev", "display_name": "P", "password": password},
        )
        assert response.status_code == 422, password


async def test_passwords_are_argon2id(api: Api) -> None:
    email = await api.register()
    async with api.auth.db.transaction() as repo:
        user = await repo.user_by_email(email)
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_wrong_password_and_unknown_account_look_the_same(api: Api) -> None:
    email = await api.register()
    wrong = await api.http.post("/api/auth/login", json={"email": email, "password": "nope nope nope"})
    unknown = await api.http.post(
        "/api/auth/login", json={"email": "x" + email, "password": "nope nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_login_throttled_per_account_with_retry_after(api: Api) -> None:
    email = await api.register()
    limit = api.auth.settings.login_max_failures_per_account
    for _ in range(limit):
        response = await api.http.post(
            "/api/auth/login", json={"email": email, "password": "wrong password!"}
        )
        assert response.status_code == 401
    response = await api.http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "detail" in response.json()


async def test_login_throttled_per_address(postgres_url: str, amqp_url: str, hasher: object) -> None:
    settings: Settings = make_settings(postgres_url, amqp_url, login_max_failures_per_ip=3)
    async for api in start_api(settings, hasher):  # type: ignore[arg-type]
        for i in range(3):
            await api.http.post(
                "/api/auth/login", json={"email": f"n{i}@parley.dev", "password": "wrong pw!"}
            )
        response = await api.http.post("/api/auth/login", json={"email": "other@parley.dev", "password": "x"})
        assert response.status_code == 429
        assert "retry-after" in response.headers


async def test_api_key_guessing_is_throttled_per_address(
    postgres_url: str, amqp_url: str, hasher: object
) -> None:
    settings: Settings = make_settings(postgres_url, amqp_url, key_max_failures_per_ip=3)
    async for api in start_api(settings, hasher):  # type: ignore[arg-type]
        for i in range(3):
            guess = await api.http.post("/api/auth/token", json={"api_key": f"pk_guess{i}"})
            assert guess.status_code == 401
        response = await api.http.post("/api/auth/token", json={"api_key": "pk_another"})
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert set(response.json()) == {"detail"}


async def test_patch_me_profile_and_preferences(alice: User) -> None:
    response = await alice.http.patch(
        "/api/auth/me",
        headers=alice.headers,
        json={"display_name": "Alice B", "preferences": {"theme": "dark", "temperature": 0.3}},
    )
    assert response.status_code == 200, response.text
    response = await alice.http.patch(
        "/api/auth/me", headers=alice.headers, json={"preferences": {"default_model": "m1"}}
    )
    me = response.json()
    assert me["display_name"] == "Alice B"
    assert me["preferences"] == {
        "theme": "dark", "temperature": 0.3, "default_model": "m1", "default_system_prompt": None
    }  # fmt: skip
    for bad in ({"preferences": {"theme": "neon"}}, {"preferences": {"temperature": 5}}, {"role": "admin"},
                {"display_name": ""}, {"display_name": "x" * 101}):  # fmt: skip
        assert (await alice.http.patch("/api/auth/me", headers=alice.headers, json=bad)).status_code == 422


async def test_password_change_revokes_other_sessions(api: Api, alice: User) -> None:
    other = await login(api, alice.email)  # a second browser
    response = await alice.http.post(
        "/api/auth/me/password",
        headers=alice.headers,
        json={"current_password": PASSWORD, "new_password": "a new long passphrase"},
    )
    assert response.status_code == 204
    assert (await other.http.post("/api/auth/refresh")).status_code == 401
    assert (await alice.http.post("/api/auth/refresh")).status_code == 200  # this session stays
    old = await api.http.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert old.status_code == 401
    await login(api, alice.email, "a new long passphrase")
    wrong = await alice.http.post(
        "/api/auth/me/password",
        headers=alice.headers,
        json={"current_password": "not it at all", "new_password": "another passphrase"},
    )
    assert wrong.status_code == 401
    await other.http.aclose()


async def test_logout_ends_the_session(api: Api, alice: User) -> None:
    response = await alice.http.post("/api/auth/logout", headers=alice.headers)
    assert response.status_code == 204
    assert (await alice.http.post("/api/auth/refresh")).status_code == 401


async def test_logout_naming_no_session_is_refused_and_ends_nothing(api: Api, alice: User) -> None:
    stranger = api.client()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Cookie": "parley_refresh=unknown"}):
        response = await stranger.post("/api/auth/logout", headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "parley_refresh=" in response.headers["set-cookie"]  # cleared all the same
    await stranger.aclose()
    assert (await alice.http.post("/api/auth/refresh")).status_code == 200


async def test_sql_injection_and_oversized_input_change_nothing(api: Api, alice: User) -> None:
    async with api.auth.db.transaction() as repo:
        before = await repo.count_users()
    attempts = [
        {"email": "' OR 1=1 --", "password": "x"},
        {"email": alice.email + "' --", "password": "anything"},
        {"email": "a@b.c'; DROP TABLE users; --", "password": "x"},
        {"email": "x" * 100_000 + "@parley.dev", "password": "x"},
        {"email": alice.email, "password": "p" * 100_000},
    ]
    for body in attempts:
        response = await api.http.post("/api/auth/login", json=body)
        assert 400 <= response.status_code < 500, body
    for body in (
        {"email": "big@parley.dev", "display_name": "x" * 10_000, "password": PASSWORD},
        {"email": "nul@parley.dev", "display_name": "a\x00b", "password": PASSWORD},
    ):
        response = await api.http.post("/api/auth/register", json=body)
        assert 400 <= response.status_code < 500, body
    response = await alice.http.get("/api/auth/me", headers=alice.headers)
    assert response.status_code == 200
    async with api.auth.db.transaction() as repo:
        assert await repo.count_users() == before
    # Stored literally, as data:
    evil = {"email": "evil'--@parley.dev", "display_name": "'; DROP TABLE users; --", "password": PASSWORD}
    assert (await api.http.post("/api/auth/register", json=evil)).status_code in (201, 409)
    user = await login(api, evil["email"])
    me = (await user.http.get("/api/auth/me", headers=user.headers)).json()
    assert me["display_name"] == evil["display_name"]
    await user.http.aclose()


async def test_a_stolen_token_is_no_password_oracle(api: Api, alice: User) -> None:
    limit = api.auth.settings.login_max_failures_per_account
    for _ in range(limit):
        wrong = await alice.http.post(
            "/api/auth/keys", headers=alice.headers, json={"name": "k", "password": "guess guess"}
        )
        assert wrong.status_code == 401
    for path, body in (
        ("/api/auth/keys", {"name": "k", "password": PASSWORD}),
        ("/api/auth/me/password", {"current_password": PASSWORD, "new_password": "another passphrase"}),
    ):
        refused = await alice.http.post(path, headers=alice.headers, json=body)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) >= 1
    assert (await alice.http.get("/api/auth/me", headers=alice.headers)).status_code == 200


async def test_sign_out_and_a_new_password_hold_in_auth_while_the_broker_is_down(
    api: Api, alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    """The announcement is best effort: with the broker down the change still commits, and
    auth itself refuses the tokens at once (the other services learn it when auth is heard)."""
    down = FakePublisher()
    down.up = False
    api.auth.publisher = down
    other = await login(api, alice.email)
    assert (await other.http.post("/api/auth/logout", headers=other.headers)).status_code == 204
    assert (await other.http.get("/api/auth/me", headers=other.headers)).status_code == 401
    changed = await alice.http.post(
        "/api/auth/me/password",
        headers=alice.headers,
        json={"current_password": PASSWORD, "new_password": "a new long passphrase"},
    )
    assert changed.status_code == 204, changed.text
    assert (await alice.http.get("/api/auth/me", headers=alice.headers)).status_code == 401
    assert "user.access_changed" in caplog.text  # "... not published: down"
    await other.http.aclose()
