"""The OpenAI-compatible API, with the official `openai` SDK as the client and a
Parley API key: streaming and whole answers, the models list, OpenAI's error
shapes, and a client that leaves mid-stream while the answer is still stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from parley_testkit import FakeProvider, Script, TestIssuer

from .stack import MODEL, Gateway, Stack, platform
from .test_accounts import register_and_login


@pytest.fixture(scope="module")
def api_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    with platform("api", stack):
        yield stack


@pytest.fixture
async def stack(api_stack: Stack, provider: FakeProvider) -> AsyncIterator[Stack]:
    provider.reset()
    yield api_stack


async def _api_key(gateway: Gateway) -> tuple[str, str]:
    """A new user's API key, and their access token (for history)."""
    account = await register_and_login(gateway)
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        created = await http.post(
            "/api/auth/keys",
            json={"name": "sdk"},
            headers={"Authorization": f"Bearer {account.access_token}"},
        )
        assert created.status_code == 201, created.text
        return str(created.json()["key"]), account.access_token


def _sdk(gateway: Gateway, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway.http}/v1", api_key=key, max_retries=0, timeout=20)


async def test_the_sdk_streams_an_answer_with_usage(stack: Stack) -> None:
    key, _ = await _api_key(stack.gateways[0])
    async with _sdk(stack.gateways[0], key) as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake provider."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].id.startswith("chatcmpl-")
    usage = chunks[-1].usage
    assert usage is not None
    assert not chunks[-1].choices
    assert usage.completion_tokens == 6
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_the_sdk_gets_a_whole_answer_and_the_models(stack: Stack) -> None:
    key, _ = await _api_key(stack.gateways[0])
    async with _sdk(stack.gateways[0], key) as client:
        completion = await client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
            ],
            temperature=0.2,
            max_tokens=64,
        )
        models = await client.models.list()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Hello from the fake provider."
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 6
    assert MODEL in [m.id for m in models.data]
    # (history's title request for the new conversation goes to the provider too)
    (request,) = [r.body for r in stack.provider.requests if r.body["messages"][0]["content"] == "Be brief."]
    assert request["messages"][1] == {"role": "user", "content": "Hello"}
    assert (request["temperature"], request["max_tokens"]) == (0.2, 64)


async def test_errors_come_in_openai_shape(stack: Stack) -> None:
    gateway = stack.gateways[0]
    key, token = await _api_key(gateway)
    hello = [{"role": "user", "content": "Hello"}]
    async with _sdk(gateway, "pk_not-a-real-key") as client:
        with pytest.raises(openai.AuthenticationError) as refused:
            await client.chat.completions.create(model=MODEL, messages=hello)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_api_key"
    async with _sdk(gateway, key) as client:
        with pytest.raises(openai.NotFoundError) as unknown:
            await client.chat.completions.create(model="no-such-model", messages=hello)  # type: ignore[arg-type]
        assert unknown.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as bad:
            await client.chat.completions.create(model=MODEL, messages=hello, temperature=9)  # type: ignore[arg-type]
        assert bad.value.code == "invalid_request"
        assert "temperature" in str(bad.value.message)
    # An access token works as the bearer credential too.
    async with _sdk(gateway, token) as client:
        assert MODEL in [m.id for m in (await client.models.list()).data]
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        missing = await http.get("/v1/models")
        assert missing.status_code == 401
        assert missing.json()["error"]["type"] == "authentication_error"
        broken = await http.post(
            "/v1/chat/completions", content=b"{", headers={"Authorization": f"Bearer {key}"}
        )
        assert broken.status_code == 400
        assert broken.json()["error"]["message"] == "the request body is not valid JSON"


async def test_a_client_that_leaves_mid_stream_still_gets_its_answer_stored(stack: Stack) -> None:
    gateway = stack.gateways[0]
    key, token = await _api_key(gateway)
    tokens = [f"word{i} " for i in range(30)]
    stack.provider.set_script(Script(tokens=tokens, delay_s=0.05))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Long one"}], "stream": True}
    async with (
        httpx.AsyncClient(base_url=gateway.http, timeout=10) as http,
        http.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        assert response.status_code == 200
        conversation_id = response.headers["x-parley-conversation-id"]
        async for line in response.aiter_lines():
            if "word0" in line:
                break  # and leave: the connection closes with this block
    (long_one,) = [r for r in stack.provider.requests if r.body["messages"][-1]["content"] == "Long one"]
    assert not long_one.completed

    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        auth = {"Authorization": f"Bearer {token}"}
        answer = ""
        for _ in range(100):
            got = await http.get(f"/api/history/conversations/{conversation_id}", headers=auth)
            if got.status_code == 200:
                messages = got.json()["messages"]
                finished = [m for m in messages if m["role"] == "assistant" and m["status"] == "finished"]
                if finished:
                    answer = finished[0]["content"]
                    break
            await asyncio.sleep(0.1)
    assert answer == "".join(tokens)
