"""PostgreSQL restarted under load (issue 9): auth and history run on a private cluster
that is stopped for a few seconds while 20 answers stream. Both services say so on
`/readyz`, hold the events they cannot store (unacked), retry, and recover by themselves:
every client learns its outcome, the clients, history and `audit.events` agree, auth's
usage ledger counts every completion exactly once, and history's audit chain verifies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import httpx
import pytest
from aiormq.exceptions import ChannelNotFoundEntity

from parley_testkit import FakeProvider, Script, TestIssuer

from .agreement import FINISHED, Seen, audit_events, check_agreement
from .private_postgres import PrivatePostgres, private_postgres
from .stack import HISTORY_AUDIT_KEY, MODEL, REFUSED_MODEL, Client, Stack
from .test_accounts import register_and_login

STREAMS = 20
TOKENS = [f"p{i} " for i in range(40)]
"""About 4 s per answer: the first half ends while the database is down."""
DOWN_S = 5.0
FAILING = 2
"""The last prompts go to a model whose provider refuses connections: failed answers,
prompted while the database is down, must agree too."""
HISTORY_DEAD = "history.dead"
"""Where history puts what it cannot store for good (its default `dead_letter_queue`)."""


@dataclass
class DbStack:
    stack: Stack
    postgres: PrivatePostgres
    history_database: str


@pytest.fixture
def db_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[DbStack]:
    provider.reset()
    with private_postgres() as postgres:
        auth_database = postgres.create_database("parley_auth")
        history_database = postgres.create_database("parley_history")
        stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
        try:
            stack.start_auth(auth_database)
            stack.start_history(history_database)
            stack.start_worker(PARLEY_INFERENCE_CONCURRENCY="48")
            stack.start_gateway(PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER="64")
            stack.wait_models(stack.gateways[0], workers=1)
            yield DbStack(stack, postgres, history_database)
        finally:
            stack.close()


@dataclass
class Readiness:
    """What one service's `/readyz` answered, polled every 0.2 s."""

    name: str
    url: str
    unready_at: list[float] = field(default_factory=list)
    """`time.monotonic()` of each poll that was not a 200."""

    @property
    def unready_s(self) -> float:
        return self.unready_at[-1] - self.unready_at[0] if self.unready_at else 0.0


async def _watch(services: list[Readiness], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        while not stop.is_set():
            for service in services:
                try:
                    ready = (await http.get(f"{service.url}/readyz")).status_code == 200
                except httpx.HTTPError:
                    ready = False
                if not ready:
                    service.unready_at.append(time.monotonic())
            with_stop = asyncio.ensure_future(stop.wait())
            await asyncio.wait({with_stop}, timeout=0.2)
            with_stop.cancel()


def _readyz(url: str, *, want: bool) -> Callable[[], Awaitable[bool]]:
    """A check that `url`'s `/readyz` says ready (`want`) or not."""

    async def check() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                ready = (await http.get(f"{url}/readyz")).status_code == 200
        except httpx.HTTPError:
            ready = False
        return ready == want

    return check


async def _until(condition: str, check: Callable[[], Awaitable[bool]], *, within_s: float) -> float:
    """Seconds until `check()` is true; fails naming `condition` after `within_s`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within_s, f"{condition}: not within {within_s} s"
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def _stream(client: Client, index: int) -> Seen:
    model = REFUSED_MODEL if index >= STREAMS - FAILING else MODEL
    accepted = await client.prompt(f"during the restart {index}", model=model)
    assert accepted["type"] == "accepted", accepted
    frames = await client.until(accepted["message_id"], timeout=90)
    return Seen(accepted, frames[-1])


def _metric(text: str, name: str) -> float:
    """The sum of a Prometheus metric's samples (every label set) in `/metrics` text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _usage(auth_url: str, token: str) -> tuple[int, int, int]:
    """The user's ledger: requests, prompt tokens, completion tokens."""
    async with httpx.AsyncClient(base_url=auth_url, timeout=10) as http:
        got = await http.get("/api/auth/me/usage", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    rows = got.json()["usage"]
    return (
        sum(r["requests"] for r in rows),
        sum(r["prompt_tokens"] for r in rows),
        sum(r["completion_tokens"] for r in rows),
    )


async def _depth(amqp_url: str, queue: str) -> int:
    """Messages ready in `queue` (0 when it does not exist)."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except ChannelNotFoundEntity:
            return 0
        return declared.declaration_result.message_count or 0


def _verify_chain(stack: Stack, database_url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "parley_history", "verify"],
        env={
            **os.environ,
            "AMQP_URL": stack.amqp_url,
            "PARLEY_HISTORY_DATABASE_URL": database_url,
            "PARLEY_HISTORY_AUDIT_KEY": HISTORY_AUDIT_KEY,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


@dataclass
class Outage:
    """What the clients saw of a database restart under load, and its timings."""

    seen: list[Seen]
    down_s: float
    known_in_s: float
    """From the stop until every client had its outcome."""
    ready_again_s: dict[str, float]
    """From the start until each service said ready."""
    rest_during: dict[str, int]
    """The status of each REST call made while the database was down."""


async def _restart_under_load(
    db_stack: DbStack, provider: FakeProvider, token: str, services: list[Readiness]
) -> Outage:
    """Half the answers streaming when PostgreSQL stops, the other half prompted while it is
    down; it starts again after `DOWN_S`. Both services must say not ready meanwhile."""
    stack, postgres = db_stack.stack, db_stack.postgres
    clients = [await Client.connect(stack.gateways[0], token) for _ in range(STREAMS)]
    half = STREAMS // 2
    try:
        tasks = [asyncio.create_task(_stream(c, i)) for i, c in enumerate(clients[:half])]
        streaming = lambda: sum(r.tokens_sent > 0 for r in provider.requests) >= half  # noqa: E731
        assert await provider.wait_for_async(streaming, timeout=30), "the first answers never streamed"

        await asyncio.to_thread(postgres.stop)
        stopped = time.monotonic()
        # The second half is prompted while the database is down: the gateway needs none.
        tasks += [asyncio.create_task(_stream(c, i)) for i, c in enumerate(clients[half:], start=half)]
        for service in services:
            await _until(f"{service.name} says not ready", _readyz(service.url, want=False), within_s=15)
        during = await _rest_during_outage(stack.gateways[0].http, token)
        await _until("the outage lasted", _elapsed(stopped, DOWN_S), within_s=DOWN_S + 5)
        await asyncio.to_thread(postgres.start)
        restarted = time.monotonic()
        ready_again = {
            s.name: await _until(f"{s.name} ready again", _readyz(s.url, want=True), within_s=60)
            for s in services
        }
        seen = await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
        return Outage(list(seen), restarted - stopped, time.monotonic() - stopped, ready_again, during)
    finally:
        for client in clients:
            await client.close()


REST_PROBES = ("/api/auth/me", "/api/auth/me/usage", "/api/history/conversations")


async def _rest_during_outage(gateway_url: str, token: str) -> dict[str, int]:
    """What the browser's REST calls answer while the database is down (through the gateway)."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {token}"}
        return {path: (await http.get(path, headers=headers)).status_code for path in REST_PROBES}


def _elapsed(since: float, seconds: float) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return time.monotonic() - since >= seconds

    return check


async def _ledger_agrees(stack: Stack, user_id: str, token: str) -> int:
    """Auth's ledger counts each completion of the user in `audit.events` exactly once
    (titles included: history's title requests are completions of the user too)."""
    assert stack.auth is not None
    finished = {
        e["event_id"]: e
        for e in await audit_events(stack.amqp_url)
        if e["type"] == FINISHED and e["user_id"] == user_id
    }
    expected = (
        len(finished),
        sum(e["usage"]["prompt_tokens"] for e in finished.values()),
        sum(e["usage"]["completion_tokens"] for e in finished.values()),
    )
    auth_url = stack.auth.http

    async def counted() -> bool:
        return await _usage(auth_url, token) == expected

    with contextlib.suppress(AssertionError):
        await _until("the ledger", counted, within_s=60)
    ledger = await _usage(auth_url, token)
    assert ledger == expected, f"auth's ledger {ledger} != completions in audit.events {expected}"
    return len(finished)


async def test_postgres_restarted_under_load_loses_and_duplicates_nothing(
    db_stack: DbStack, provider: FakeProvider
) -> None:
    stack = db_stack.stack
    assert stack.auth is not None
    assert stack.history is not None
    provider.set_script(Script(tokens=TOKENS, delay_s=0.1))
    account = await register_and_login(stack.gateways[0])
    token = account.access_token
    dead_before = await _depth(stack.amqp_url, HISTORY_DEAD)
    services = [Readiness("auth", stack.auth.http), Readiness("history", stack.history.http)]
    stop_watching = asyncio.Event()
    watcher = asyncio.create_task(_watch(services, stop_watching))
    try:
        outage = await _restart_under_load(db_stack, provider, token, services)
    finally:
        stop_watching.set()
        await watcher

    assert outage.rest_during == dict.fromkeys(REST_PROBES, 503), outage.rest_during
    errors = [s.end for s in outage.seen if not s.done]
    assert [e["code"] for e in errors] == ["provider_unreachable"] * FAILING, errors
    assert all(e["message"] for e in errors), errors
    for one in outage.seen:
        if one.done:
            assert one.end["text"] == "".join(TOKENS)
    agreement = await check_agreement(
        outage.seen, history_url=stack.history.http, token=token, amqp_url=stack.amqp_url, within_s=90
    )
    completions = await _ledger_agrees(stack, account.id, token)
    assert await _depth(stack.amqp_url, HISTORY_DEAD) == dead_before, "history dead-lettered an event"
    chain = await asyncio.to_thread(_verify_chain, stack, db_stack.history_database)
    assert stack.auth.process.running
    assert stack.history.process.running

    async with httpx.AsyncClient(timeout=5) as http:
        history_metrics = (await http.get(f"{stack.history.http}/metrics")).text
        auth_metrics = (await http.get(f"{stack.auth.http}/metrics")).text
    retries = _metric(history_metrics, "history_store_retries_total")
    auth_retries = _metric(auth_metrics, "parley_auth_store_retries_total")
    # Answers finished while the database was down: both services held events and retried.
    assert retries > 0, "history never met the outage with an event in hand"
    assert auth_retries > 0, "auth never met the outage with an event in hand"
    unready = ", ".join(
        f"{s.name} {s.unready_s:.1f} s (ready {outage.ready_again_s[s.name]:.1f} s after the start)"
        for s in services
    )
    print(  # noqa: T201
        f"\npostgres down {outage.down_s:.1f} s under load: {STREAMS - len(errors)}/{STREAMS} answers done, "
        f"{len(errors)} errors, all outcomes known {outage.known_in_s:.1f} s after the stop; "
        f"unready: {unready}; REST calls meanwhile {sorted(set(outage.rest_during.values()))}; "
        f"store retries: history {retries:.0f}, auth {auth_retries:.0f}; "
        f"auth's ledger {completions} completions (titles included); "
        f"{chain}; {agreement}"
    )
