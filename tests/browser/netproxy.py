"""A TCP proxy on loopback that can lose a client's network: a browser test's stand-in for
the path between a laptop and the gateway.

Every byte is forwarded both ways until `lose_websockets()`: from then on, what the server
sends on the WebSocket connections open at that moment is read and dropped, as a network
that went away does with what the server goes on writing (the server's writes succeed, the
client gets nothing). `cut()` then closes those connections, so that the client notices and
reconnects, through the proxy again. Other connections (the page, its API calls) and later
ones are forwarded as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_WEBSOCKET_REQUEST = b"GET /ws"


class _Pipe:
    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.websocket = False
        self.lost = False

    def close(self) -> None:
        for writer in (self.client, self.server):
            writer.transport.abort()


class LossyProxy:
    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lossy-proxy", daemon=True)
        self._pipes: set[_Pipe] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def running(self) -> Iterator[LossyProxy]:
        self._thread.start()
        self._call(self._start())
        try:
            yield self
        finally:
            self._call(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def lose_websockets(self) -> int:
        """Drop, from now on, what the server sends on the open WebSockets: how many there are."""
        return self._call(self._lose())

    def cut(self) -> int:
        """Close the connections whose network was lost: how many there were."""
        return self._call(self._cut())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _lose(self) -> int:
        lost = [pipe for pipe in self._pipes if pipe.websocket]
        for pipe in lost:
            pipe.lost = True
        return len(lost)

    async def _cut(self) -> int:
        lost = [pipe for pipe in self._pipes if pipe.lost]
        for pipe in lost:
            pipe.close()
        return len(lost)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            client_writer.transport.abort()
            return
        pipe = _Pipe(client_writer, server_writer)
        self._pipes.add(pipe)
        try:
            await asyncio.gather(
                self._upstream(pipe, client_reader),
                self._downstream(pipe, server_reader),
                return_exceptions=True,
            )
        finally:
            self._pipes.discard(pipe)
            pipe.close()

    async def _upstream(self, pipe: _Pipe, reader: asyncio.StreamReader) -> None:
        first = True
        while data := await reader.read(65536):
            if first:
                pipe.websocket = data.startswith(_WEBSOCKET_REQUEST)
                first = False
            pipe.server.write(data)
            await pipe.server.drain()
        pipe.close()

    async def _downstream(self, pipe: _Pipe, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(65536):
            if pipe.lost:
                continue  # read, so that the server's writes succeed, and lost
            pipe.client.write(data)
            await pipe.client.drain()
        pipe.close()
