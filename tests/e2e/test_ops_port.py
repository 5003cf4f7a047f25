"""The gateway's operations endpoints (`/healthz`, `/readyz`, `/metrics`) are on its operations
port only: the public origin, which the Ingress exposes to everyone, does not serve them."""

from __future__ import annotations

import httpx

from .stack import Stack

OPS = ("/healthz", "/readyz", "/metrics")


async def test_the_public_port_does_not_serve_the_operations_endpoints(stack: Stack) -> None:
    gateway = stack.gateways[0]
    async with httpx.AsyncClient(timeout=10) as http:
        for path in OPS:
            public = await http.get(f"{gateway.http}{path}")
            assert public.status_code == 404, (path, public.text[:200])
            assert "parley_" not in public.text
        # The public routes are still there.
        assert (await http.get(f"{gateway.http}/api/models")).status_code == 200


async def test_the_operations_port_serves_probes_and_metrics(stack: Stack) -> None:
    gateway = stack.gateways[0]
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{gateway.ops}/healthz")).json() == {"status": "ok"}
        assert (await http.get(f"{gateway.ops}/readyz")).json() == {"status": "ready"}
        metrics = await http.get(f"{gateway.ops}/metrics")
        assert metrics.status_code == 200
        assert "parley_gateway_open_sockets" in metrics.text
        # Nothing else: the chat, the APIs and the frontend are on the public port only.
        for path in ("/api/models", "/ws", "/v1/models", "/"):
            assert (await http.get(f"{gateway.ops}{path}")).status_code == 404, path
