"""OpenAI-compatible providers through the `openai` SDK, read raw.

The SDK does the connection (base URL, key, retries before the first byte,
timeouts, error types) over its aiohttp transport (`openai.DefaultAioHttpClient`),
which reads a token stream at about half the CPU of its default httpx2 stack;
the event stream itself is read line by line from the raw response and parsed
with orjson (`domain.sse`), which costs a tenth of the SDK's typed chunks per
token (docs/architecture.md section 9). The request body is handed over as it is, past the
SDK's conversion of typed arguments, whose cost grows with the conversation.

Every connection passes the egress guard (`parley_platform.egress`): a host
name is resolved once, every address checked, and aiohttp connects to the
addresses checked (no second lookup to rebind); an IP literal is checked
before the request; redirects are not followed. People see the model's name
and a stable code; the provider's address and what it said go to the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

import aiohttp
import httpx2
import openai

from parley_contracts import ChatMessage, GenerationParams
from parley_inference.adapters.egress_transport import guarded_http_client
from parley_inference.adapters.provider_errors import ProviderTimeouts, log_detail, map_provider_error
from parley_inference.domain.catalog import ModelSpec
from parley_inference.domain.errors import GenerationError
from parley_inference.domain.sse import DONE, Chunk, SseDecoder
from parley_platform.egress import EgressPolicy, EgressRefused

log = logging.getLogger(__name__)

NO_KEY = "none"
"""Sent as the API key when the model has none (local servers ignore it; the SDK wants one)."""


def _body(model: ModelSpec, messages: tuple[ChatMessage, ...], params: GenerationParams) -> dict[str, Any]:
    max_tokens = model.max_tokens if params.max_tokens is None else min(params.max_tokens, model.max_tokens)
    body: dict[str, Any] = {
        "model": model.model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": max_tokens,
    }
    if params.temperature is not None:
        body["temperature"] = params.temperature
    if params.top_p is not None:
        body["top_p"] = params.top_p
    return body


class OpenAIChatModel:
    """A `ChatModel` over every provider of a models file: one SDK client per
    base URL and key, shared by every generation."""

    def __init__(
        self,
        *,
        timeouts: ProviderTimeouts | None = None,
        max_retries: int = 1,
        environ: Mapping[str, str] | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        """`transport` replaces the network (tests: `httpx2.MockTransport`);
        without it the SDK's aiohttp transport is used, through the egress guard
        (`egress`: by default no internal address is allowed)."""
        self._timeouts = timeouts or ProviderTimeouts()
        self._egress = egress or EgressPolicy()
        self._transport = transport
        self._max_retries = max_retries
        self._environ = os.environ if environ is None else environ
        self._clients: dict[tuple[str, str], openai.AsyncOpenAI] = {}

    def _client(self, model: ModelSpec) -> openai.AsyncOpenAI:
        key = NO_KEY
        if model.api_key:
            key = model.api_key
        elif model.api_key_env:
            key = self._environ.get(model.api_key_env) or NO_KEY
        client = self._clients.get((model.base_url, key))
        if client is None:
            t = self._timeouts
            client = openai.AsyncOpenAI(
                api_key=key,
                base_url=model.base_url,
                timeout=openai.Timeout(t.read_s, connect=t.connect_s, write=t.write_s, pool=t.pool_s),
                max_retries=self._max_retries,
                http_client=(
                    guarded_http_client(self._egress)
                    if self._transport is None
                    else httpx2.AsyncClient(transport=self._transport)
                ),
            )
            self._clients[(model.base_url, key)] = client
        return client

    def warm_up(self, models: Iterable[ModelSpec]) -> None:
        """Build the clients now: the SDK imports its chat resources on first
        use, which would block the event loop for tens of ms on the first
        requests (measured: about 150 ms)."""
        for model in models:
            _ = self._client(model).chat.completions.with_streaming_response

    async def stream(
        self, model: ModelSpec, messages: tuple[ChatMessage, ...], params: GenerationParams
    ) -> AsyncGenerator[Chunk, None]:
        body = _body(model, messages, params)
        client = self._client(model)
        try:
            # The SDK checks and converts its typed arguments against their TypedDicts on every
            # call: about 330 us of CPU per message, 33 ms for a chat of 100 messages, all of it
            # blocking the worker's event loop. The body goes as `extra_body` instead, which the
            # SDK sends as given (it takes precedence over the typed fields, which stay empty).
            async with client.chat.completions.with_streaming_response.create(
                model=body["model"],
                messages=(),
                stream=True,
                extra_body={**body, "stream_options": {"include_usage": True}, **model.extra},
            ) as response:
                decoder = SseDecoder()
                async for line in response.iter_lines():
                    item = decoder.feed(line)
                    if item is None:
                        continue
                    if item is DONE:
                        return
                    assert isinstance(item, Chunk)
                    yield item
                last = decoder.end()
                if isinstance(last, Chunk):
                    yield last
        except (
            openai.OpenAIError,
            httpx2.HTTPError,
            aiohttp.ClientError,
            EgressRefused,
            GenerationError,
        ) as exc:
            error = map_provider_error(exc, model=model.name, timeouts=self._timeouts)
            log.warning("model %s: the provider at %s failed (%s): %s",
                        model.name, model.base_url, error.code, log_detail(exc))  # fmt: skip
            raise error from None

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
