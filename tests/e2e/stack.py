"""Processes of the stack and a WebSocket client that speaks DESIGN section 7."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from parley_testkit import FakeProvider, ServiceProcess, TestIssuer, free_port

ISSUER = "parley-e2e"
AUDIENCE = "parley"
MODEL = "test-model"
REFUSED_MODEL = "refused-model"
PROVIDER_READ_TIMEOUT_S = 3
Frame = dict[str, Any]


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

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@dataclass
class Stack:
    amqp_url: str
    provider: FakeProvider
    issuer: TestIssuer
    models_file: Path
    gateways: list[Gateway] = field(default_factory=list)
    workers: list[ServiceProcess] = field(default_factory=list)

    def _env(self) -> dict[str, str]:
        return {
            "AMQP_URL": self.amqp_url,
            "PARLEY_MODELS_FILE": str(self.models_file),
            "PARLEY_GATEWAY_JWKS_URL": self.provider.jwks_url,
            "PARLEY_GATEWAY_JWT_ISSUER": ISSUER,
            "PARLEY_GATEWAY_JWT_AUDIENCE": AUDIENCE,
            "PARLEY_INFERENCE_HEARTBEAT_INTERVAL_S": "0.5",
            "PARLEY_INFERENCE_PROVIDER_READ_TIMEOUT_S": str(PROVIDER_READ_TIMEOUT_S),
            "PARLEY_INFERENCE_PROVIDER_MAX_RETRIES": "0",
            "PARLEY_INFERENCE_SHUTDOWN_GRACE_S": "10",
        }

    def start_worker(self, **env: str) -> ServiceProcess:
        name = f"worker-{len(self.workers) + 1}"
        worker = ServiceProcess(
            [sys.executable, "-m", "parley_inference"],
            {**self._env(), "PARLEY_INFERENCE_WORKER_ID": name, **env},
            name=name,
        )
        worker.start()
        worker.wait_log("serving models", timeout=30)
        self.workers.append(worker)
        return worker

    def start_gateway(self) -> Gateway:
        port = free_port()
        process = ServiceProcess(
            [sys.executable, "-m", "parley_gateway"],
            {**self._env(), "PORT": str(port)},
            name=f"gateway-{len(self.gateways) + 1}",
        )
        process.start()
        gateway = Gateway(process, port)
        process.wait_ready(f"{gateway.http}/readyz", timeout=30)
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
        for process in [*(g.process for g in self.gateways), *self.workers]:
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
