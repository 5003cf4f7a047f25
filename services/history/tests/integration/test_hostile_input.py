"""Crafted input that once answered 500: a cursor whose time overflows when moved to UTC, and
text holding an unpaired surrogate (valid JSON, not valid Unicode). Each is a 400 in the
service's error shape, on every route that takes it, and nothing is stored or published."""

from __future__ import annotations

import base64
import uuid

import httpx
import orjson
import pytest

from parley_history.bootstrap import History
from parley_history.entrypoints.responses import NOT_UNICODE
from parley_testkit import TestIssuer
from tests.events import prompt
from tests.fakes import FakePublisher
from tests.integration.conftest import auth

API = "/api/history"

# Each one decodes (base64 of JSON, an ISO time, a UUID) but names a time no database holds.
OVERFLOWING_TIMES = [
    "9999-12-31T23:59:59.999999-14:00",
    "9999-12-31T23:00:00-01:00",
    "0001-01-01T00:00:00+14:00",
]


def _cursor(when: str) -> str:
    raw = orjson.dumps({"u": when, "i": str(uuid.uuid4())})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


async def _seeded(history: History, client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    chat = prompt("alice", "hello")
    await history.store.apply(chat, chat.to_json().decode())
    project = await client.post(f"{API}/projects", json={"name": "P"}, headers=headers)
    saved = await client.post(f"{API}/prompts", json={"name": "N", "text": "T"}, headers=headers)
    assert (project.status_code, saved.status_code) == (201, 201)
    return {
        "conversation": str(chat.conversation_id),
        "project": project.json()["id"],
        "prompt": saved.json()["id"],
    }


@pytest.mark.parametrize("when", OVERFLOWING_TIMES)
async def test_a_cursor_beyond_the_calendar_is_a_400(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer, when: str
) -> None:
    alice = auth(issuer, "alice")
    ids = await _seeded(history, client, alice)
    for path in ("/conversations", f"/projects/{ids['project']}/conversations", "/prompts"):
        response = await client.get(API + path, params={"cursor": _cursor(when)}, headers=alice)
        assert response.status_code == 400, (path, response.text)
        assert response.json() == {"detail": "the cursor is not one this service issued"}


async def test_an_audit_query_beyond_the_calendar_is_refused(
    client: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    admin = auth(issuer, "root", role="admin")
    for when in OVERFLOWING_TIMES:
        response = await client.get(f"{API}/audit/events", params={"since": when}, headers=admin)
        assert response.status_code == 422, response.text
        assert set(response.json()) == {"detail"}


async def test_text_with_an_unpaired_surrogate_is_a_400_everywhere(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer
) -> None:
    alice = auth(issuer, "alice")
    ids = await _seeded(history, client, alice)
    publisher = history.publisher
    assert isinstance(publisher, FakePublisher)
    published = len(publisher.published)
    lone = "\\ud800"  # JSON's escape of a lone high surrogate: valid JSON, not valid Unicode
    cases = [
        ("POST", "/projects", f'{{"name": "{lone}"}}'),
        ("POST", "/projects", f'{{"name": "P", "system_prompt": "x{lone}y"}}'),
        ("POST", "/projects", f'{{"name": "P", "model": "{lone}"}}'),
        ("POST", "/projects", f'{{"name": "{lone}{"x" * 200}"}}'),  # invalid twice: still a 400
        ("PATCH", f"/projects/{ids['project']}", f'{{"name": "a{lone}"}}'),
        ("POST", "/prompts", f'{{"name": "N", "text": "{lone}"}}'),
        ("POST", "/prompts", f'{{"name": "{lone}", "text": "T"}}'),
        ("POST", "/prompts", f'{{"name": "N", "text": "T", "tags": ["ok", "{lone}"]}}'),
        ("PATCH", f"/prompts/{ids['prompt']}", '{"text": "\\udfff"}'),
        ("PATCH", f"/conversations/{ids['conversation']}", f'{{"title": "{lone}"}}'),
        ("POST", "/prompts", f'{{"name": "N", "text": "T", "tags": "{lone}"}}'),  # echoed by a 422
    ]
    for method, path, body in cases:
        response = await client.request(
            method, API + path, content=body.encode(), headers={**alice, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, (method, path, body, response.text)
        assert response.json() == {"detail": NOT_UNICODE}
    assert len(publisher.published) == published
    # A surrogate pair (an emoji) is valid Unicode and is kept.
    pair = b'{"name": "\\ud83d\\ude00"}'
    emoji = await client.post(
        f"{API}/projects", content=pair, headers={**alice, "Content-Type": "application/json"}
    )
    assert (emoji.status_code, emoji.json()["name"]) == (201, "\U0001f600")


async def test_a_search_text_cannot_carry_a_surrogate(
    client: httpx.AsyncClient, history: History, issuer: TestIssuer
) -> None:
    """A query string is UTF-8 bytes: the encoded surrogate (ED A0 80) is not UTF-8 and reads as
    replacement characters, which are searched for like any text."""
    alice = auth(issuer, "alice")
    await _seeded(history, client, alice)
    for path in ("/conversations?q=%ED%A0%80", "/prompts?q=%ED%A0%80", "/prompts?tag=%ED%A0%80"):
        response = await client.get(API + path, headers=alice)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["items"] == []
