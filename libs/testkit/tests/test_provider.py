from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from parley_testkit import FakeProvider, Script

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "say hello to me"}]


@pytest.fixture
async def client(provider: FakeProvider) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=provider.base_url, api_key="x", max_retries=0) as client:
        yield client


async def test_streams_tokens_finish_reason_and_usage(provider: FakeProvider, client: AsyncOpenAI) -> None:
    provider.set_script(Script(tokens=["Hi", " there", "!"]))

    stream = await client.chat.completions.create(
        model="gpt-test",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    contents = [c.choices[0].delta.content for c in chunks if c.choices]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(x or "" for x in contents) == "Hi there!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert {c.model for c in chunks} == {"gpt-test"}
    usage = chunks[-1].usage
    assert usage is not None
    assert chunks[-1].choices == []
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 3, 7)
    [record] = provider.requests
    assert record.completed
    assert record.tokens_sent == 3
    assert record.disconnected_at is None
    assert record.headers["authorization"] == "Bearer x"
    assert record.body["model"] == "gpt-test"


async def test_no_usage_chunk_unless_requested(provider: FakeProvider, client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
    )
    chunks = [chunk async for chunk in stream]

    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_token_timing_follows_the_script(provider: FakeProvider, client: AsyncOpenAI) -> None:
    provider.set_script(Script(tokens=["a"] * 5, delay_s=0.05, first_delay_s=0.1))
    started = time.monotonic()

    stream = await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
    )
    arrivals = [time.monotonic() - started async for c in stream if c.choices and c.choices[0].delta.content]

    assert arrivals[0] >= 0.1
    assert arrivals[-1] - arrivals[0] >= 4 * 0.05 * 0.9


async def test_max_tokens_stops_with_length(provider: FakeProvider, client: AsyncOpenAI) -> None:
    provider.set_script(Script(tokens=["a", "b", "c", "d"]))

    stream = await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
        max_tokens=2,
    )
    chunks = [chunk async for chunk in stream]

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ab"
    assert chunks[-1].choices[0].finish_reason == "length"


async def test_error_status_raises_the_sdk_error(provider: FakeProvider, client: AsyncOpenAI) -> None:
    provider.set_script(Script(status=500))

    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            stream=True,
        )

    assert caught.value.status_code == 500
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "server_error"


async def test_rate_limit_status(provider: FakeProvider, client: AsyncOpenAI) -> None:
    provider.set_script(Script(status=429))

    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="m", messages=MESSAGES)


async def test_non_streaming_completion(provider: FakeProvider, client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
    )

    assert completion.choices[0].message.content == "Hello from the fake provider."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 6


async def test_client_closing_mid_stream_is_recorded(provider: FakeProvider, client: AsyncOpenAI) -> None:
    provider.set_script(Script(tokens=["x"] * 100, delay_s=0.02))

    stream = await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
    )
    received = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
        if received == 3:
            break
    await stream.close()
    closed_at = time.monotonic()

    assert await provider.wait_for_async(
        lambda: provider.requests[0].disconnected_at is not None, timeout=1.0
    )
    record = provider.requests[0]
    assert record.disconnected_at is not None
    assert record.disconnected_at - closed_at < 1.0
    assert not record.completed
    assert 3 <= record.tokens_sent < 100


async def test_hang_until_the_client_times_out(provider: FakeProvider) -> None:
    provider.set_script(Script(hang=True))

    async with AsyncOpenAI(base_url=provider.base_url, api_key="x", max_retries=0, timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(
                model="m",
                messages=MESSAGES,
                stream=True,
            )

    assert await provider.wait_for_async(
        lambda: provider.requests[0].disconnected_at is not None, timeout=1.0
    )
    assert provider.requests[0].tokens_sent == 0


async def test_script_callable_sees_the_request(provider: FakeProvider, client: AsyncOpenAI) -> None:
    provider.script = lambda body: Script(tokens=[body["messages"][-1]["content"].upper()])

    completion = await client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "echo"}],
    )

    assert completion.choices[0].message.content == "ECHO"


async def test_models_lists_the_test_model(provider: FakeProvider, client: AsyncOpenAI) -> None:
    models = await client.models.list()

    assert [m.id for m in models.data] == ["test-model"]


async def test_raw_sse_format(provider: FakeProvider) -> None:
    provider.set_script(Script(tokens=["a"]))
    body = {"model": "m", "messages": MESSAGES, "stream": True}

    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{provider.base_url}/chat/completions", json=body) as response,
    ):
        text = await response.text()

    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = text.split("\n\n")
    assert all(e.startswith("data: ") for e in events if e)
    assert events[-2:] == ["data: [DONE]", ""]
    assert len(events) == 5  # role, token, finish, [DONE], trailing


def test_reset_forgets_requests_and_script(provider: FakeProvider) -> None:
    provider.set_script(Script(status=503))
    provider.reset()

    assert provider.requests == []
    assert provider.script({}) == Script()


def test_wait_for_times_out() -> None:
    provider = FakeProvider()

    assert not provider.wait_for(lambda: False, timeout=0.05)
    assert provider.wait_for(lambda: True, timeout=0.05)
