"""What goes out on one `/ws` socket, and the metrics of it.

Frames are sent from two places (the socket's own answers, and the session relay's stream
frames) under one lock, so that every frame goes out whole and stream frames get
consecutive session seqs. Nothing is sent once the socket is closing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import orjson
from starlette.websockets import WebSocket

from parley_gateway.adapters.metrics import GatewayMetrics
from parley_gateway.domain.clock import Clock
from parley_gateway.domain.errors import GatewayError
from parley_gateway.domain.frames import error_frame
from parley_gateway.domain.socket_session import SocketSession
from parley_gateway.domain.stream import DeltaFrame, StreamErrorFrame, StreamFrame


class SocketWriter:
    def __init__(
        self,
        websocket: WebSocket,
        session: SocketSession,
        *,
        metrics: GatewayMetrics,
        clock: Clock,
        on_gone: Callable[[], None],
    ) -> None:
        """`on_gone`: a send failed, the client is gone."""
        self._ws = websocket
        self._session = session
        self._metrics = metrics
        self._clock = clock
        self._on_gone = on_gone
        self._lock = asyncio.Lock()
        self._accepted_at: dict[UUID, float] = {}

    async def send(self, frame: dict[str, Any]) -> bool:
        if self._session.closing:
            return False
        text = orjson.dumps(frame).decode()
        async with self._lock:
            try:
                await self._ws.send_text(text)
            except Exception:
                self._on_gone()
                return False
        return True

    async def send_error(self, error: GatewayError) -> None:
        self._metrics.error_frames.labels(code=str(error.code)).inc()
        await self.send(error_frame(error))

    async def send_stream(self, frames: Sequence[StreamFrame]) -> bool:
        """`StreamSink`: number the frames with the session seq and send them."""
        async with self._lock:
            for frame in frames:
                if self._session.closing:
                    return False
                text = orjson.dumps(self._session.number(frame)).decode()
                try:
                    await self._ws.send_text(text)
                except Exception:
                    self._on_gone()
                    return False
                self._count(frame)
        return True

    # Time to first token: from `accepted` to the message's first delta on this socket.

    def accepted(self, message_id: UUID) -> None:
        self._accepted_at[message_id] = self._clock()

    def ended(self, message_id: UUID) -> None:
        self._accepted_at.pop(message_id, None)

    def detached(self) -> None:
        self._accepted_at.clear()

    def _count(self, frame: StreamFrame) -> None:
        self._metrics.stream_frame(type(frame).__name__).inc()
        if isinstance(frame, DeltaFrame):
            self._metrics.delta_frames.inc()
            started = self._accepted_at.pop(frame.message_id, None)
            if started is not None:
                self._metrics.ttft.observe(self._clock() - started)
        elif isinstance(frame, StreamErrorFrame):
            self._metrics.error_frames.labels(code=frame.code).inc()
