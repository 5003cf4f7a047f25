"""`python -m parley_history migrate` then `serve` as a real process (uvicorn,
uvloop, consumer in the same process): events in over RabbitMQ, conversations
out over HTTP with a real token, clean shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from parley_testkit import FakeProvider, ServiceProcess, TestIssuer, free_port
from tests.conftest import AUDIT_SECRET, Databases
from tests.events import finished, prompt
from tests.integration.conftest import Broker


@pytest.fixture
def jwks_issuer() -> Iterator[tuple[FakeProvider, TestIssuer]]:
    issuer = TestIssuer(issuer="parley-auth", audience="parley")
    provider = FakeProvider(issuer=issuer)
    provider.start()
    yield provider, issuer
    provider.stop()


async def test_serve_consumes_and_answers_over_http(
    databases: Databases,
    amqp_url: str,
    broker: Broker,
    purged: None,
    jwks_issuer: tuple[FakeProvider, TestIssuer],
) -> None:
    provider, issuer = jwks_issuer
    url = await databases.fresh(migrated=False)
    port = free_port()
    env = {
        "AMQP_URL": amqp_url,
        "PARLEY_HISTORY_DATABASE_URL": url,
        "PARLEY_HISTORY_JWKS_URL": provider.jwks_url,
        "PARLEY_HISTORY_PORT": str(port),
        "PARLEY_HISTORY_AUDIT_KEY": AUDIT_SECRET,
    }
    migrated = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "parley_history", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    with ServiceProcess([sys.executable, "-m", "parley_history", "serve"], env, "history") as service:
        await asyncio.to_thread(service.wait_ready, f"http://127.0.0.1:{port}/readyz", 20)
        p = prompt("alice", "Hello over the wire")
        await broker.publish(p, finished(p, "Hi!"))
        headers = {"Authorization": f"Bearer {issuer.token('alice')}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            for _ in range(100):
                items = (await client.get("/api/history/conversations")).json()["items"]
                if items:
                    break
                await asyncio.sleep(0.1)
            assert [item["title"] for item in items] == ["Hello over the wire"]
            for _ in range(100):
                metrics = (await client.get("/metrics")).text
                if 'result="stored",type="prompt.submitted"} 2.0' in metrics:
                    break
                await asyncio.sleep(0.1)
            # the prompt, and the title request that history published after the first answer
            assert 'history_events_handled_total{result="stored",type="prompt.submitted"} 2.0' in metrics
            assert 'history_events_handled_total{result="stored",type="completion.finished"} 1.0' in metrics
        # uvicorn re-raises SIGTERM after its graceful shutdown
        assert service.terminate(timeout=15) in (0, -15)
        assert "Application shutdown complete" in service.log_text()
