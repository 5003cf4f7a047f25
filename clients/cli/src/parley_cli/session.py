"""One WebSocket session with a Parley gateway, spoken as docs/architecture.md section 7 says."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

Frame = dict[str, Any]


class ChatError(Exception):
    """The gateway refused or a generation failed: `code` is the stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Output(Protocol):
    def text(self, chunk: str) -> None: ...
    def restart(self) -> None: ...


@dataclass
class Answer:
    message_id: str
    conversation_id: str
    text: str
    finish_reason: str
    usage: dict[str, Any]
    metrics: dict[str, Any]


@dataclass
class Turn:
    """What the next prompt carries: model, parameters and the conversation so far."""

    model: str
    messages: list[dict[str, str]]
    params: dict[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None
    parent_id: str | None = None


def ws_url(base: str) -> str:
    base = base.rstrip("/")
    if base.startswith(("ws://", "wss://")):
        return base if base.endswith("/ws") else f"{base}/ws"
    scheme, _, rest = base.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws"


class ChatSession:
    def __init__(self, ws: ClientConnection, session_id: str) -> None:
        self._ws = ws
        self.session_id = session_id
        self._running: str | None = None
        self._stop_requested = False

    @classmethod
    async def open(cls, url: str, token: str) -> ChatSession:
        try:
            ws = await connect(ws_url(url), max_size=None, open_timeout=10)
        except OSError as exc:
            raise ChatError("unreachable", f"cannot connect to {ws_url(url)}: {exc}") from exc
        await ws.send(
            orjson.dumps({"type": "hello", "token": token, "session_id": None, "last_seq": None}).decode()
        )
        frame = await cls._read(ws)
        if frame.get("type") != "ready":
            await ws.close()
            raise ChatError(str(frame.get("code", "refused")), str(frame.get("message", frame)))
        return cls(ws, str(frame["session_id"]))

    @staticmethod
    async def _read(ws: ClientConnection) -> Frame:
        try:
            raw = await ws.recv()
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "connection closed"
            raise ChatError("closed", f"the gateway closed the connection ({reason})") from exc
        frame: Frame = orjson.loads(raw)
        return frame

    async def _send(self, frame: Frame) -> None:
        await self._ws.send(orjson.dumps(frame).decode())

    async def ask(self, turn: Turn, out: Output) -> Answer:
        """Send one prompt and stream its answer to `out` until it ends."""
        request_id = str(uuid.uuid4())
        self._stop_requested = False
        await self._send(
            {
                "type": "prompt",
                "request_id": request_id,
                "conversation_id": turn.conversation_id,
                "parent_id": turn.parent_id,
                "model": turn.model,
                "messages": turn.messages,
                "params": turn.params,
            }
        )
        conversation_id = turn.conversation_id or ""
        try:
            while True:
                frame = await self._read(self._ws)
                kind = frame.get("type")
                if kind == "error" and frame.get("request_id") == request_id:
                    raise ChatError(frame["code"], frame["message"])
                if kind == "accepted" and frame.get("request_id") == request_id:
                    self._running = frame["message_id"]
                    conversation_id = frame["conversation_id"]
                    if self._stop_requested:
                        await self.stop()
                    continue
                if frame.get("message_id") != self._running:
                    continue
                if kind == "delta":
                    out.text(frame["text"])
                elif kind == "snapshot":
                    out.restart()
                    out.text(frame["text"])
                elif kind == "restart":
                    out.restart()
                elif kind == "error":
                    raise ChatError(frame["code"], frame["message"])
                elif kind == "done":
                    return Answer(
                        message_id=frame["message_id"],
                        conversation_id=conversation_id,
                        text=frame["text"],
                        finish_reason=frame["finish_reason"],
                        usage=frame.get("usage") or {},
                        metrics=frame.get("metrics") or {},
                    )
        finally:
            self._running = None

    async def stop(self) -> None:
        """Stop the running generation (or the next one, once accepted)."""
        self._stop_requested = True
        if self._running is not None:
            await self._send({"type": "stop", "message_id": self._running})

    async def close(self) -> None:
        await self._ws.close()
