"""The worker's egress guard, through the real SDK and aiohttp against local servers: an
internal provider is refused unless allowed, a host name is resolved once (by a stub here,
never by a DNS server) and every address checked before aiohttp connects to a checked one,
and redirects are not followed. People see the model's name; the log says the rest."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from parley_contracts import ChatMessage, GenerationParams
from parley_inference.adapters.llm import OpenAIChatModel
from parley_inference.adapters.provider_errors import ProviderTimeouts
from parley_inference.domain.catalog import ModelSpec
from parley_inference.domain.errors import ErrorCode, GenerationError
from parley_platform import egress
from parley_platform.egress import EgressPolicy
from parley_testkit import FakeProvider, StubResolver, free_port

MESSAGES = (ChatMessage(role="user", content="Hi"),)
LOOPBACK = EgressPolicy.parse("127.0.0.0/8,::1")


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> StubResolver:
    stub = StubResolver(
        {
            "provider.test": ["127.0.0.1"],
            "mixed.test": ["127.0.0.1", "10.0.0.5"],
            "metadata.test": ["169.254.169.254"],
        }
    )
    monkeypatch.setattr(egress, "resolve", stub)
    return stub


async def _generate(policy: EgressPolicy, base_url: str, name: str = "local", *, retries: int = 0) -> str:
    model = OpenAIChatModel(
        timeouts=ProviderTimeouts(connect_s=2, read_s=5), max_retries=retries, egress=policy
    )
    spec = ModelSpec(name=name, base_url=base_url, model="upstream")
    try:
        return "".join([chunk.text async for chunk in model.stream(spec, MESSAGES, GenerationParams())])
    finally:
        await model.aclose()


async def _refused(
    policy: EgressPolicy, base_url: str, name: str = "local", *, retries: int = 0
) -> GenerationError:
    with pytest.raises(GenerationError) as caught:
        await _generate(policy, base_url, name, retries=retries)
    return caught.value


async def test_a_provider_on_an_internal_address_is_refused_unless_allowed(
    provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="parley_inference")
    error = await _refused(EgressPolicy(), provider.base_url)
    assert (error.code, error.message) == (
        ErrorCode.PROVIDER_UNREACHABLE,
        "The model 'local' cannot be reached.",
    )
    assert provider.requests == []  # refused before any connection
    assert "a loopback address" in caplog.text
    assert provider.base_url in caplog.text  # the address is for the operator's log

    assert await _generate(LOOPBACK, provider.base_url)  # the operator allowed this host
    assert len(provider.requests) == 1


async def test_a_name_is_resolved_once_checked_and_connected_to_as_checked(
    provider: FakeProvider, resolver: StubResolver
) -> None:
    assert await _generate(LOOPBACK, f"http://provider.test:{provider.port}/v1")
    assert resolver.asked == ["provider.test"]
    [request] = provider.requests
    assert request.headers["host"] == f"provider.test:{provider.port}"


@pytest.mark.parametrize(
    ("host", "reason"), [("mixed.test", "a private address"), ("metadata.test", "a cloud metadata address")]
)
async def test_a_name_with_any_refused_address_is_not_connected_to(
    provider: FakeProvider, resolver: StubResolver, caplog: pytest.LogCaptureFixture, host: str, reason: str
) -> None:
    caplog.set_level(logging.WARNING, logger="parley_inference")
    error = await _refused(LOOPBACK, f"http://{host}:{provider.port}/v1", name="cloud")
    assert (error.code, error.message) == (
        ErrorCode.PROVIDER_UNREACHABLE,
        "The model 'cloud' cannot be reached.",
    )
    assert provider.requests == []
    assert reason in caplog.text
    assert host in resolver.asked


async def test_a_refused_name_is_not_tried_again(provider: FakeProvider, resolver: StubResolver) -> None:
    """A refusal is final: the SDK's retries (on by default) would only ask the resolver again."""
    error = await _refused(LOOPBACK, f"http://metadata.test:{provider.port}/v1", retries=2)
    assert error.code is ErrorCode.PROVIDER_UNREACHABLE
    assert resolver.asked == ["metadata.test"]
    assert provider.requests == []


@pytest.fixture
async def redirecting(provider: FakeProvider) -> AsyncIterator[str]:
    """A server that sends every request on to the provider (307)."""

    async def handle(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{provider.base_url}/chat/completions")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


async def test_redirects_are_not_followed(provider: FakeProvider, redirecting: str) -> None:
    error = await _refused(LOOPBACK, redirecting)
    assert error.code is ErrorCode.PROVIDER_ERROR
    assert "127.0.0.1" not in error.message
    assert provider.requests == []
