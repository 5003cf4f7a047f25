"""`/api/auth/*` and `/api/history/*` through a real gateway process to a real
HTTP server: streamed bodies arrive as they are written, cookies and client
addresses pass, a service that is down is a 502."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from parley_testkit import free_port
from tests.integration.conftest import GatewayProcess, spawn_gateway

LINES = 3
LINE_GAP_S = 0.4


class _Service(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        return body

    def do_GET(self) -> None:
        self._record()
        if self.path.startswith("/api/auth/events"):
            # NDJSON, written line by line with pauses (like history's audit stream).
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for n in range(LINES):
                line = json.dumps({"n": n, "at": time.monotonic()}).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                time.sleep(LINE_GAP_S)
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "23")
        self.end_headers()
        self.wfile.write(b'{"detail": "Not Found"}')

    def do_POST(self) -> None:
        body = self._record()
        answer = json.dumps({"echo": json.loads(body or b"null")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "a=1; HttpOnly; Path=/api/auth/refresh")
        self.send_header("Set-Cookie", "b=2; Path=/")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def proxying_gateway(amqp_url: str, jwks_server: Any, service: str) -> Iterator[GatewayProcess]:
    gateway = spawn_gateway(
        "gateway-proxy",
        amqp_url,
        jwks_server.jwks_url,
        PARLEY_GATEWAY_AUTH_URL=service,
        PARLEY_GATEWAY_HISTORY_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens there
    )
    try:
        gateway.process.wait_ready(f"{gateway.ops_url}/readyz", timeout=30)
        yield gateway
    finally:
        gateway.process.terminate()


async def test_a_streamed_body_arrives_line_by_line(proxying_gateway: GatewayProcess) -> None:
    arrivals: list[tuple[float, dict[str, Any]]] = []
    async with (
        httpx.AsyncClient(base_url=proxying_gateway.url, timeout=10) as http,
        http.stream("GET", "/api/auth/events?since=0") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        async for line in response.aiter_lines():
            if line:
                arrivals.append((time.monotonic(), json.loads(line)))
    assert [item["n"] for _, item in arrivals] == list(range(LINES))
    # Each line reached the client well before the service wrote the next one.
    first_at, _ = arrivals[0]
    last_written = arrivals[-1][1]["at"]
    assert first_at < last_written - LINE_GAP_S


async def test_cookies_bodies_and_the_client_address_pass(proxying_gateway: GatewayProcess) -> None:
    _Service.seen.clear()
    async with httpx.AsyncClient(base_url=proxying_gateway.url, timeout=10) as http:
        response = await http.post(
            "/api/auth/login",
            json={"email": "a@b.c"},
            headers={"Cookie": "parley_refresh=x", "X-Forwarded-For": "6.6.6.6"},
        )
        missing = await http.get("/api/auth/nothing-here")
    assert response.status_code == 200
    assert response.json() == {"echo": {"email": "a@b.c"}}
    assert response.headers.get_list("set-cookie") == ["a=1; HttpOnly; Path=/api/auth/refresh", "b=2; Path=/"]
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    login = _Service.seen[0]
    assert (login["method"], login["path"]) == ("POST", "/api/auth/login")
    assert login["headers"]["cookie"] == "parley_refresh=x"
    assert login["headers"]["x-forwarded-for"] == "127.0.0.1"


async def test_a_service_that_is_down_is_a_502(proxying_gateway: GatewayProcess) -> None:
    response = await proxying_gateway.get("/api/history/conversations")
    assert response.status_code == 502
    assert response.json() == {"detail": "the history service is unreachable"}
