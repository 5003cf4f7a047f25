"""Strangers at the public origin: the real gateway in front of the real auth and
history services (a worker and the fake provider behind it), and every route it
serves, called by people who must not get anything.

The routes are not a hand-kept list: they are read from the auth and history
services' own OpenAPI documents (fetched from the services, only to enumerate
them) and from the gateway app's route table, and each one must be classified
here as protected or public. A new route that is neither fails the test, so it
gets covered when it is added; a route classified as protected must say so in
its document (`security`) too.

- Strangers (no credentials; a garbage bearer; an access token that claims to be
  Alice, an admin, signed by a key that is not auth's; a made-up refresh cookie)
  call every operation with Alice's real ids in its path and query: every
  protected one answers 401 (`/ws` refuses the hello and closes 4401), every
  public one answers without a token, a refresh cookie or anyone's data.
- Bob, a plain user with a valid token and API key, calls every operation aimed
  at Alice's things: each answer is a refusal or Bob's own data, never Alice's
  (a unique secret planted in all of her data never appears), and afterwards
  Alice reads all of it back unchanged and her session still refreshes. A spent
  refresh cookie of hers is refused for anyone; a refresh with Bob's bearer and
  no cookie is refused; a hello naming her socket session is refused.
- Many users at once, with strangers among them: logins, refresh rotations with
  each one's own cookie, `/me`, API keys, a chat and their conversation list;
  every answer carries the caller's own identity, strangers get only refusals.

test_cross_user.py holds the hand-written table of Bob's attempts (with exact
answers for each field of each route); this module is the generated inventory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import pytest_asyncio
import websockets

from parley_contracts.owned_ids import owns
from parley_gateway import Settings, create_app
from parley_gateway.adapters.http import stateless_client
from parley_testkit import FakeProvider, TestIssuer
from parley_testkit.routes import flatten

from .stack import (
    AUTH_AUDIENCE,
    AUTH_ISSUER,
    MODEL,
    REFRESH_COOKIE,
    Client,
    Gateway,
    Stack,
    jwt_claims,
    platform,
    refresh_cookie,
)
from .test_accounts import ADMIN_EMAIL, PASSWORD, Account, register_and_login
from .test_cross_user import Alice, Bob, _admin_registered, _alices_view, _bearer, _chat, _until_stored

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = f"alice-secret-{uuid.uuid4().hex[:8]}"
"""In all of Alice's data (her email, name, chat, project, prompt, tag, API key name)."""
USERS = 12
ROTATIONS = 3

Access = Literal["public", "protected"]
PUBLIC: Access = "public"
PROTECTED: Access = "protected"
Operation = tuple[str, str]
"""(method, path) as the OpenAPI document names it; the WebSocket's method is `WS`."""


@dataclass
class People:
    alice: Alice
    bob: Bob
    alice_email: str
    alice_cookie: str
    """Her first session's refresh cookie (rotated by the tests: always the current one)."""
    alice_spare_cookie: str
    """A second session of hers, to be spent."""
    bob_email: str
    bob_key: str
    provider_id: str
    model_id: str
    auth_kid: str
    documents: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    """How an operation treats strangers and Bob.

    `bob`: the statuses Bob may get, calling it with Alice's ids (2xx only where the answer
    is his own data). `stranger`: for a public operation, the status a stranger gets.
    `body`: what both send; `stranger_body` when a stranger sends something else."""

    access: Access
    bob: tuple[int, ...]
    stranger: int = 401
    body: Callable[[People], Any] | None = None
    stranger_body: Callable[[People], Any] | None = None


def _public(bob: int, stranger: int, body: Callable[[People], Any] | None = None) -> Rule:
    return Rule(PUBLIC, (bob,), stranger, body)


def _protected(*bob: int, body: Callable[[People], Any] | None = None) -> Rule:
    return Rule(PROTECTED, bob, body=body)


# Every operation of the auth and history services' OpenAPI documents. Their ops routes
# (`/healthz`, `/readyz`, `/metrics`) are not at the public origin: the gateway answers 404 (its
# own are on its operations port, for probes and Prometheus only).
LOGOUT = ("POST", "/api/auth/logout")
RULES: dict[Operation, Rule] = {
    # Public: each answers strangers with a refusal or public data (never a token or a cookie).
    ("POST", "/api/auth/register"): _public(
        409, 409, lambda p: {"email": p.alice_email, "display_name": "Not Alice", "password": PASSWORD}
    ),
    ("POST", "/api/auth/login"): _public(
        401, 401, lambda p: {"email": p.alice_email, "password": "not her password"}
    ),
    ("POST", "/api/auth/refresh"): _public(401, 401),
    # Bob's bearer names his own session: that one ends (his access token lives on until it expires).
    LOGOUT: _public(204, 401),
    ("GET", "/api/auth/jwks.json"): _public(200, 200),
    ("POST", "/api/auth/token"): Rule(
        PUBLIC,
        (200,),
        401,
        body=lambda p: {"api_key": p.bob_key},
        stranger_body=lambda p: {"api_key": "pk_" + "A" * 43},
    ),
    ("GET", "/healthz"): _public(404, 404),
    ("GET", "/readyz"): _public(404, 404),
    ("GET", "/metrics"): _public(404, 404),
    # Protected: 401 for strangers. Bob: 200 on his own data, else refused.
    ("GET", "/api/auth/me"): _protected(200),
    ("PATCH", "/api/auth/me"): _protected(200, body=lambda p: {"display_name": "Bob again"}),
    ("POST", "/api/auth/me/password"): _protected(
        401,
        body=lambda p: {"current_password": "not the password", "new_password": "a new horse battery staple"},
    ),
    ("GET", "/api/auth/me/usage"): _protected(200),
    ("GET", "/api/auth/keys"): _protected(200),
    ("POST", "/api/auth/keys"): _protected(201, body=lambda p: {"name": "bob-spare"}),
    ("DELETE", "/api/auth/keys/{key_id}"): _protected(404),
    ("GET", "/api/auth/users"): _protected(403),
    ("PATCH", "/api/auth/users/{user_id}"): _protected(
        403, body=lambda p: {"disabled": True, "role": "user"}
    ),
    ("GET", "/api/auth/usage"): _protected(403),
    ("GET", "/api/auth/catalog"): _protected(403),
    ("POST", "/api/auth/catalog/providers"): _protected(
        403, body=lambda p: {"name": "bobs", "base_url": "http://127.0.0.1:9/v1"}
    ),
    ("PATCH", "/api/auth/catalog/providers/{provider_id}"): _protected(
        403, body=lambda p: {"base_url": "http://127.0.0.1:9/v1"}
    ),
    ("DELETE", "/api/auth/catalog/providers/{provider_id}"): _protected(403),
    ("POST", "/api/auth/catalog/models"): _protected(
        403, body=lambda p: {"name": "bobs-model", "provider_id": p.provider_id, "upstream": "x"}
    ),
    ("PATCH", "/api/auth/catalog/models/{model_id}"): _protected(403, body=lambda p: {"enabled": False}),
    ("DELETE", "/api/auth/catalog/models/{model_id}"): _protected(403),
    ("GET", "/api/history/conversations"): _protected(404),  # filtered by her project
    ("GET", "/api/history/conversations/{conversation_id}"): _protected(404),
    ("PATCH", "/api/history/conversations/{conversation_id}"): _protected(
        404, body=lambda p: {"title": "mine now", "pinned": True, "project_id": p.bob.project_id}
    ),
    ("DELETE", "/api/history/conversations/{conversation_id}"): _protected(404),
    ("GET", "/api/history/conversations/{conversation_id}/export"): _protected(404),
    ("GET", "/api/history/audit/events"): _protected(403),
    ("GET", "/api/history/projects"): _protected(200),
    ("POST", "/api/history/projects"): _protected(201, body=lambda p: {"name": "Bob's second"}),
    ("GET", "/api/history/projects/{project_id}"): _protected(404),
    ("PATCH", "/api/history/projects/{project_id}"): _protected(404, body=lambda p: {"name": "mine now"}),
    ("DELETE", "/api/history/projects/{project_id}"): _protected(404),
    ("GET", "/api/history/projects/{project_id}/conversations"): _protected(404),
    ("GET", "/api/history/prompts"): _protected(200),  # searched for her secret: nothing found
    ("POST", "/api/history/prompts"): _protected(201, body=lambda p: {"name": "Bob's", "text": "his own"}),
    ("GET", "/api/history/prompts/tags"): _protected(200),
    ("GET", "/api/history/prompts/{prompt_id}"): _protected(404),
    ("PATCH", "/api/history/prompts/{prompt_id}"): _protected(
        404, body=lambda p: {"text": "mine now", "shared": True}
    ),
    ("DELETE", "/api/history/prompts/{prompt_id}"): _protected(404),
}

PATH_IDS: dict[str, Callable[[People], str]] = {
    "conversation_id": lambda p: p.alice.conversation_id,
    "project_id": lambda p: p.alice.project_id,
    "prompt_id": lambda p: p.alice.prompt_id,
    "key_id": lambda p: p.alice.api_key_id,
    "user_id": lambda p: p.alice.id,
    # The catalogue belongs to no user: its real entries (admins only).
    "provider_id": lambda p: p.provider_id,
    "model_id": lambda p: p.model_id,
}
QUERY_VALUES: dict[str, Callable[[People], str]] = {
    **{name: PATH_IDS[name] for name in ("conversation_id", "project_id", "user_id")},
    "q": lambda p: SECRET,
    "tag": lambda p: SECRET,
    "scope": lambda p: "all",
    "format": lambda p: "json",
}
"""Query parameters filled in (the others, such as `limit` or `cursor`, are left out)."""

# The gateway's own routes (its app's route table, `/ws` included).
COMPLETION = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
PROXIED = {"/api/auth/{path:path}": "auth", "/api/history/{path:path}": "history"}
GATEWAY_RULES: dict[Operation, Access] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/api/models"): PUBLIC,
    ("GET", "/api/stats"): PROTECTED,
    ("GET", "/v1/models"): PROTECTED,
    ("POST", "/v1/chat/completions"): PROTECTED,
    ("WS", "/ws"): PROTECTED,
}


@pytest.fixture(scope="module")
def strangers_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    """Auth and history on their own databases, a worker, and a gateway routing to both."""
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    auth_env = {
        "PARLEY_ADMIN_EMAIL": ADMIN_EMAIL,
        # The refresh cookie without `Secure`, as `make dev` serves it: any client or proxy on
        # plain http keeps and resends it (a `Secure` one it would not resend over http), the
        # harshest case for a session that leaks through the gateway.
        "PARLEY_AUTH_DEV": "1",
        "PARLEY_AUTH_COOKIE_SECURE": "0",
        # Throttling is not what this module tests: the strangers' failed logins (all from
        # 127.0.0.1, all aimed at Alice) must not lock her, or everybody, out.
        "PARLEY_AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT": "100",
        "PARLEY_AUTH_LOGIN_MAX_FAILURES_PER_IP": "1000",
    }
    # No title requests: Alice's conversation must not change on its own meanwhile.
    history_env = {"PARLEY_HISTORY_TITLE_REQUESTS": "false"}
    with platform("strangers", stack, auth_env=auth_env, history_env=history_env):
        yield stack


def _client(gateway: Gateway, *, timeout: float = 10) -> httpx.AsyncClient:
    """A client of the gateway that keeps no cookie (the gateway's own kind): a request carries
    exactly the cookie the test puts in its headers (the cookie is not `Secure` here, so a jar
    would resend it)."""
    client = stateless_client(timeout=httpx.Timeout(timeout))
    client.base_url = httpx.URL(gateway.http)
    return client


async def _session_token(http: httpx.AsyncClient, email: str) -> str:
    """The access token of a new session of `email`'s."""
    return str((await _login(http, email)).json()["access_token"])


async def _login(http: httpx.AsyncClient, email: str) -> httpx.Response:
    response = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def people(strangers_stack: Stack) -> AsyncIterator[People]:
    """Alice, with the secret in everything of hers, and Bob, each with a chat, a project and
    an API key (Alice: a private and a shared saved prompt too); and the documents."""
    stack = strangers_stack
    assert stack.auth is not None
    assert stack.history is not None
    gateway = stack.gateways[0]
    await _admin_registered(gateway)  # the first account is an admin: neither Alice nor Bob
    alice_email = f"{SECRET}@e2e.parley.dev"
    alice_account = await register_and_login(gateway, alice_email)
    bob_account = await register_and_login(gateway)
    alice_socket, accepted = await _chat(gateway, alice_account.access_token, f"Hello, I am {SECRET}")
    await alice_socket.close()
    bob_socket, bob_accepted = await _chat(gateway, bob_account.access_token, "Hello from Bob")
    await bob_socket.close()
    async with _client(gateway) as http:
        as_alice, as_bob = _bearer(alice_account.access_token), _bearer(bob_account.access_token)
        named = await http.patch("/api/auth/me", json={"display_name": SECRET}, headers=as_alice)
        assert named.status_code == 200, named.text
        project = await http.post(
            "/api/history/projects", json={"name": SECRET, "system_prompt": SECRET}, headers=as_alice
        )
        assert project.status_code == 201, project.text
        saved = await http.post(
            "/api/history/prompts", json={"name": SECRET, "text": SECRET, "tags": [SECRET]}, headers=as_alice
        )
        assert saved.status_code == 201, saved.text
        shared = await http.post(
            "/api/history/prompts",
            json={"name": "Shared", "text": "for all", "shared": True},
            headers=as_alice,
        )
        assert shared.status_code == 201, shared.text
        key = await http.post("/api/auth/keys", json={"name": SECRET}, headers=as_alice)
        assert key.status_code == 201, key.text
        spare = refresh_cookie(await _login(http, alice_email))
        assert spare is not None
        bob_project = await http.post("/api/history/projects", json={"name": "Bob's"}, headers=as_bob)
        assert bob_project.status_code == 201, bob_project.text
        bob_key = await http.post("/api/auth/keys", json={"name": "bob-key"}, headers=as_bob)
        assert bob_key.status_code == 201, bob_key.text
        admin = (await _login(http, ADMIN_EMAIL)).json()["access_token"]
        catalog = await http.get("/api/auth/catalog", headers=_bearer(admin))
        assert catalog.status_code == 200, catalog.text
        jwks = await http.get("/api/auth/jwks.json")
        await _until_stored(http, alice_account.access_token, accepted["conversation_id"])
        await _until_stored(http, bob_account.access_token, bob_accepted["conversation_id"])
    async with httpx.AsyncClient(timeout=10) as direct:
        documents = {
            "auth": (await direct.get(f"{stack.auth.http}/openapi.json")).json(),
            "history": (await direct.get(f"{stack.history.http}/openapi.json")).json(),
        }
    providers, models = catalog.json()["providers"], catalog.json()["models"]
    yield People(
        alice=Alice(
            id=alice_account.id,
            token=alice_account.access_token,
            api_key=key.json()["key"],
            api_key_id=key.json()["id"],
            session_id=str(alice_socket.session_id),
            conversation_id=accepted["conversation_id"],
            prompt_message_id=accepted["prompt_message_id"],
            answer_id=accepted["message_id"],
            project_id=project.json()["id"],
            prompt_id=saved.json()["id"],
            shared_prompt_id=shared.json()["id"],
        ),
        bob=Bob(
            bob_account.id,
            bob_account.access_token,
            bob_accepted["conversation_id"],
            bob_project.json()["id"],
        ),
        alice_email=alice_email,
        alice_cookie=alice_account.refresh_cookie,
        alice_spare_cookie=spare,
        bob_email=bob_account.email,
        bob_key=bob_key.json()["key"],
        provider_id=str(providers[0]["id"]) if providers else str(uuid.uuid4()),
        model_id=str(models[0]["id"]) if models else str(uuid.uuid4()),
        auth_kid=jwks.json()["keys"][0]["kid"],
        documents=documents,
    )


def _operations(documents: dict[str, dict[str, Any]]) -> dict[Operation, dict[str, Any]]:
    """Every operation of the services' documents (method, path) -> its OpenAPI object."""
    found: dict[Operation, dict[str, Any]] = {}
    for document in documents.values():
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}:
                    found[(method.upper(), path)] = operation
    return found


def _gateway_routes() -> set[Operation]:
    """The gateway app's routes, as it builds them (HEAD of a GET route left out)."""
    app = create_app(Settings(jwks_url="http://127.0.0.1:9/jwks.json"))
    found: set[Operation] = set()
    for route in flatten(app.routes):
        path = str(getattr(route, "path", ""))
        methods: set[str] = getattr(route, "methods", None) or {"WS"}
        if path in PROXIED:
            continue
        found |= {(method, path) for method in methods if not (method == "HEAD" and "GET" in methods)}
    return found


async def test_every_route_is_classified(people: People) -> None:
    documented = _operations(people.documents)
    unclassified = sorted(set(documented) - set(RULES))
    assert not unclassified, f"new operations: classify each in RULES (public or protected): {unclassified}"
    gone = sorted(set(RULES) - set(documented))
    assert not gone, f"operations in RULES that no document has any more: {gone}"
    for operation, rule in RULES.items():
        declared = PROTECTED if documented[operation].get("security") else PUBLIC
        assert declared == rule.access, (operation, f"the document says {declared}")
    routes = _gateway_routes()
    assert routes == set(GATEWAY_RULES), (
        f"classify the gateway's routes in GATEWAY_RULES: new {sorted(routes - set(GATEWAY_RULES))}, "
        f"gone {sorted(set(GATEWAY_RULES) - routes)}"
    )


def _url(operation: Operation, spec: dict[str, Any], people: People) -> str:
    """The path with Alice's ids in it, and the query parameters that name hers."""
    _, path = operation
    query: dict[str, str] = {}
    for parameter in spec.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where == "path":
            assert name in PATH_IDS, f"{operation}: which id goes in `{name}`? (add it to PATH_IDS)"
            path = path.replace(f"{{{name}}}", PATH_IDS[name](people))
        elif where == "query" and name in QUERY_VALUES:
            query[name] = QUERY_VALUES[name](people)
        else:
            assert not parameter.get("required"), f"{operation}: fill the required `{name}`"
    return str(httpx.URL(path, params=query))


async def _call(
    http: httpx.AsyncClient, operation: Operation, people: People, headers: dict[str, str], body: Any
) -> httpx.Response:
    url = _url(operation, _operations(people.documents)[operation], people)
    return await http.request(operation[0], url, json=body, headers=headers)


def _alices(people: People) -> list[str]:
    """What identifies Alice or her private things (the secret is in every text of hers)."""
    alice = people.alice
    return [
        SECRET,
        people.alice_email,
        alice.id,
        alice.conversation_id,
        alice.project_id,
        alice.prompt_id,
        alice.api_key_id,
        alice.api_key,
        alice.token,
        people.alice_cookie,
    ]


def _assert_gives_nothing(what: object, response: httpx.Response, people: People) -> None:
    """No token, no refresh cookie, nothing of Alice's (a refusal may name an id it was sent)."""
    assert "access_token" not in response.text, (what, response.text)
    assert refresh_cookie(response) is None, (what, response.headers.get_list("set-cookie"))
    leaked = [s for s in (SECRET, people.alice_email, people.alice.api_key) if s in response.text]
    assert not leaked, (what, response.status_code, response.text)
    if response.is_success:
        assert not [s for s in _alices(people) if s in response.text], (what, response.text)


def _strangers(people: People) -> dict[str, dict[str, str]]:
    """Callers without a credential of anyone's."""
    forged = TestIssuer(issuer=AUTH_ISSUER, audience=AUTH_AUDIENCE, kid=people.auth_kid).token(
        people.alice.id, role="admin", extra={"sid": str(uuid.uuid4())}
    )
    return {
        "no credentials": {},
        "a garbage bearer": {"Authorization": "Bearer not-a-token"},
        "Alice as an admin, forged": {"Authorization": f"Bearer {forged}"},
        "a made-up refresh cookie": {"Cookie": f"{REFRESH_COOKIE}=made-up-{uuid.uuid4().hex}"},
    }


async def _hello_refused(
    gateway: Gateway, token: str, session_id: str | None
) -> tuple[list[Any], int | None]:
    """The frames a socket gets for a hello, until the gateway closes it; and the close code."""
    frames = []
    async with websockets.connect(gateway.ws) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "session_id": session_id}))
        with contextlib.suppress(websockets.ConnectionClosed):  # until the gateway closes it
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return frames, ws.close_code


async def test_strangers_are_refused_every_protected_route_and_get_nothing_from_public_ones(
    strangers_stack: Stack, people: People
) -> None:
    gateway = strangers_stack.gateways[0]
    strangers = _strangers(people)
    tried: list[tuple[str, Operation, int]] = []
    async with _client(gateway) as http:
        before = await _alices_view(http, people.alice)
        for who, headers in strangers.items():
            for operation, rule in RULES.items():
                make_body = rule.stranger_body or rule.body
                response = await _call(http, operation, people, headers, make_body and make_body(people))
                tried.append((who, operation, response.status_code))
                expected = 401 if rule.access == PROTECTED else rule.stranger
                assert response.status_code == expected, (who, operation, response.text)
                _assert_gives_nothing((who, operation), response, people)
            # The gateway's own routes (the socket's below): protected ones 401, public ones 200.
            for (method, path), access in GATEWAY_RULES.items():
                if method == "WS":
                    continue
                body = COMPLETION if path == "/v1/chat/completions" else None
                response = await http.request(method, path, json=body, headers=headers)
                expected = 401 if access == PROTECTED else 200
                assert response.status_code == expected, (who, path, response.text)
                _assert_gives_nothing((who, path), response, people)
        assert [t for t in tried if t[2] == 200] == [
            (who, ("GET", "/api/auth/jwks.json"), 200) for who in strangers
        ]
        jwks = (await http.get("/api/auth/jwks.json")).json()
        assert all("d" not in key for key in jwks["keys"]), jwks  # public keys only

        # The socket: frames before a hello are refused, a hello without a valid token closes 4401,
        # whatever session it names.
        async with websockets.connect(gateway.ws) as ws:
            prompt = {
                "type": "prompt",
                "request_id": "x",
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
            }
            await ws.send(json.dumps(prompt))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (refused["type"], refused["code"]) == ("error", "not_authenticated"), refused
            await ws.send(json.dumps({"type": "hello", "token": "", "session_id": people.alice.session_id}))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (refused["type"], refused["code"]) == ("error", "invalid_frame"), refused
        for who, headers in strangers.items():
            token = headers.get("Authorization", "Bearer x").removeprefix("Bearer ")
            for session_id in (people.alice.session_id, None):
                frames, code = await _hello_refused(gateway, token, session_id)
                assert code == 4401, (who, frames)
                assert [f["type"] for f in frames] == ["error"], (who, frames)
                assert SECRET not in json.dumps(frames)
        after = await _alices_view(http, people.alice)
    assert after == before
    assert len(tried) == len(RULES) * len(strangers)


def _assert_bobs_own(operation: Operation, response: httpx.Response, people: People) -> None:
    """A 2xx answer to Bob is about Bob: tokens are his, `/me` is his."""
    json_answer = response.headers.get("content-type", "").startswith("application/json")
    body = response.json() if json_answer else None
    if isinstance(body, dict) and "access_token" in body:
        assert jwt_claims(body["access_token"])["sub"] == people.bob.id, operation
    if operation[1] == "/api/auth/me":
        assert body is not None
        assert (body["id"], body["email"]) == (people.bob.id, people.bob_email), body


async def test_bob_gets_nothing_of_alices_from_any_route_and_changes_nothing(
    strangers_stack: Stack, people: People
) -> None:
    gateway = strangers_stack.gateways[0]
    bob = people.bob
    as_bob = _bearer(bob.token)
    async with _client(gateway) as http:
        before = await _alices_view(http, people.alice)
        for operation, rule in RULES.items():
            # Signing out ends the session it names at once: Bob signs out a session of his own.
            headers = as_bob if operation != LOGOUT else _bearer(await _session_token(http, people.bob_email))
            response = await _call(http, operation, people, headers, rule.body and rule.body(people))
            assert response.status_code in rule.bob, (operation, response.status_code, response.text)
            leaked = [s for s in (SECRET, people.alice_email) if s in response.text]
            assert not leaked, (operation, response.text)
            if response.is_success:
                assert not [s for s in _alices(people) if s in response.text], (operation, response.text)
                _assert_bobs_own(operation, response, people)
            else:
                assert "access_token" not in response.text, (operation, response.text)
                assert refresh_cookie(response) is None, operation

        # The gateway's own routes, with his token and his API key.
        stats = await http.get("/api/stats", headers=as_bob)
        assert stats.status_code == 403, stats.text
        models = await http.get("/v1/models", headers=_bearer(people.bob_key))
        assert models.status_code == 200, models.text
        assert SECRET not in models.text
        completion = await http.post("/v1/chat/completions", json=COMPLETION, headers=_bearer(people.bob_key))
        assert completion.status_code == 200, completion.text
        assert owns(uuid.UUID(completion.headers["x-parley-conversation-id"]), bob.id)
        assert SECRET not in completion.text

        # A refresh with his bearer and no cookie is refused, never a token.
        refreshed = await http.post("/api/auth/refresh", headers=as_bob)
        assert refreshed.status_code == 401, refreshed.text
        _assert_gives_nothing("refresh with Bob's bearer", refreshed, people)
        # Her spent refresh cookie, for anyone: she rotates her spare session's cookie, then
        # the spent one comes back (revoking that whole session, as a reuse does).
        spent = {"Cookie": f"{REFRESH_COOKIE}={people.alice_spare_cookie}"}
        rotated = await http.post("/api/auth/refresh", headers=spent)
        assert rotated.status_code == 200, rotated.text
        assert jwt_claims(rotated.json()["access_token"])["sub"] == people.alice.id
        for who, headers in {"a stranger": spent, "Bob": {**spent, **as_bob}}.items():
            response = await http.post("/api/auth/refresh", headers=headers)
            assert response.status_code == 401, (who, response.text)
            _assert_gives_nothing(f"{who} with her spent cookie", response, people)

        # A hello naming her socket session is refused, the socket closed 4403.
        frames, code = await _hello_refused(gateway, bob.token, people.alice.session_id)
        assert [(f["type"], f["code"]) for f in frames] == [("error", "session_forbidden")], frames
        assert code == 4403

        after = await _alices_view(http, people.alice)
        # Her first session lives on: its cookie still refreshes (and is rotated for later tests).
        mine = await http.post(
            "/api/auth/refresh", headers={"Cookie": f"{REFRESH_COOKIE}={people.alice_cookie}"}
        )
        assert mine.status_code == 200, mine.text
        assert jwt_claims(mine.json()["access_token"])["sub"] == people.alice.id
        new_cookie = refresh_cookie(mine)
        assert new_cookie is not None
        people.alice_cookie = new_cookie
    assert after == before
    assert SECRET in after[f"/api/history/conversations/{people.alice.conversation_id}"]


@dataclass(frozen=True)
class Visit:
    """What one user saw of itself."""

    user: Account
    conversation_id: str


async def _visit(gateway: Gateway, user: Account, n: int) -> Visit:
    """Log in, rotate the refresh cookie a few times, read `/me`, make and use an API key, chat
    once and list the conversations: every answer must be this user's."""
    async with _client(gateway, timeout=30) as http:
        login = await _login(http, user.email)
        claims = jwt_claims(login.json()["access_token"])
        assert claims["sub"] == user.id, claims
        cookie = refresh_cookie(login)
        for _ in range(ROTATIONS):
            refreshed = await http.post("/api/auth/refresh", headers={"Cookie": f"{REFRESH_COOKIE}={cookie}"})
            assert refreshed.status_code == 200, refreshed.text
            rotated = jwt_claims(refreshed.json()["access_token"])
            assert (rotated["sub"], rotated["sid"]) == (user.id, claims["sid"]), (user.id, rotated)
            new_cookie = refresh_cookie(refreshed)
            assert new_cookie not in (None, cookie)
            cookie = new_cookie
        token = refreshed.json()["access_token"]
        me = await http.get("/api/auth/me", headers=_bearer(token))
        assert (me.json()["id"], me.json()["email"]) == (user.id, user.email), me.text
        key = await http.post("/api/auth/keys", json={"name": f"load-{n}"}, headers=_bearer(token))
        assert key.status_code == 201, key.text
        exchanged = await http.post("/api/auth/token", json={"api_key": key.json()["key"]})
        assert exchanged.status_code == 200, exchanged.text
        assert jwt_claims(exchanged.json()["access_token"])["sub"] == user.id
        models = await http.get("/v1/models", headers=_bearer(key.json()["key"]))
        assert models.status_code == 200, models.text
        client = await Client.connect(gateway, token)
        try:
            assert owns(uuid.UUID(str(client.session_id)), user.id)
            accepted = await client.prompt(f"Hello from user {n}", max_tokens=16)
            assert accepted["type"] == "accepted", accepted
            assert owns(uuid.UUID(accepted["conversation_id"]), user.id)
            assert (await client.until(accepted["message_id"]))[-1]["type"] == "done"
        finally:
            await client.close()
        stored = await _until_stored(http, token, accepted["conversation_id"])
        assert stored["id"] == accepted["conversation_id"]
        listed = await http.get("/api/history/conversations", headers=_bearer(token))
        assert [c["id"] for c in listed.json()["items"]] == [accepted["conversation_id"]], listed.text
    return Visit(user, accepted["conversation_id"])


async def _stranger(gateway: Gateway, done: asyncio.Event) -> int:
    """Anonymous calls while the users come and go, until they are done: how many."""
    calls = 0
    anonymous = [
        ("POST", "/api/auth/refresh"),
        ("POST", "/api/auth/logout"),
        ("GET", "/api/auth/me"),
        ("GET", "/api/auth/keys"),
        ("GET", "/api/history/conversations"),
        ("GET", "/v1/models"),
        ("GET", "/api/stats"),
    ]
    async with _client(gateway, timeout=30) as http:
        while True:
            for method, path in anonymous:
                response = await http.request(method, path)
                assert response.status_code == 401, (method, path, response.text)
                assert "access_token" not in response.text, (method, path, response.text)
                assert refresh_cookie(response) is None, (method, path)
                calls += 1
            frames, code = await _hello_refused(gateway, "not-a-token", None)
            assert code == 4401, frames
            calls += 1
            if done.is_set():
                return calls


async def test_many_users_at_once_each_get_only_their_own_and_strangers_nothing(
    strangers_stack: Stack, people: People
) -> None:
    gateway = strangers_stack.gateways[0]
    users = await asyncio.gather(*(register_and_login(gateway) for _ in range(USERS)))
    done = asyncio.Event()
    strangers = [asyncio.create_task(_stranger(gateway, done)) for _ in range(3)]
    try:
        visits = await asyncio.gather(*(_visit(gateway, user, n) for n, user in enumerate(users)))
    finally:
        done.set()
        calls = await asyncio.gather(*strangers)
    assert len({v.conversation_id for v in visits}) == USERS
    assert all(c > 0 for c in calls)
    # Alice, meanwhile, saw nobody else's conversation.
    async with _client(gateway) as http:
        mine = await http.get("/api/history/conversations", headers=_bearer(people.alice.token))
    assert [c["id"] for c in mine.json()["items"]] == [people.alice.conversation_id], mine.text
