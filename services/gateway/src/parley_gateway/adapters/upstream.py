"""The services behind the gateway's one origin (`/api/auth/*`, `/api/history/*`),
reached over HTTP through one shared client that keeps no cookies (`stateless_client`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from parley_gateway.adapters.http import stateless_client

Service = Literal["auth", "history"]
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UpstreamNotConfigured(Exception):
    """No base URL is set for this service."""


class UpstreamUnreachable(Exception):
    """The service did not answer (refused, timed out, broken connection)."""


@dataclass(frozen=True)
class UpstreamRequest:
    method: str
    path: str
    """The path as the client sent it (`/api/auth/login`): the services serve under the same prefix."""
    query: str
    headers: list[tuple[str, str]]
    body: bytes


class Upstreams:
    """Forwards a request to a named service and hands back its streaming response.

    Never follows redirects (a 3xx goes back to the client as it is) and asks
    for an uncompressed body, so that bytes pass through unchanged.
    """

    def __init__(
        self,
        *,
        auth_url: str | None,
        history_url: str | None,
        connect_timeout_s: float,
        read_timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._bases: dict[Service, str | None] = {"auth": auth_url, "history": history_url}
        self._timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = stateless_client(timeout=self._timeout, transport=self._transport)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def open(self, service: Service, request: UpstreamRequest) -> httpx.Response:
        """The service's response with its body not read yet; the caller closes it."""
        base = self._bases.get(service)
        if base is None:
            raise UpstreamNotConfigured(service)
        url = base + request.path + (f"?{request.query}" if request.query else "")
        client = self._http()
        outgoing = client.build_request(
            request.method,
            url,
            headers=[*request.headers, ("accept-encoding", "identity")],
            content=request.body,
        )
        for attempt in (1, 2):
            try:
                return await client.send(outgoing, stream=True, follow_redirects=False)
            except httpx.RemoteProtocolError as exc:
                # Most often a kept-alive connection the service had just closed: a request
                # that is safe to repeat goes once more, on a new connection.
                if attempt == 2 or request.method not in _IDEMPOTENT:
                    raise _unreachable(exc) from exc
            except httpx.HTTPError as exc:
                raise _unreachable(exc) from exc
        raise AssertionError("unreachable")


def _unreachable(exc: httpx.HTTPError) -> UpstreamUnreachable:
    return UpstreamUnreachable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
