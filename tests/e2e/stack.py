"""Processes of the stack and a WebSocket client that speaks the frames of docs/architecture.md section 7."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from parley_contracts import topology
from parley_contracts.senders import broker_user
from parley_platform import rabbit
from parley_testkit import FakeProvider, ServiceProcess, TestIssuer, free_port

ISSUER = "parley-e2e"
AUDIENCE = "parley"
MODEL = "test-model"
REFUSED_MODEL = "refused-model"
PROVIDER_READ_TIMEOUT_S = 3
AUTH_ISSUER = "parley-auth"  # the auth service's defaults, and so the gateway's
AUTH_AUDIENCE = "parley"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REFRESH_COOKIE = "parley_refresh"
ROOT = Path(__file__).resolve().parents[2]
BROKER_PERMISSIONS = ROOT / "deploy" / "rabbitmq" / "permissions.json"
BROKER_USERS_SCRIPT = ROOT / "deploy" / "docker" / "broker_users.py"
Frame = dict[str, Any]

_SERVICE_URLS: dict[str, dict[str, str]] = {}
"""The restricted AMQP URLs of each service, by the admin URL of their vhost (`broker_users`)."""


@contextlib.contextmanager
def broker_users(vhost_url: str) -> Iterator[dict[str, str]]:
    """Each service's own RabbitMQ user on the vhost of `vhost_url` (an admin's URL), with the rights
    deploy/rabbitmq/permissions.json grants it, made by deploy/docker/broker_users.py as a
    deployment makes them: their AMQP URLs by service. Every `Stack` on that vhost starts each
    process with its own. The users (named after the table's, with a suffix: users are not per
    vhost) are deleted at the end."""
    suffix = f"-e2e-{secrets.token_hex(4)}"
    table: dict[str, dict[str, Any]] = json.loads(BROKER_PERMISSIONS.read_text())["users"]
    parts = urlsplit(vhost_url)
    host = f"{parts.hostname}:{parts.port or 5672}"
    urls = {
        service: urlunsplit(
            parts._replace(netloc=f"{quote(entry['user'] + suffix)}:{secrets.token_hex(16)}@{host}")
        )
        for service, entry in table.items()
    }
    env = {**os.environ, **{f"PARLEY_BROKER_URL_{service.upper()}": url for service, url in urls.items()}}
    ctl = shutil.which("rabbitmqctl")
    args = [sys.executable, str(BROKER_USERS_SCRIPT), str(BROKER_PERMISSIONS), f"--user-suffix={suffix}"]
    if ctl is not None:
        args.append("--rabbitmqctl")
    else:
        admin = f"{parts.username or 'guest'}:{parts.password or 'guest'}@{parts.hostname}"
        env["RABBITMQ_MANAGEMENT_URL"] = f"http://{admin}:15672"
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # As the deployment's set-up does (rabbitmqctl declares nothing): no service may bind it.
    # On a thread of its own: a caller may run an event loop (the browser suite does).
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, _declare_audit_stream(vhost_url)).result()
    _SERVICE_URLS[vhost_url] = urls
    try:
        yield urls
    finally:
        del _SERVICE_URLS[vhost_url]
        for entry in table.values():
            _delete_broker_user(entry["user"] + suffix, ctl=ctl, admin_url=vhost_url)


async def _declare_audit_stream(admin_url: str) -> None:
    connection = await aio_pika.connect(admin_url)
    async with connection:
        await rabbit.declare(await connection.channel(), topology.AUDIT_EVENTS)


def _delete_broker_user(user: str, *, ctl: str | None, admin_url: str) -> None:
    if ctl is not None:
        subprocess.run([ctl, "-q", "delete_user", user], capture_output=True, check=False)
        return
    parts = urlsplit(admin_url)
    request = urllib.request.Request(
        f"http://{parts.hostname}:15672/api/users/{quote(user, safe='')}", method="DELETE"
    )
    login = f"{parts.username or 'guest'}:{parts.password or 'guest'}"
    request.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    with contextlib.suppress(OSError):
        urllib.request.urlopen(request, timeout=10).close()


def service_urls(vhost_url: str) -> dict[str, str]:
    """The restricted AMQP URLs `broker_users` made for the vhost of `vhost_url`."""
    urls = _SERVICE_URLS.get(vhost_url)
    assert urls is not None, f"no broker users on {vhost_url}: open broker_users(vhost_url) first"
    return urls


def write_models_file(path: Path, base_url: str) -> Path:
    refused = f"http://127.0.0.1:{free_port()}/v1"
    path.write_text(
        "models:\n"
        f"  - name: {MODEL}\n    base_url: {base_url}\n    model: test-model\n"
        "    max_tokens: 1024\n    context_window: 8192\n"
        f"  - name: {REFUSED_MODEL}\n    base_url: {refused}\n    model: test-model\n"
        "    max_tokens: 1024\n    context_window: 8192\n"
    )
    return path


@dataclass
class Gateway:
    process: ServiceProcess
    port: int
    ops_port: int
    """`/healthz`, `/readyz` and `/metrics`: not on the public port."""

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@dataclass
class Auth:
    process: ServiceProcess
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.http}/api/auth/jwks.json"


@dataclass
class History:
    process: ServiceProcess
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database on DATABASE_URL's server (psql), dropped at the end: its URL."""
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    name = f"{prefix}_{secrets.token_hex(5)}"

    def psql(sql: str) -> None:
        subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)

    psql(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(module: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@contextlib.contextmanager
def platform(
    name: str,
    stack: Stack,
    *,
    history: bool = True,
    worker: bool = True,
    auth_env: dict[str, str] | None = None,
    history_env: dict[str, str] | None = None,
    worker_env: dict[str, str] | None = None,
    gateway_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """`stack` with auth on a fresh database, history on another, a worker, and a gateway that
    trusts auth and routes to both (`history`, `worker`: False leaves that one out); each
    `*_env` is that process's extra environment. Afterwards the processes are stopped and the
    databases dropped."""
    with contextlib.ExitStack() as cleanup:
        auth_db = cleanup.enter_context(postgres_database(f"parley_e2e_{name}_auth"))
        history_db = (
            cleanup.enter_context(postgres_database(f"parley_e2e_{name}_history")) if history else None
        )
        cleanup.callback(stack.close)
        stack.start_auth(auth_db, **(auth_env or {}))
        if history_db is not None:
            stack.start_history(history_db, **(history_env or {}))
        if worker:
            stack.start_worker(**(worker_env or {}))
        gateway = stack.start_gateway(**(gateway_env or {}))
        if worker:
            stack.wait_models(gateway, workers=1)
        yield stack


LOOPBACK = "127.0.0.0/8,::1"
BOOTSTRAP_TOKEN = "e2e-bootstrap-token-for-the-first-admin"
HISTORY_AUDIT_KEY = "parley-e2e-history-audit-key-0123456789abcdef"


@dataclass
class Stack:
    amqp_url: str
    provider: FakeProvider
    issuer: TestIssuer
    models_file: Path
    gateways: list[Gateway] = field(default_factory=list)
    workers: list[ServiceProcess] = field(default_factory=list)
    auth: Auth | None = None
    history: History | None = None
    service_urls: dict[str, str] = field(init=False)
    """Each service's AMQP URL: its own restricted user on `amqp_url`'s vhost (`broker_users`).
    `amqp_url` itself is an administrator's, for the tests' own looks at the broker."""

    def __post_init__(self) -> None:
        self.service_urls = service_urls(self.amqp_url)

    def _env(self, service: str) -> dict[str, str]:
        return {
            "AMQP_URL": self.service_urls[service],
            "PARLEY_BROKER_USERS": ",".join(
                f"{s}={broker_user(url)}" for s, url in self.service_urls.items()
            ),
            "PARLEY_MODELS_FILE": str(self.models_file),
            "PARLEY_GATEWAY_JWKS_URL": self.provider.jwks_url,
            "PARLEY_GATEWAY_JWT_ISSUER": ISSUER,
            "PARLEY_GATEWAY_JWT_AUDIENCE": AUDIENCE,
            "PARLEY_INFERENCE_HEARTBEAT_INTERVAL_S": "0.5",
            "PARLEY_INFERENCE_PROVIDER_READ_TIMEOUT_S": str(PROVIDER_READ_TIMEOUT_S),
            "PARLEY_INFERENCE_PROVIDER_MAX_RETRIES": "0",
            "PARLEY_INFERENCE_SHUTDOWN_GRACE_S": "10",
            # The test providers listen on this host: the egress guards must allow it.
            "PARLEY_INFERENCE_EGRESS_ALLOW": LOOPBACK,
            "PARLEY_AUTH_CATALOG_EGRESS_ALLOW": LOOPBACK,
        }

    def start_worker(self, **env: str) -> ServiceProcess:
        name = f"worker-{len(self.workers) + 1}"
        worker = ServiceProcess(
            [sys.executable, "-m", "parley_inference"],
            {**self._env("inference"), "PARLEY_INFERENCE_WORKER_ID": name, **env},
            name=name,
        )
        worker.start()
        worker.wait_log("serving models", timeout=30)
        self.workers.append(worker)
        return worker

    def start_auth(self, database_url: str, **env: str) -> Auth:
        """The auth service on `database_url` (migrated here first); later gateways trust its
        keys and route `/api/auth/*` to it."""
        port = free_port()
        auth_env = {
            **self._env("auth"),
            "PARLEY_AUTH_DATABASE_URL": database_url,
            "PARLEY_AUTH_PORT": str(port),
            # Cheap hashes: the tests log in often, the parameters are not what they test.
            "PARLEY_AUTH_ARGON2_TIME_COST": "1",
            "PARLEY_AUTH_ARGON2_MEMORY_KIB": "1024",
            "PARLEY_AUTH_ARGON2_PARALLELISM": "1",
            # The operator's way to the first admin (`register_and_login` presents it for
            # ADMIN_EMAIL); and every test client registers from this one address.
            "PARLEY_AUTH_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
            "PARLEY_AUTH_REGISTER_MAX_PER_IP": "100000",
            **env,
        }
        _migrate("parley_auth", auth_env)
        process = ServiceProcess([sys.executable, "-m", "parley_auth"], auth_env, name="auth")
        process.start()
        auth = Auth(process, port)
        process.wait_ready(f"{auth.http}/readyz", timeout=30)
        self.auth = auth
        return auth

    def start_history(self, database_url: str, **env: str) -> History:
        """The history service (REST and its event consumer) on `database_url`, migrated
        here first; it trusts the same keys as the gateways, and later gateways route
        `/api/history/*` to it."""
        port = free_port()
        jwks_url = self.auth.jwks_url if self.auth is not None else self.provider.jwks_url
        issuer, audience = (AUTH_ISSUER, AUTH_AUDIENCE) if self.auth is not None else (ISSUER, AUDIENCE)
        history_env = {
            **self._env("history"),
            "PARLEY_HISTORY_DATABASE_URL": database_url,
            "PARLEY_HISTORY_PORT": str(port),
            "PARLEY_HISTORY_JWKS_URL": jwks_url,
            "PARLEY_HISTORY_JWT_ISSUER": issuer,
            "PARLEY_HISTORY_JWT_AUDIENCE": audience,
            "PARLEY_HISTORY_AUDIT_KEY": HISTORY_AUDIT_KEY,
            **env,
        }
        _migrate("parley_history", history_env)
        process = ServiceProcess(
            [sys.executable, "-m", "parley_history", "serve"], history_env, name="history"
        )
        process.start()
        history = History(process, port)
        process.wait_ready(f"{history.http}/readyz", timeout=30)
        self.history = history
        return history

    def start_gateway(self, **env: str) -> Gateway:
        port, ops_port = free_port(), free_port()
        auth_env: dict[str, str] = {}
        if self.auth is not None:
            auth_env = {
                "PARLEY_GATEWAY_JWKS_URL": self.auth.jwks_url,
                "PARLEY_GATEWAY_JWT_ISSUER": AUTH_ISSUER,
                "PARLEY_GATEWAY_JWT_AUDIENCE": AUTH_AUDIENCE,
                "PARLEY_GATEWAY_AUTH_URL": self.auth.http,
            }
        if self.history is not None:
            auth_env["PARLEY_GATEWAY_HISTORY_URL"] = self.history.http
        process = ServiceProcess(
            [sys.executable, "-m", "parley_gateway"],
            {
                **self._env("gateway"),
                **auth_env,
                "PORT": str(port),
                "PARLEY_GATEWAY_OPS_PORT": str(ops_port),
                **env,
            },
            name=f"gateway-{len(self.gateways) + 1}",
        )
        process.start()
        gateway = Gateway(process, port, ops_port)
        process.wait_ready(f"{gateway.ops}/readyz", timeout=30)
        self.gateways.append(gateway)
        return gateway

    def wait_models(
        self, gateway: Gateway, *, workers: int, model: str = MODEL, timeout: float = 15
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        models: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{gateway.http}/api/models", timeout=2) as response:
                models = json.load(response)["models"]
            served = {m["name"]: m for m in models}
            if model in served and served[model]["workers"] >= workers:
                return models
            time.sleep(0.1)
        raise AssertionError(f"the gateway never listed {model} on {workers} live worker(s): {models}")

    def token(self, user: str = "alice", **kwargs: Any) -> str:
        return self.issuer.token(user, **kwargs)

    def close(self) -> None:
        services = [s.process for s in (self.auth, self.history) if s is not None]
        for process in [*(g.process for g in self.gateways), *self.workers, *services]:
            if process.running:
                process.terminate(timeout=10)


class Client:
    """One browser tab: a socket, the frames it received, its session."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self.session_id: str | None = None

    @classmethod
    async def connect(
        cls, gateway: Gateway, token: str, *, session_id: str | None = None, last_seq: int | None = None
    ) -> Client:
        ws = await websockets.connect(gateway.ws, max_size=None)
        client = cls(ws)
        await client.send({"type": "hello", "token": token, "session_id": session_id, "last_seq": last_seq})
        ready = await client.recv()
        assert ready["type"] == "ready", ready
        client.session_id = ready["session_id"]
        return client

    async def send(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 10) -> Frame:
        frame: Frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def prompt(self, text: str, *, model: str = MODEL, **params: Any) -> Frame:
        """Send a prompt; return the `accepted` frame (or the `error`)."""
        request_id = str(uuid.uuid4())
        await self.send(
            {
                "type": "prompt",
                "request_id": request_id,
                "conversation_id": None,
                "parent_id": None,
                "model": model,
                "messages": [{"role": "user", "content": text}],
                "params": params,
            }
        )
        while True:
            frame = await self.recv()
            if frame.get("request_id") == request_id and frame["type"] in {"accepted", "error"}:
                return frame

    async def until(self, message_id: str, *, timeout: float = 20) -> list[Frame]:
        """Frames of `message_id` up to and including its `done` or `error`."""
        deadline = asyncio.get_running_loop().time() + timeout
        frames: list[Frame] = []
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            frame = await self.recv(timeout=max(remaining, 0.01))
            if frame.get("message_id") != message_id:
                continue
            frames.append(frame)
            if frame["type"] in {"done", "error"}:
                return frames

    async def close(self) -> None:
        await self.ws.close()


def jwt_claims(access_token: str) -> dict[str, Any]:
    """The payload of a JWT, read without verifying it (the services verify; tests only read)."""
    payload = access_token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def refresh_cookie(response: httpx.Response) -> str | None:
    """The refresh cookie a response sets; None when it sets none or only clears it."""
    cookie: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookie.load(header)
    morsel = cookie.get(REFRESH_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def answer_text(frames: list[Frame]) -> str:
    """What a client shows: snapshots replace, restarts clear, deltas append."""
    text = ""
    for frame in frames:
        if frame["type"] == "snapshot":
            text = frame["text"]
        elif frame["type"] == "restart":
            text = ""
        elif frame["type"] == "delta":
            text += frame["text"]
    return text
