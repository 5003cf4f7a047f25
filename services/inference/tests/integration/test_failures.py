"""Provider failures, unknown models and unknown events end cleanly, within seconds."""

from __future__ import annotations

import logging
import time

import orjson
import pytest

from parley_contracts import CompletionFailed, StreamFailed, StreamFinished
from parley_contracts.topology import CHAT_CONTROL, CHAT_EVENTS, prompt_headers
from parley_testkit import FakeProvider, Script
from tests.integration.client import BrokerClient, make_prompt
from tests.integration.workers import StartWorker
from tests.waiting import eventually


async def _fails_with(
    client: BrokerClient, model: str, code: str, within_s: float, *, routed_as: str | None = None
) -> tuple[StreamFailed, CompletionFailed]:
    session = await client.session()
    events = await client.domain_events("completion.failed")
    prompt = make_prompt(session, model=model)
    started = time.monotonic()
    if routed_as is None:
        await client.submit(prompt)
    else:
        headers = prompt_headers(routed_as)
        await client.publish_raw(CHAT_EVENTS.name, prompt.type, prompt.to_json(), headers=headers)
    end = await session.end(prompt.message_id, timeout=within_s)
    elapsed = time.monotonic() - started
    assert isinstance(end, StreamFailed), end
    assert end.code == code, end.message
    assert elapsed < within_s
    event = await events.first(lambda e: getattr(e, "message_id", None) == prompt.message_id)
    assert isinstance(event, CompletionFailed)
    assert (event.code, event.message) == (end.code, end.message)
    assert "Traceback" not in end.message
    return end, event


@pytest.mark.parametrize(
    ("status", "code", "attempts"),
    [
        (500, "provider_error", 2),  # one SDK retry before giving up
        (401, "provider_rejected", 1),  # a 4xx is not retried
    ],
)
async def test_a_provider_http_error_fails_with_its_code(
    start_worker: StartWorker,
    client: BrokerClient,
    provider: FakeProvider,
    status: int,
    code: str,
    attempts: int,
) -> None:
    provider.set_script(Script(status=status))
    await start_worker()
    end, _ = await _fails_with(client, "test", code, within_s=5)
    assert f"HTTP {status}" in end.message
    assert len(provider.requests) == attempts


async def test_a_silent_provider_is_provider_timeout(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(Script(hang=True))
    await start_worker(provider_max_retries=0)
    end, _ = await _fails_with(client, "test", "provider_timeout", within_s=5)
    assert "1 s" in end.message
    assert await provider.wait_for_async(lambda: provider.requests[0].disconnected_at is not None, 2)


async def test_a_provider_that_goes_silent_mid_stream_is_provider_timeout(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=["a", "b", "c"], delay_s=3.0))
    await start_worker()
    end, _ = await _fails_with(client, "test", "provider_timeout", within_s=5)
    assert end.seq >= 2  # after the first delta


async def test_a_refused_connection_is_provider_unreachable(
    start_worker: StartWorker, client: BrokerClient
) -> None:
    await start_worker()
    end, _ = await _fails_with(client, "refused", "provider_unreachable", within_s=5)
    assert end.message == "The model 'refused' cannot be reached."  # its address is for the log only


async def test_a_model_the_worker_lacks_is_model_not_found(
    start_worker: StartWorker, client: BrokerClient
) -> None:
    # Only a publisher that routes by the wrong header gets here (gateways route by the model).
    await start_worker()
    end, _ = await _fails_with(client, "gpt-17", "model_not_found", within_s=5, routed_as="test")
    assert "'gpt-17'" in end.message


async def test_unknown_event_versions_are_rejected_with_one_log_line_and_the_worker_goes_on(
    start_worker: StartWorker,
    client: BrokerClient,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="parley_inference")
    await start_worker()
    session = await client.session()
    future = orjson.loads(make_prompt(session).to_json())
    future["version"] = 99
    routed = prompt_headers("test")
    await client.publish_raw(CHAT_EVENTS.name, "prompt.submitted", orjson.dumps(future), headers=routed)
    await client.publish_raw(CHAT_EVENTS.name, "prompt.submitted", b"not json at all", headers=routed)
    await client.publish_raw(CHAT_CONTROL.name, "", b'{"type": "generation.pause", "version": 1}')

    # the worker still serves the next prompt
    prompt = make_prompt(session)
    await client.submit(prompt)
    end = await session.end(prompt.message_id)
    assert isinstance(end, StreamFinished)

    def rejected() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("dropping message")]

    # each bad request is rejected twice: on its model's requests queue, then from inference.dead
    await eventually(lambda: len(rejected()) >= 5)
    lines = [r.getMessage() for r in rejected()]
    assert len(lines) == 5, lines
    assert sum("unsupported version 99 of 'prompt.submitted'" in line for line in lines) == 2, lines
    assert sum("body is not JSON" in line for line in lines) == 2, lines
    assert sum("unknown event type 'generation.pause'" in line for line in lines) == 1, lines
    assert sum("on inference.dead" in line for line in lines) == 2, lines
    assert all(r.exc_info is None for r in caplog.records if r.name.startswith("parley_inference"))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
