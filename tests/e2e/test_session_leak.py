"""No request borrows another user's session through the gateway's `/api/auth/*` proxy.

The proxy once forwarded through one `httpx.AsyncClient` whose cookie jar kept every
`Set-Cookie`: a caller with no cookie got the refresh cookie of whoever had logged in
last, so an anonymous `POST /api/auth/refresh` answered with that user's access token
(an admin's, as often as not) and an anonymous logout ended that user's session. Here
the real gateway stands in front of the real auth service, as in `make dev`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from parley_testkit import FakeProvider, TestIssuer

from .stack import REFRESH_COOKIE, Stack, jwt_claims, platform, refresh_cookie
from .test_accounts import ADMIN_EMAIL, Account, register_and_login

ROUNDS = 200


@pytest.fixture(scope="module")
def auth_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    # As `make dev` runs it: a refresh cookie without `Secure`, which an http client keeps.
    dev_cookie = {"PARLEY_ADMIN_EMAIL": ADMIN_EMAIL, "PARLEY_AUTH_DEV": "1", "PARLEY_AUTH_COOKIE_SECURE": "0"}
    with platform("leak", stack, history=False, worker=False, auth_env=dev_cookie):
        yield stack


def subject(access_token: str) -> str:
    return str(jwt_claims(access_token)["sub"])


class Session:
    """One browser's refresh cookie, rotated as auth rotates it, sent by hand so that each
    request carries exactly this cookie."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.cookie = account.refresh_cookie

    async def refresh(self, http: httpx.AsyncClient) -> str:
        response = await http.post("/api/auth/refresh", headers={"Cookie": f"{REFRESH_COOKIE}={self.cookie}"})
        assert response.status_code == 200, response.text
        cookie = refresh_cookie(response)
        assert cookie is not None, response.headers
        self.cookie = cookie
        return str(response.json()["access_token"])


async def test_a_stranger_without_a_cookie_gets_nobodys_session(auth_stack: Stack) -> None:
    gateway = auth_stack.gateways[0]
    alice = Session(await register_and_login(gateway))
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as stranger:
        refreshed = await stranger.post("/api/auth/refresh")
        assert refreshed.status_code == 401, refreshed.text
        assert "access_token" not in refreshed.text
        assert refresh_cookie(refreshed) is None
        logged_out = await stranger.post("/api/auth/logout")
        assert logged_out.status_code == 401, logged_out.text
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as browser:
        # Alice's session survived the stranger's logout, and is still hers.
        assert subject(await alice.refresh(browser)) == alice.account.id


async def test_concurrent_refreshes_each_get_their_own_session(auth_stack: Stack) -> None:
    gateway = auth_stack.gateways[0]
    sessions = [Session(await register_and_login(gateway)) for _ in range(2)]

    async def rotate(session: Session) -> list[str]:
        async with httpx.AsyncClient(base_url=gateway.http, timeout=30) as http:
            return [subject(await session.refresh(http)) for _ in range(ROUNDS)]

    async def stranger() -> list[int]:
        async with httpx.AsyncClient(base_url=gateway.http, timeout=30) as http:
            return [(await http.post("/api/auth/refresh")).status_code for _ in range(ROUNDS // 4)]

    alice, bob, refused = await asyncio.gather(rotate(sessions[0]), rotate(sessions[1]), stranger())
    assert alice == [sessions[0].account.id] * ROUNDS
    assert bob == [sessions[1].account.id] * ROUNDS
    assert refused == [401] * (ROUNDS // 4)
