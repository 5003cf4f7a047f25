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

import ipaddress
import logging
import os
import socket
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx2
import openai
from aiohttp.abc import AbstractResolver, ResolveResult
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport

from parley_contracts import ChatMessage, GenerationParams
from parley_inference.domain.catalog import ModelSpec
from parley_inference.domain.errors import ErrorCode, GenerationError, ProviderStreamError
from parley_inference.domain.sse import DONE, Chunk, SseDecoder
from parley_platform import egress
from parley_platform.egress import EgressPolicy, EgressRefused

log = logging.getLogger(__name__)

NO_KEY = "none"
"""Sent as the API key when the model has none (local servers ignore it; the SDK wants one)."""

_DETAIL_LIMIT = 200


@dataclass(frozen=True)
class ProviderTimeouts:
    connect_s: float = 5.0
    read_s: float = 60.0
    """Waiting for the first byte, and the longest silence between chunks."""
    write_s: float = 10.0
    pool_s: float = 10.0


class _GuardedResolver(AbstractResolver):
    """Resolves with `egress.resolve` and refuses a name any of whose addresses the policy
    refuses; aiohttp connects to the addresses returned here, which are the ones checked."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await egress.resolve(host, port)
        self._policy.check(host, addresses)
        flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        results: list[ResolveResult] = []
        for address in addresses:
            found = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
            if family in (socket.AF_UNSPEC, found):
                results.append(
                    ResolveResult(hostname=host, host=address, port=port, family=found, proto=0, flags=flags)
                )
        if not results:
            raise OSError(f"{host} has no address of the family asked for")
        return results

    async def close(self) -> None:
        return None


class _GuardedTransport(httpx2.AsyncBaseTransport):
    """Refuses a request to an IP literal the policy refuses (aiohttp resolves no literal), and
    lets a refused name's refusal through as it is: under the transport's `ConnectTimeout` the
    SDK would retry it (another lookup, the same answer)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, policy: EgressPolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        if (literal := egress.ip_literal(host)) is not None:
            self._policy.check(host, [str(literal)])
        try:
            return await self._inner.handle_async_request(request)
        except httpx2.TransportError as exc:
            if (refused := _refusal(exc)) is not None:
                raise refused from None
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_http_client(policy: EgressPolicy) -> httpx2.AsyncClient:
    """The SDK's aiohttp client, with every connection through the egress guard and no
    redirects followed (a redirect could lead past the guard)."""

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=_GuardedResolver(policy), ssl=httpx2.create_ssl_context(), limit=1000
        )
        return aiohttp.ClientSession(connector=connector)

    transport = _GuardedTransport(AiohttpTransport(client=session), policy)
    return openai.DefaultAioHttpClient(transport=transport, follow_redirects=False)


def _detail(body: object, fallback: str) -> str:
    message: object = None
    if isinstance(body, Mapping):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, Mapping) else error
    text = str(message) if message else fallback
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def _aiohttp_cause(exc: BaseException) -> aiohttp.ClientError | None:
    """The aiohttp error under an SDK or httpx2 one, if any."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientError):
            return cause
        cause = cause.__cause__
    return None


def _refusal(exc: BaseException) -> EgressRefused | None:
    """The egress refusal under an SDK, httpx2 or aiohttp error, if any."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, EgressRefused):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _unreachable(model: str) -> GenerationError:
    return GenerationError(ErrorCode.PROVIDER_UNREACHABLE, f"The model {model!r} cannot be reached.")


def _connection_error(exc: BaseException, *, model: str) -> GenerationError | None:
    """The SDK's aiohttp transport maps every aiohttp connection error that is
    not a timeout (a refused connection, a server that hung up) to httpx2's
    `ConnectTimeout`: tell them apart by the aiohttp error underneath."""
    cause = _aiohttp_cause(exc)
    if cause is None or isinstance(cause, aiohttp.ServerTimeoutError):
        return None  # timeouts are mapped right (connect, read) by the transport
    if isinstance(cause, aiohttp.ClientConnectorError):
        return _unreachable(model)
    if isinstance(exc, openai.APIConnectionError):
        return GenerationError(
            ErrorCode.PROVIDER_ERROR, "The model provider closed the connection before answering."
        )
    return GenerationError(
        ErrorCode.PROVIDER_ERROR, "The model provider broke off the answer (connection lost)."
    )


def log_detail(exc: BaseException) -> str:
    """What the worker's log says about a provider failure: the provider's own words (its
    error body, trimmed), or the error underneath. Not for people: it may name internal hosts."""
    refusal = _refusal(exc)
    if refusal is not None:
        return f"egress refused: {refusal}"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_detail(exc.body, exc.message)}"
    if isinstance(exc, ProviderStreamError):
        return f"{exc.message} {exc.detail}".strip()
    parts: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(parts) < 4:
        parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return " <- ".join(parts)


def map_provider_error(exc: BaseException, *, model: str, timeouts: ProviderTimeouts) -> GenerationError:
    """A stable code and a message for people, for anything the SDK or the
    stream raised, naming the model (`model`, as users pick it). Never a stack
    trace, the provider's address or what it answered (see `log_detail`)."""
    if isinstance(exc, ProviderStreamError):
        return GenerationError(exc.code, f"The model {model!r} failed while answering.")
    if isinstance(exc, GenerationError):
        return exc
    if _refusal(exc) is not None:
        return _unreachable(model)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if 400 <= status < 500:
            return GenerationError(
                ErrorCode.PROVIDER_REJECTED, f"The model {model!r} refused the request (HTTP {status})."
            )
        return GenerationError(ErrorCode.PROVIDER_ERROR, f"The model {model!r} failed (HTTP {status}).")
    connection_error = _connection_error(exc, model=model)
    if connection_error is not None:
        return connection_error
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        cause = exc.__cause__ if isinstance(exc, openai.APITimeoutError) else exc
        if isinstance(cause, httpx2.ConnectTimeout):
            return GenerationError(
                ErrorCode.PROVIDER_TIMEOUT,
                f"The model {model!r} did not accept a connection within {timeouts.connect_s:g} s.",
            )
        return GenerationError(
            ErrorCode.PROVIDER_TIMEOUT,
            f"The model provider did not answer within {timeouts.read_s:g} s.",
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        if cause is None or isinstance(cause, httpx2.ConnectError):
            return _unreachable(model)
        return GenerationError(
            ErrorCode.PROVIDER_ERROR, "The model provider closed the connection before answering."
        )
    if isinstance(exc, httpx2.TransportError):
        return GenerationError(
            ErrorCode.PROVIDER_ERROR, "The model provider broke off the answer (connection lost)."
        )
    if isinstance(exc, openai.OpenAIError):
        return GenerationError(ErrorCode.PROVIDER_ERROR, f"The model {model!r} failed.")
    return GenerationError(ErrorCode.GENERATION_FAILED, "The answer could not be generated.")


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
