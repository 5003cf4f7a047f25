"""Fixtures shared by the platform's tests on the real RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection

from parley_testkit.rabbit import amqp_url_from_env, isolated_vhost


@pytest.fixture(scope="module")
def vhost_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A vhost of the test module's own."""
    prefix = f"parley-platform-{request.module.__name__.rpartition('.')[2]}"
    with isolated_vhost(amqp_url_from_env(), prefix=prefix) as url:
        yield url


@pytest.fixture
async def connection(vhost_url: str) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(vhost_url)
    async with connection:
        yield connection
