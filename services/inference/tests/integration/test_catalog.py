"""The runtime catalogue: a worker applies `catalog.updated` without a restart
(new models served, disabled ones dropped while their running streams
finish), and a starting worker asks for the current catalogue."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from faststream.rabbit import RabbitBroker

from parley_contracts import WorkerHeartbeat
from parley_contracts.catalog import CATALOG_REQUESTS, CatalogModel, CatalogProvider, CatalogUpdated
from parley_contracts.topology import CHAT_EVENTS
from parley_platform.sealing import Sealer, provider_binding
from parley_testkit import FakeProvider, Script
from tests.integration.client import BrokerClient, make_prompt
from tests.integration.workers import StartWorker, catalogue
from tests.waiting import eventually

SECRET = "catalogue-test-secret-of-at-least-32-characters"


@pytest.fixture
def second_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        fake.set_script(Script(tokens=["From", " the", " second", "."]))
        yield fake


def _catalogue(revision: int, provider: FakeProvider, *models: CatalogModel) -> CatalogUpdated:
    """A catalogue of the second provider, its key sealed with the workers' `SECRET`."""
    sealed = Sealer(SECRET).seal(
        "sk-second-provider", bound_to=provider_binding(uuid.UUID(int=2), provider.base_url)
    )
    second = CatalogProvider(
        id=uuid.UUID(int=2), name="second", base_url=provider.base_url, sealed_key=sealed, key_last4="ider"
    )
    return catalogue(revision, second, *models)


def _model(name: str, *, enabled: bool = True) -> CatalogModel:
    return CatalogModel(
        id=uuid.uuid4(), name=name, provider_id=uuid.UUID(int=2), upstream="second-upstream", enabled=enabled
    )


def _serves(beats: list[object], worker_id: str, models: tuple[str, ...]) -> bool:
    """Whether the worker's latest heartbeat announces exactly `models`."""
    mine = [b for b in beats if isinstance(b, WorkerHeartbeat) and b.worker_id == worker_id]
    return bool(mine) and mine[-1].models == models


async def test_a_new_model_is_served_and_a_disabled_one_dropped_without_a_restart(
    start_worker: StartWorker,
    client: BrokerClient,
    provider: FakeProvider,
    second_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PARLEY_CATALOG_SECRET", SECRET)
    worker = await start_worker()
    beats = await client.heartbeats()
    session = await client.session()

    # A stream of the models file's `test` model is running when the catalogue drops it.
    provider.set_script(Script(tokens=[f"t{i} " for i in range(10)], delay_s=0.1))
    running = make_prompt(session, model="test")
    await client.submit(running)
    await eventually(lambda: len(provider.requests) == 1)

    await client.publish_raw(
        CHAT_EVENTS.name, "catalog.updated", _catalogue(5, second_provider, _model("second-model")).to_json()
    )
    await beats.wait_for(lambda items: _serves(items, worker.worker_id, ("second-model",)))

    prompt = make_prompt(session, model="second-model")
    await client.submit(prompt)
    end = await session.end(prompt.message_id)
    assert end.type == "stream.finished"
    assert getattr(end, "text", None) == "From the second."
    (request,) = second_provider.requests
    assert request.body["model"] == "second-upstream"
    assert request.headers["authorization"] == "Bearer sk-second-provider"

    finished = await session.end(running.message_id, timeout=10)
    assert finished.type == "stream.finished"  # the running stream went on to its end

    # An older revision changes nothing; disabling the model stops serving it.
    await client.publish_raw(CHAT_EVENTS.name, "catalog.updated", _catalogue(4, second_provider).to_json())
    await client.publish_raw(
        CHAT_EVENTS.name,
        "catalog.updated",
        _catalogue(6, second_provider, _model("second-model", enabled=False)).to_json(),
    )
    await beats.wait_for(lambda items: _serves(items, worker.worker_id, ()))
    assert worker.ports.catalog.names == ()


async def test_a_heartbeat_announces_a_new_model_only_once_its_queue_is_consumed(
    start_worker: StartWorker, second_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A beat sent while the new model's queue was still being declared listed it (CI: the
    gateway routed a prompt to a queue not bound yet, and it ended as `model_unavailable`)."""
    monkeypatch.setenv("PARLEY_CATALOG_SECRET", SECRET)
    worker = await start_worker()
    applying = asyncio.create_task(
        worker.apply_catalog_event(_catalogue(5, second_provider, _model("second-model")))
    )
    announced_before_consumed = False
    while not applying.done():
        if "second-model" in worker.heartbeat().models:
            announced_before_consumed |= "second-model" not in worker.subscribers.requests
        await asyncio.sleep(0)
    await applying
    assert not announced_before_consumed
    assert worker.heartbeat().models == ("second-model",)


async def test_a_starting_worker_asks_for_the_current_catalogue(
    start_worker: StartWorker,
    amqp_url: str,
    second_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PARLEY_CATALOG_SECRET", SECRET)
    owner = RabbitBroker(amqp_url)
    asked: list[dict[str, object]] = []

    @owner.subscriber(CATALOG_REQUESTS)
    async def answer(body: dict[str, object]) -> bytes:
        asked.append(body)
        return _catalogue(9, second_provider, _model("from-catalogue")).to_json()

    async with owner:
        await owner.start()
        worker = await start_worker()
        assert asked
        assert worker.ports.catalog.names == ("from-catalogue",)
        assert [lane.model for lane in worker.lanes] == ["from-catalogue"]
    await asyncio.sleep(0)
