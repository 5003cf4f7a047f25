"""`/api/auth/*` and `/api/history/*`: passed through to those services, so
the browser sees one origin (in Kubernetes the Ingress routes them instead)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from parley_gateway.adapters.upstream import (
    Service,
    UpstreamNotConfigured,
    UpstreamRequest,
    UpstreamUnreachable,
)
from parley_gateway.deps import GatewayDep

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_REQUEST_HEADERS = ("authorization", "cookie", "content-type", "accept", "accept-language", "user-agent")
_RESPONSE_HEADERS = (
    "allow",
    "content-type",
    "cache-control",
    "retry-after",
    "www-authenticate",
    "location",
    "content-disposition",
)
_COOKIE_AUTHENTICATED = frozenset({"/api/auth/refresh", "/api/auth/logout"})
"""Where the refresh cookie alone can act: a browser on another site must not get there."""
_SETTINGS: dict[Service, str] = {"auth": "PARLEY_GATEWAY_AUTH_URL", "history": "PARLEY_GATEWAY_HISTORY_URL"}

proxy_routes = APIRouter()


async def _forward(service: Service, request: Request, gateway: GatewayDep) -> Response:
    if request.url.path in _COOKIE_AUTHENTICATED and not gateway.origins.admits(request.headers):
        return JSONResponse({"detail": "a request from another site is refused"}, status_code=403)
    body = await _body(request)
    if body is None:
        return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
    if any(segment in (".", "..") for segment in request.url.path.split("/")):
        # A service must not be reached outside its prefix (`/api/auth/../metrics`).
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    headers = [(k, v) for k, v in request.headers.items() if k in _REQUEST_HEADERS]
    # Replaces whatever the client claimed: the service trusts this header from the gateway only.
    headers.append(("x-forwarded-for", request.client.host if request.client else "unknown"))
    # The path as the client encoded it (`%2F` stays `%2F`).
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.url.path
    outgoing = UpstreamRequest(request.method, path, request.url.query, headers, body)
    try:
        upstream = await gateway.upstreams.open(service, outgoing)
    except UpstreamNotConfigured:
        return JSONResponse(
            {"detail": f"the {service} service is not configured ({_SETTINGS[service]})"}, status_code=503
        )
    except UpstreamUnreachable as exc:
        log.warning(
            "%s %s: the %s service did not answer: %s", request.method, request.url.path, service, exc
        )
        return JSONResponse({"detail": f"the {service} service is unreachable"}, status_code=502)
    response = StreamingResponse(
        _relay(upstream, service),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    for name in _RESPONSE_HEADERS:
        if name in upstream.headers:
            response.headers[name] = upstream.headers[name]
    for cookie in upstream.headers.get_list("set-cookie"):
        response.headers.append("set-cookie", cookie)
    return response


async def _body(request: Request) -> bytes | None:
    """The request body, or None past `MAX_BODY_BYTES` (read no further than that)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


async def _relay(upstream: httpx.Response, service: str) -> AsyncIterator[bytes]:
    try:
        # Decoded bytes: should a service compress anyway, the client gets plain bytes (and no
        # Content-Encoding or Content-Length of the compressed form).
        async for chunk in upstream.aiter_bytes():
            yield chunk
    except httpx.HTTPError as exc:
        # The status line is gone already: all the client can learn is a cut-short body.
        log.warning("the %s service's response broke off: %s: %s", service, type(exc).__name__, exc)
    finally:
        await upstream.aclose()


@proxy_routes.api_route("/api/auth/{path:path}", methods=_METHODS, include_in_schema=False)
async def auth_proxy(request: Request, gateway: GatewayDep) -> Response:
    return await _forward("auth", request, gateway)


@proxy_routes.api_route("/api/history/{path:path}", methods=_METHODS, include_in_schema=False)
async def history_proxy(request: Request, gateway: GatewayDep) -> Response:
    return await _forward("history", request, gateway)
