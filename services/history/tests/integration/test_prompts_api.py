"""The prompt library over HTTP (ASGI) on PostgreSQL and SQLite: saving, listing by
scope, tag and text, paging, sharing, an admin's unshare, deleting."""

from __future__ import annotations

import httpx

from parley_history.bootstrap import History
from parley_testkit import TestIssuer
from tests.integration.conftest import auth
from tests.integration.rest import API, ok, published


async def test_the_prompt_library(client: httpx.AsyncClient, history: History, issuer: TestIssuer) -> None:
    alice, bob = auth(issuer, "alice"), auth(issuer, "bob")
    pirate = await ok(
        await client.post(
            f"{API}/prompts",
            json={"name": "Pirate", "text": "Talk like a pirate.", "tags": ["Fun", "voice", "fun"]},
            headers=alice,
        ),
        201,
    )
    assert (pirate["tags"], pirate["shared"], pirate["mine"]) == (["fun", "voice"], False, True)
    reviewer = await ok(
        await client.post(
            f"{API}/prompts",
            json={"name": "Reviewer", "text": "Review code strictly.", "tags": ["code"], "shared": True},
            headers=alice,
        ),
        201,
    )
    own = await ok(
        await client.post(
            f"{API}/prompts", json={"name": "Mine", "text": "Be fun.", "tags": ["fun"]}, headers=bob
        ),
        201,
    )

    async def names(headers: dict[str, str], query: str = "") -> list[str]:
        page = await ok(await client.get(f"{API}/prompts{query}", headers=headers))
        return [item["name"] for item in page["items"]]

    assert await names(alice) == ["Reviewer", "Pirate"]
    assert await names(bob) == ["Mine", "Reviewer"]
    assert await names(bob, "?scope=own") == ["Mine"]
    assert await names(bob, "?scope=shared") == ["Reviewer"]
    assert await names(bob, "?tag=FUN") == ["Mine"]
    assert await names(bob, "?q=STRICT") == ["Reviewer"]
    assert await names(alice, "?q=100%25") == []
    tags = await ok(await client.get(f"{API}/prompts/tags", headers=bob))
    assert tags["items"] == [{"tag": "code", "count": 1}, {"tag": "fun", "count": 1}]
    assert [
        t["tag"]
        for t in (await ok(await client.get(f"{API}/prompts/tags?scope=own", headers=alice)))["items"]
    ] == [
        "code",
        "fun",
        "voice",
    ]
    shared_view = await ok(await client.get(f"{API}/prompts/{reviewer['id']}", headers=bob))
    assert (shared_view["mine"], shared_view["text"]) == (False, "Review code strictly.")

    edited = await ok(
        await client.patch(
            f"{API}/prompts/{pirate['id']}", json={"text": "Arr!", "tags": [], "shared": True}, headers=alice
        )
    )
    assert (edited["name"], edited["text"], edited["tags"], edited["shared"]) == ("Pirate", "Arr!", [], True)
    assert await names(bob) == ["Pirate", "Mine", "Reviewer"]
    page = await ok(await client.get(f"{API}/prompts?limit=2", headers=bob))
    rest = await ok(await client.get(f"{API}/prompts?limit=2&cursor={page['next_cursor']}", headers=bob))
    assert [item["name"] for item in page["items"] + rest["items"]] == ["Pirate", "Mine", "Reviewer"]
    assert rest["next_cursor"] is None

    # an admin unshares anyone's; nobody else but the owner changes it
    admin = auth(issuer, "root", role="admin")
    assert (
        await client.patch(f"{API}/prompts/{pirate['id']}", json={"shared": True}, headers=admin)
    ).status_code == 403
    unshared = await ok(
        await client.patch(f"{API}/prompts/{pirate['id']}", json={"shared": False}, headers=admin)
    )
    assert (unshared["shared"], unshared["mine"]) == (False, False)
    assert (await client.get(f"{API}/prompts/{pirate['id']}", headers=bob)).status_code == 404
    assert (await ok(await client.get(f"{API}/prompts/{pirate['id']}", headers=alice)))["shared"] is False

    await ok(await client.delete(f"{API}/prompts/{pirate['id']}", headers=alice), 204)
    assert (await client.get(f"{API}/prompts/{pirate['id']}", headers=alice)).status_code == 404
    assert await names(alice) == ["Reviewer"]
    assert own["mine"] is True
    assert published(history) == [
        "library.prompt.saved",
        "library.prompt.saved",
        "library.prompt.shared",
        "library.prompt.saved",
        "library.prompt.saved",
        "library.prompt.shared",
        "library.prompt.shared",
        "library.prompt.deleted",
    ]
