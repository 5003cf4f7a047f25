"""Security, second round, as an outsider meets it through the gateway: who becomes admin,
what an ended session or a new password takes away, whose address a throttle counts, what a
flood of registrations or resumes costs, and look-alike addresses.

The gateway trusts 127.0.0.1 as its proxy here, as it trusts the Ingress controller in a
cluster: each test client names its own address in `X-Forwarded-For` (addresses of the
documentation range, never contacted)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import httpx
import pytest
import websockets

from parley_contracts.topology import session_queue
from parley_gateway.domain.sessions import new_owned_id
from parley_platform.rabbit import queue_exists
from parley_testkit import FakeProvider, TestIssuer

from .stack import BOOTSTRAP_TOKEN, Client, Frame, Gateway, Stack, jwt_claims, platform, refresh_cookie
from .test_accounts import PASSWORD

FRESH_SIGN_IN_S = 2.0
REGISTRATIONS_PER_ADDRESS = 20
_addresses = (
    f"203.0.113.{i % 250 + 1}" if i < 250 else f"198.51.100.{i % 250 + 1}" for i in itertools.count()
)


def next_address() -> str:
    return next(_addresses)


@pytest.fixture(scope="module")
def secure_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    auth_env = {
        "PARLEY_AUTH_KEY_FRESH_SIGN_IN_S": str(FRESH_SIGN_IN_S),
        "PARLEY_AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3",
        "PARLEY_AUTH_KEY_MAX_FAILURES_PER_IP": "5",
        "PARLEY_AUTH_REGISTER_MAX_PER_IP": str(REGISTRATIONS_PER_ADDRESS),
        # Real hashing cost, one at a time: a burst of registrations must queue, then be refused.
        "PARLEY_AUTH_ARGON2_TIME_COST": "3",
        "PARLEY_AUTH_ARGON2_MEMORY_KIB": "65536",
        "PARLEY_AUTH_HASH_CONCURRENCY": "1",
        "PARLEY_AUTH_HASH_QUEUE_MAX": "4",
    }
    gateway_env = {"PARLEY_GATEWAY_TRUSTED_PROXIES": "127.0.0.1", "PARLEY_GATEWAY_API_KEY_CACHE_S": "60"}
    with platform("secure", stack, auth_env=auth_env, gateway_env=gateway_env):
        yield stack


@dataclass
class Person:
    email: str
    address: str
    token: str
    cookie: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def register(http: httpx.AsyncClient, email: str | None = None, **extra: str) -> httpx.Response:
    email = email or f"p-{uuid.uuid4().hex[:10]}@e2e.parley.dev"
    body = {"email": email, "display_name": "P", "password": PASSWORD, **extra}
    return await http.post("/api/auth/register", json=body, headers=_from(next_address()))


async def sign_in(http: httpx.AsyncClient, email: str, address: str | None = None) -> Person:
    address = address or next_address()
    response = await http.post(
        "/api/auth/login", json={"email": email, "password": PASSWORD}, headers=_from(address)
    )
    assert response.status_code == 200, response.text
    cookie = refresh_cookie(response)
    assert cookie is not None
    return Person(email, address, response.json()["access_token"], cookie)


async def new_person(http: httpx.AsyncClient) -> Person:
    registered = await register(http)
    assert registered.status_code == 201, registered.text
    return await sign_in(http, registered.json()["email"])


@contextlib.asynccontextmanager
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.http, timeout=20) as http:
        yield http


async def eventually(check: Callable[[], Awaitable[bool]], *, within_s: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        if await check():
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)


async def answers_everywhere(http: httpx.AsyncClient, token: str) -> set[int]:
    """The statuses `token` gets from auth, history and `/v1`, through the gateway."""
    headers = {"Authorization": f"Bearer {token}"}
    paths = ("/api/auth/me", "/api/history/conversations", "/v1/models")
    return {(await http.get(path, headers=headers)).status_code for path in paths}


async def refused_everywhere(http: httpx.AsyncClient, token: str) -> bool:
    return await answers_everywhere(http, token) == {401}


async def accepted_everywhere(http: httpx.AsyncClient, token: str) -> bool:
    return await answers_everywhere(http, token) == {200}


async def closed_with(socket: Client) -> int | None:
    """The close code the gateway ends `socket` with (frames before it are skipped)."""
    try:
        while True:
            await socket.recv(timeout=5)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


# 1. Admin bootstrap.


async def test_whoever_registers_first_is_no_admin_and_the_bootstrap_makes_one(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> None:
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    operator = "operator@e2e.parley.dev"
    auth_env = {"PARLEY_ADMIN_EMAIL": operator}
    with platform("bootstrap", stack, history=False, worker=False, auth_env=auth_env):
        async with client(stack.gateways[0]) as http:
            first = await register(http)
            assert first.status_code == 201
            assert first.json()["role"] == "user"  # being first proves nothing
            stranger = await register(http, operator)  # nor registering the admin's address
            assert stranger.status_code == 201
            assert stranger.json()["role"] == "user"
            token = (await sign_in(http, operator)).bearer
            assert (await http.get("/api/auth/users", headers=token)).status_code == 403
            wrong = await register(http, bootstrap_token="not-the-token-at-all-00000")
            assert wrong.status_code == 403, wrong.text
            elsewhere = await register(http, bootstrap_token=BOOTSTRAP_TOKEN)  # not the named address
            assert elsewhere.status_code == 403, elsewhere.text


async def test_simultaneous_bootstraps_make_one_admin(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> None:
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    with platform("bootstraps", stack, history=False, worker=False):
        async with client(stack.gateways[0]) as http:
            answers = await asyncio.gather(
                *(register(http, bootstrap_token=BOOTSTRAP_TOKEN) for _ in range(8))
            )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201] + [403] * 7, [a.text for a in answers]


# 2. Ended sessions and a new password.


async def test_signing_out_ends_the_session_everywhere_at_once(secure_stack: Stack) -> None:
    gateway = secure_stack.gateways[0]
    async with client(gateway) as http:
        person = await new_person(http)
        other = await sign_in(http, person.email)  # the same person in another browser
        socket = await Client.connect(gateway, person.token)
        assert await accepted_everywhere(http, person.token)
        out = await http.post("/api/auth/logout", headers=person.bearer)
        assert out.status_code == 204, out.text
        assert await eventually(lambda: refused_everywhere(http, person.token))
        assert await closed_with(socket) == 4401
        assert await accepted_everywhere(http, other.token)  # the other session goes on
        keyed = await http.post(
            "/api/auth/keys", json={"name": "k", "password": PASSWORD}, headers=person.bearer
        )
        assert keyed.status_code == 401  # no key from an ended session's token


async def test_a_new_password_cuts_older_tokens_and_keys(secure_stack: Stack) -> None:
    gateway = secure_stack.gateways[0]
    async with client(gateway) as http:
        person = await new_person(http)
        thief = await sign_in(http, person.email)  # a token that leaked
        key = await http.post("/api/auth/keys", json={"name": "script"}, headers=person.bearer)
        assert key.status_code == 201, key.text  # fresh sign-in: no password asked
        as_key = {"Authorization": f"Bearer {key.json()['key']}"}
        assert (await http.get("/v1/models", headers=as_key)).status_code == 200
        changed = await http.post(
            "/api/auth/me/password",
            json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
            headers=person.bearer,
        )
        assert changed.status_code == 204, changed.text
        assert await eventually(lambda: refused_everywhere(http, thief.token))
        assert await eventually(lambda: refused_everywhere(http, person.token))
        assert (await http.get("/v1/models", headers=as_key)).status_code == 401
        assert (await http.post("/api/auth/token", json={"api_key": key.json()["key"]})).status_code == 401
        refreshed = await http.post(
            "/api/auth/refresh", headers={"Cookie": f"parley_refresh={person.cookie}"}
        )
        assert refreshed.status_code == 200, refreshed.text  # this browser's session stays
        assert await accepted_everywhere(http, refreshed.json()["access_token"])
        stolen = await http.post("/api/auth/refresh", headers={"Cookie": f"parley_refresh={thief.cookie}"})
        assert stolen.status_code == 401


async def test_an_api_key_asks_for_the_password_once_the_sign_in_is_old(secure_stack: Stack) -> None:
    gateway = secure_stack.gateways[0]
    async with client(gateway) as http:
        person = await new_person(http)
        await asyncio.sleep(FRESH_SIGN_IN_S + 0.5)
        bare = await http.post("/api/auth/keys", json={"name": "k"}, headers=person.bearer)
        assert bare.status_code == 401
        assert "password" in bare.json()["detail"]
        wrong = await http.post(
            "/api/auth/keys", json={"name": "k", "password": "not it, no"}, headers=person.bearer
        )
        assert wrong.status_code == 401
        right = await http.post(
            "/api/auth/keys", json={"name": "k", "password": PASSWORD}, headers=person.bearer
        )
        assert right.status_code == 201, right.text
        assert await accepted_everywhere(http, person.token)  # a wrong password ends nothing


# 3 and 13. Throttles keyed on the client's own address.


async def test_wrong_passwords_slow_the_guessing_address_not_the_owner(secure_stack: Stack) -> None:
    gateway = secure_stack.gateways[0]
    async with client(gateway) as http:
        person = await new_person(http)
        attacker = next_address()
        for _ in range(3):
            guess = await http.post(
                "/api/auth/login",
                json={"email": person.email, "password": "guess guess"},
                headers=_from(attacker),
            )
            assert guess.status_code == 401
        blocked = await http.post(
            "/api/auth/login", json={"email": person.email, "password": PASSWORD}, headers=_from(attacker)
        )
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        await sign_in(http, person.email, person.address)  # the owner, from home: not locked out
        # Failed key exchanges count in a bucket of their own, by the client's address.
        for i in range(5):
            bad = await http.get(
                "/v1/models", headers={"Authorization": f"Bearer pk_wrong{i}", **_from(person.address)}
            )
            assert bad.status_code == 401
        exhausted = await http.get(
            "/v1/models", headers={"Authorization": "Bearer pk_wrong9", **_from(person.address)}
        )
        assert exhausted.status_code == 429
        await sign_in(http, person.email, person.address)  # logins from there still work
        key = await http.post(
            "/api/auth/keys", json={"name": "k", "password": PASSWORD}, headers=person.bearer
        )
        mine = {"Authorization": f"Bearer {key.json()['key']}", **_from(next_address())}
        assert (await http.get("/v1/models", headers=mine)).status_code == 200  # other clients unaffected


# 8. Registration floods.


async def test_registrations_are_throttled_per_address_and_a_burst_is_told_to_retry(
    secure_stack: Stack,
) -> None:
    gateway = secure_stack.gateways[0]
    async with client(gateway) as http:
        address = next_address()

        async def from_one(i: int) -> httpx.Response:
            body = {
                "email": f"same-{uuid.uuid4().hex[:8]}@e2e.parley.dev",
                "display_name": "S",
                "password": PASSWORD,
            }
            return await http.post("/api/auth/register", json=body, headers=_from(address))

        answers = [await from_one(i) for i in range(REGISTRATIONS_PER_ADDRESS + 1)]
        assert [a.status_code for a in answers[:-1]] == [201] * REGISTRATIONS_PER_ADDRESS
        assert answers[-1].status_code == 429
        assert int(answers[-1].headers["retry-after"]) >= 1
        assert (await register(http)).status_code == 201  # another address goes on
        burst = await asyncio.gather(*(register(http) for _ in range(60)))
    codes = [answer.status_code for answer in burst]
    assert set(codes) <= {201, 429}, codes  # never a 5xx
    assert 429 in codes
    assert 201 in codes
    assert all(int(a.headers["retry-after"]) >= 1 for a in burst if a.status_code == 429)


# 14. Look-alike addresses.


async def test_look_alike_addresses_are_refused(secure_stack: Stack) -> None:
    gateway = secure_stack.gateways[0]
    local = f"dev{uuid.uuid4().hex[:6]}"
    async with client(gateway) as http:
        assert (await register(http, f"{local}@e2e.parley.dev")).status_code == 201
        full_width = "".join(chr(ord(c) + 0xFEE0) for c in local)
        assert (await register(http, f"{full_width}@e2e.parley.dev")).status_code == 409
        assert (await register(http, f"{local.upper()}@E2E.parley.dev")).status_code == 409
        mixed = f"d\u0435v{local[3:]}@e2e.parley.dev"  # a Cyrillic e among Latin letters
        refused = await register(http, mixed)
        assert refused.status_code == 422, refused.text
        ace = await register(http, "ace@e2e.parley.dev")
        assert ace.status_code in (201, 409)
        cyrillic_ace = await register(http, "\u0430\u0441\u0435@e2e.parley.dev")  # all Cyrillic
        assert cyrillic_ace.status_code == 422, cyrillic_ace.text
        assert "looks like" in str(cyrillic_ace.json()["detail"])


# 10. Resume floods.


async def resume(socket: Client, session_id: uuid.UUID) -> Frame:
    """Send a `resume`; its answer (`ready` or `error`)."""
    await socket.send({"type": "resume", "session_id": str(session_id), "last_seq": 0})
    while (frame := await socket.recv())["type"] not in {"ready", "error"}:
        pass
    return frame


async def test_one_users_resume_flood_leaves_the_others_resuming(secure_stack: Stack) -> None:
    gateway = secure_stack.gateways[0]
    async with client(gateway) as http:
        flooder, other = await new_person(http), await new_person(http)
    flooder_id, other_id = (str(jwt_claims(p.token)["sub"]) for p in (flooder, other))
    sockets = [await Client.connect(gateway, flooder.token) for _ in range(4)]
    others = [await Client.connect(gateway, other.token) for _ in range(2)]

    async def flood(socket: Client) -> list[str]:
        return [(await resume(socket, new_owned_id(flooder_id)))["type"] for _ in range(10)]

    async def calm(socket: Client) -> list[str]:
        return [(await resume(socket, new_owned_id(other_id)))["type"] for _ in range(3)]

    floods, calms = await asyncio.gather(
        asyncio.gather(*(flood(s) for s in sockets)), asyncio.gather(*(calm(s) for s in others))
    )
    for socket in [*sockets, *others]:
        await socket.close()
    assert sum(kind == "ready" for kinds in floods for kind in kinds) == 30  # the user's minute
    assert all(kinds == ["ready"] * 3 for kinds in calms)  # another user is not held up


async def test_resumes_are_limited_and_a_made_up_session_declares_nothing(secure_stack: Stack) -> None:
    gateway = secure_stack.gateways[0]
    async with client(gateway) as http:
        person = await new_person(http)
    user_id = str(jwt_claims(person.token)["sub"])
    socket = await Client.connect(gateway, person.token)
    made_up = [new_owned_id(user_id) for _ in range(12)]
    answers = [await resume(socket, session_id) for session_id in made_up]
    await socket.close()
    assert all(
        a["type"] == "ready" and a["session_id"] not in {str(s) for s in made_up} for a in answers[:10]
    )
    assert (answers[10]["type"], answers[10]["code"]) == ("error", "rate_limited"), answers[10]
    connection = await aio_pika.connect(secure_stack.amqp_url)
    async with connection:
        for session_id in made_up:
            assert not await queue_exists(connection, session_queue(session_id).name)
