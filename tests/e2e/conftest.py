"""The whole spine as real processes: gateways and inference workers on a
fresh RabbitMQ vhost, a local OpenAI-compatible provider, a test JWKS."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from parley_testkit import FakeProvider, TestIssuer, amqp_url_from_env, isolated_vhost

from .stack import ISSUER, Stack, broker_users, write_models_file


@pytest.fixture(scope="session")
def vhost_url() -> Iterator[str]:
    """A fresh vhost (an administrator's URL, for the tests' own looks) with a RabbitMQ user per
    service: stacks on it run each process least-privilege, as deployed (`broker_users`)."""
    with isolated_vhost(amqp_url_from_env(), prefix="parley-e2e") as url, broker_users(url):
        yield url


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer(issuer=ISSUER)


@pytest.fixture(scope="session")
def provider(issuer: TestIssuer) -> Iterator[FakeProvider]:
    with FakeProvider(issuer=issuer) as server:
        yield server


@pytest.fixture(scope="session")
def models_file(tmp_path_factory: pytest.TempPathFactory, provider: FakeProvider) -> Path:
    return write_models_file(tmp_path_factory.mktemp("models") / "models.yaml", provider.base_url)


@pytest.fixture
def stack_factory(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    """A stack of its own for a test that kills or restarts processes."""
    provider.reset()
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def shared_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    """One gateway and two workers, shared by the tests of a module."""
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    try:
        stack.start_worker()
        stack.start_worker()
        stack.start_gateway()
        stack.wait_models(stack.gateways[0], workers=2)
        yield stack
    finally:
        stack.close()


@pytest.fixture
async def stack(shared_stack: Stack, provider: FakeProvider) -> AsyncIterator[Stack]:
    provider.reset()
    yield shared_stack


def pytest_report_header() -> str:
    return f"e2e: python {sys.executable}"
