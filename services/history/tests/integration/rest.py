"""Helpers of the REST tests of projects and the prompt library."""

from __future__ import annotations

from typing import Any

import httpx

from parley_contracts import DomainEvent
from parley_history.bootstrap import History
from tests.fakes import FakePublisher

API = "/api/history"


async def seed(history: History, *events: DomainEvent) -> None:
    for event in events:
        await history.store.apply(event, event.to_json().decode())


def published(history: History) -> list[str]:
    """The types of the events the app published, in order."""
    publisher = history.publisher
    assert isinstance(publisher, FakePublisher)
    return [event.type for event in publisher.published]


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None
