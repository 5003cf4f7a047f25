"""The HTTP transport of provider calls behind the egress guard (`parley_platform.egress`): a
host name is resolved once, every address checked, and aiohttp connects to the addresses
checked (no second lookup to rebind); an IP literal is checked before the request; redirects
are not followed."""

from __future__ import annotations

import ipaddress
import logging
import socket

import aiohttp
import httpx2
import openai
from aiohttp.abc import AbstractResolver, ResolveResult
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport

from parley_platform import egress
from parley_platform.egress import EgressPolicy, EgressRefused

log = logging.getLogger(__name__)


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
            if (refused := refusal(exc)) is not None:
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


def aiohttp_cause(exc: BaseException) -> aiohttp.ClientError | None:
    """The aiohttp error under an SDK or httpx2 one, if any."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientError):
            return cause
        cause = cause.__cause__
    return None


def refusal(exc: BaseException) -> EgressRefused | None:
    """The egress refusal under an SDK, httpx2 or aiohttp error, if any."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, EgressRefused):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None
