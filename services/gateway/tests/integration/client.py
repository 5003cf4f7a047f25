"""A WebSocket client of `/ws` for the tests (the `websockets` library)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, ws_url: str) -> Client:
        return cls(await connect(ws_url, max_size=None, open_timeout=5))

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else orjson.dumps(frame).decode())

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            raw = await self.ws.recv()
        frame: dict[str, Any] = orjson.loads(raw)
        self.frames.append(frame)
        return frame

    async def expect(self, frame_type: str, timeout: float = 5.0) -> dict[str, Any]:
        frame = await self.recv(timeout)
        assert frame["type"] == frame_type, frame
        return frame

    async def hello(self, token: str, session_id: str | None = None, last_seq: int | None = None) -> str:
        await self.send({"type": "hello", "token": token, "session_id": session_id, "last_seq": last_seq})
        ready = await self.expect("ready")
        return str(ready["session_id"])

    async def prompt(
        self, model: str, *, request_id: str = "r1", text: str = "hi", **extra: Any
    ) -> dict[str, Any]:
        await self.send(
            {
                "type": "prompt",
                "request_id": request_id,
                "conversation_id": None,
                "parent_id": None,
                "model": model,
                "messages": [{"role": "user", "content": text}],
                "params": {"temperature": 0.5, "max_tokens": 64},
                **extra,
            }
        )
        return await self.recv()

    async def ping(self) -> None:
        await self.send({"type": "ping"})
        await self.expect("pong")

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Read until the server closes; the close code."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.recv(timeout)
        except ConnectionClosed:
            pass
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
