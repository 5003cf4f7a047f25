"""Roles and admin endpoints, disabled accounts, API keys, and cross-user access on every route."""

from __future__ import annotations

import uuid

from tests.integration.conftest import PASSWORD, Api, User, login


async def test_admin_email_becomes_admin_and_lists_users(api: Api, admin: User, alice: User) -> None:
    me = (await admin.http.get("/api/auth/me", headers=admin.headers)).json()
    assert me["role"] == "admin"
    page = (await admin.http.get("/api/auth/users", headers=admin.headers, params={"q": alice.email})).json()
    assert [u["id"] for u in page["users"]] == [alice.id]
    assert page["total"] == 1
    wild = (await admin.http.get("/api/auth/users", headers=admin.headers, params={"q": "%"})).json()
    assert wild["total"] == 0  # LIKE wildcards are escaped


async def test_non_admins_get_403_never_data(api: Api, alice: User, bob: User) -> None:
    calls = [
        ("GET", "/api/auth/users", None),
        ("GET", "/api/auth/users?q=a", None),
        ("PATCH", f"/api/auth/users/{bob.id}", {"role": "admin"}),
        ("PATCH", f"/api/auth/users/{alice.id}", {"role": "admin"}),
        ("PATCH", f"/api/auth/users/{bob.id}", {"disabled": True}),
        ("GET", "/api/auth/usage", None),
        ("GET", f"/api/auth/usage?user_id={bob.id}", None),
    ]
    for method, path, body in calls:
        response = await alice.http.request(method, path, headers=alice.headers, json=body)
        assert response.status_code == 403, path
        assert set(response.json()) == {"detail"}
    assert (await bob.http.get("/api/auth/me", headers=bob.headers)).json()["role"] == "user"
    assert (await bob.http.get("/api/auth/me", headers=bob.headers)).json()["disabled"] is False


async def test_role_change_and_role_in_refreshed_token(api: Api, admin: User, alice: User) -> None:
    response = await admin.http.patch(
        f"/api/auth/users/{alice.id}", headers=admin.headers, json={"role": "admin"}
    )
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert (await alice.http.get("/api/auth/users", headers=alice.headers)).status_code == 200
    missing = await admin.http.patch(
        f"/api/auth/users/{uuid.uuid4()}", headers=admin.headers, json={"role": "user"}
    )
    assert missing.status_code == 404
    self_demote = await admin.http.patch(
        f"/api/auth/users/{admin.id}", headers=admin.headers, json={"role": "user"}
    )
    assert self_demote.status_code == 409


async def test_disabled_user_is_locked_out_at_once(api: Api, admin: User, alice: User) -> None:
    key = (await alice.http.post("/api/auth/keys", headers=alice.headers, json={"name": "k"})).json()["key"]
    response = await admin.http.patch(
        f"/api/auth/users/{alice.id}", headers=admin.headers, json={"disabled": True}
    )
    assert response.status_code == 200
    assert response.json()["disabled"] is True
    assert (await alice.http.get("/api/auth/me", headers=alice.headers)).status_code == 403
    assert (await alice.http.post("/api/auth/refresh")).status_code == 401
    login_ = await api.http.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert login_.status_code == 403
    assert (await api.http.post("/api/auth/token", json={"api_key": key})).status_code == 401  # revoked
    # Re-enabled: may log in again, but the revoked session and key stay revoked.
    await admin.http.patch(f"/api/auth/users/{alice.id}", headers=admin.headers, json={"disabled": False})
    assert (await alice.http.post("/api/auth/refresh")).status_code == 401
    assert (await api.http.post("/api/auth/token", json={"api_key": key})).status_code == 401
    again = await login(api, alice.email)
    await again.http.aclose()


async def test_api_keys_lifecycle(api: Api, alice: User) -> None:
    created = await alice.http.post("/api/auth/keys", headers=alice.headers, json={"name": "script"})
    assert created.status_code == 201
    body = created.json()
    secret = body["key"]
    assert secret.startswith(body["prefix"])
    assert len(secret) > 40
    listed = (await alice.http.get("/api/auth/keys", headers=alice.headers)).json()["keys"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert "key" not in listed[0]
    async with api.auth.db.transaction() as repo:
        stored = await repo.api_keys(uuid.UUID(alice.id))
    assert secret not in (stored[0].secret_hash, stored[0].prefix)  # stored hashed
    exchanged = await api.http.post("/api/auth/token", json={"api_key": secret})
    assert exchanged.status_code == 200
    token = exchanged.json()["access_token"]
    me = await api.http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["id"] == alice.id
    assert (await alice.http.delete(f"/api/auth/keys/{body['id']}", headers=alice.headers)).status_code == 204
    assert (await api.http.post("/api/auth/token", json={"api_key": secret})).status_code == 401
    assert (await alice.http.delete(f"/api/auth/keys/{body['id']}", headers=alice.headers)).status_code == 404


async def test_user_a_cannot_touch_user_b(api: Api, alice: User, bob: User) -> None:
    bob_key = (await bob.http.post("/api/auth/keys", headers=bob.headers, json={"name": "bob's"})).json()
    # Alice's view of every user route shows her own data only.
    me = (await alice.http.get("/api/auth/me", headers=alice.headers)).json()
    assert me["id"] == alice.id
    assert (await alice.http.get("/api/auth/keys", headers=alice.headers)).json() == {"keys": []}
    assert (
        await alice.http.delete(f"/api/auth/keys/{bob_key['id']}", headers=alice.headers)
    ).status_code == 404
    usage = await alice.http.get("/api/auth/me/usage", headers=alice.headers, params={"user_id": bob.id})
    assert all(row["user_id"] == alice.id for row in usage.json()["usage"])
    patched = await alice.http.patch(
        "/api/auth/me", headers=alice.headers, json={"display_name": "Mallory", "id": bob.id}
    )
    assert patched.status_code == 422  # unknown fields are refused, not applied to someone else
    await alice.http.patch("/api/auth/me", headers=alice.headers, json={"display_name": "Mallory"})
    bob_me = (await bob.http.get("/api/auth/me", headers=bob.headers)).json()
    assert bob_me["display_name"] == "Bob"
    # Bob's key survived and still works; Alice's password change did not end Bob's session.
    await alice.http.post(
        "/api/auth/me/password",
        headers=alice.headers,
        json={"current_password": PASSWORD, "new_password": "alice's new passphrase"},
    )
    assert (await api.http.post("/api/auth/token", json={"api_key": bob_key["key"]})).status_code == 200
    assert (await bob.http.post("/api/auth/refresh")).status_code == 200
    # Logging out with Alice's token and Bob's refresh cookie? Cookie is Bob's jar only; Alice's logout
    # revokes Alice's session, never Bob's.
    await alice.http.post("/api/auth/logout", headers=alice.headers)
    assert (await bob.http.post("/api/auth/refresh")).status_code == 200
