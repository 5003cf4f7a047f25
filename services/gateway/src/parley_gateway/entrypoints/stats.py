"""`GET /api/stats` (admins): tokens and cost per day, model and user (auth's
ledger, last `days`), TTFT and tokens/s percentiles (the finished answers this
gateway saw), live workers, generations in flight and the model queues' depth."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from parley_gateway.adapters.upstream import UpstreamNotConfigured, UpstreamRequest, UpstreamUnreachable
from parley_gateway.bootstrap import Gateway
from parley_gateway.deps import GatewayDep
from parley_gateway.domain.errors import AuthUnavailable, GatewayError
from parley_gateway.services import reports

log = logging.getLogger(__name__)

stats_routes = APIRouter()

_USAGE_ROWS = 1000


async def _usage_rows(
    gateway: Gateway, authorization: str, days: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Auth's usage ledger since `days` ago, with the admin's own credential; or why not."""
    since = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days - 1)).isoformat()
    request = UpstreamRequest(
        method="GET",
        path="/api/auth/usage",
        query=f"since={since}&limit={_USAGE_ROWS}",
        headers=[("authorization", authorization)],
        body=b"",
    )
    try:
        response = await gateway.upstreams.open("auth", request)
    except (UpstreamNotConfigured, UpstreamUnreachable) as exc:
        log.warning("stats: the usage ledger is unavailable: %s", exc)
        return [], "the auth service is unavailable"
    try:
        body = await response.aread()
    finally:
        await response.aclose()
    if response.status_code != 200:
        return [], f"the auth service answered HTTP {response.status_code}"
    rows: list[dict[str, Any]] = orjson.loads(body)["usage"]
    return rows, None


@stats_routes.get("/api/stats")
async def stats(
    request: Request, gateway: GatewayDep, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> Response:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return JSONResponse({"detail": "an access token is required"}, status_code=401)
    try:
        principal = await gateway.verifier.verify(token.strip())
    except GatewayError as error:
        # Not the client's fault when no token can be checked (auth's keys out of reach).
        status = 503 if isinstance(error, AuthUnavailable) else 401
        return JSONResponse({"detail": error.message}, status_code=status)
    if principal.role != "admin":
        return JSONResponse({"detail": "admins only"}, status_code=403)
    rows, usage_error = await _usage_rows(gateway, authorization, days)
    body = await reports.admin_stats(
        rows, registry=gateway.registry, latency=gateway.latency, queues=gateway.queues
    )
    body.update(
        {"days": days, "usage_error": usage_error, "generated_at": dt.datetime.now(dt.UTC).isoformat()}
    )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
