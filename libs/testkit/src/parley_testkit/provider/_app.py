"""The aiohttp application behind FakeProvider; runs on the provider's own loop."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from parley_testkit.provider._chunks import (
    DONE,
    ChunkEncoder,
    completion_body,
    error_body,
    usage_for,
)
from parley_testkit.provider._script import RecordedRequest, Script, default_script

if TYPE_CHECKING:
    from parley_testkit.jwt import TestIssuer

MODEL_ID = "test-model"
_JSON = "application/json"


class ProviderState:
    """What the test thread and the server thread share."""

    def __init__(self, issuer: TestIssuer | None) -> None:
        self.script: Callable[[dict[str, Any]], Script] = default_script
        self.issuer = issuer
        self.closing = False
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self.open_requests = 0
        self.peak_open_requests = 0
        """The most chat-completions requests open at once since the last `clear`."""

    def record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self.peak_open_requests = self.open_requests

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        with self._lock:
            self.open_requests += 1
            self.peak_open_requests = max(self.peak_open_requests, self.open_requests)
        try:
            yield
        finally:
            with self._lock:
                self.open_requests -= 1

    def disconnected(self, record: RecordedRequest) -> None:
        # A cancellation caused by our own shutdown is not the client leaving.
        if not self.closing and not record.completed and record.disconnected_at is None:
            record.disconnected_at = time.monotonic()


def build_app(state: ProviderState) -> web.Application:
    handlers = _Handlers(state)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handlers.chat_completions)
    app.router.add_get("/v1/models", handlers.models)
    app.router.add_get("/jwks.json", handlers.jwks)
    return app


class _Handlers:
    def __init__(self, state: ProviderState) -> None:
        self._state = state

    async def models(self, _request: web.Request) -> web.Response:
        body = {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "parley-testkit"}],
        }
        return web.Response(body=orjson.dumps(body), content_type=_JSON)

    async def jwks(self, _request: web.Request) -> web.Response:
        issuer = self._state.issuer
        if issuer is None:
            raise web.HTTPNotFound(text="no issuer configured")
        return web.Response(body=orjson.dumps(issuer.jwks()), content_type=_JSON)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        with self._state.opened():
            return await self._chat_completions(request)

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        received_at = time.monotonic()
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        record = RecordedRequest(
            body=body,
            headers={key.lower(): value for key, value in request.headers.items()},
            received_at=received_at,
        )
        self._state.record(record)
        script = self._state.script(body)
        if script.hang:
            return await self._hang(record)
        if script.status != 200:
            record.complete()
            return _error(script.status)
        if body.get("stream"):
            return await self._stream(request, body, script, record)
        return await self._complete(body, script, record)

    async def _hang(self, record: RecordedRequest) -> web.StreamResponse:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self._state.disconnected(record)
            raise
        raise AssertionError("unreachable")

    async def _stream(
        self, request: web.Request, body: dict[str, Any], script: Script, record: RecordedRequest
    ) -> web.StreamResponse:
        tokens, finish_reason = _limited(script, body)
        encoder = ChunkEncoder(_completion_id(), int(time.time()), str(body.get("model", MODEL_ID)))
        stream_options = body.get("stream_options") or {}
        send_usage = script.include_usage and bool(stream_options.get("include_usage"))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        loop = asyncio.get_running_loop()
        # The record is updated before each write, since the client may read the bytes before
        # this task resumes; `sent` and `done` undo that when a write fails.
        sent, done = 0, False
        try:
            await response.prepare(request)
            # Deadlines are absolute so that the token rate does not drift with write costs.
            due = loop.time() + script.first_delay_s
            for index, token in enumerate(tokens):
                await _sleep_until(loop, due)
                chunk = encoder.token(token)
                record.tokens_sent = sent + 1
                await response.write(encoder.role() + chunk if index == 0 else chunk)
                sent += 1
                due += script.delay_s
            if not tokens:
                await _sleep_until(loop, due)
                await response.write(encoder.role())
            tail = encoder.finish(finish_reason)
            if send_usage:
                tail += encoder.usage(usage_for(body, len(tokens)))
            record.complete()
            await response.write(tail + DONE)
            done = True
            await response.write_eof()
        except asyncio.CancelledError:
            self._state.disconnected(record)
            raise
        except ConnectionError:
            record.tokens_sent, record.completed = sent, done
            self._state.disconnected(record)
        return response

    async def _complete(self, body: dict[str, Any], script: Script, record: RecordedRequest) -> web.Response:
        tokens, finish_reason = _limited(script, body)
        # Take as long as the equivalent stream would have.
        duration = script.first_delay_s + script.delay_s * max(0, len(tokens) - 1)
        try:
            await asyncio.sleep(duration)
        except asyncio.CancelledError:
            self._state.disconnected(record)
            raise
        payload = completion_body(
            _completion_id(),
            int(time.time()),
            str(body.get("model", MODEL_ID)),
            text="".join(tokens),
            finish_reason=finish_reason,
            usage=usage_for(body, len(tokens)),
        )
        record.tokens_sent = len(tokens)
        record.complete()
        return web.Response(body=payload, content_type=_JSON)


def _limited(script: Script, body: dict[str, Any]) -> tuple[list[str], str]:
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and 0 <= limit < len(script.tokens):
        return script.tokens[:limit], "length"
    return script.tokens, script.finish_reason


async def _sleep_until(loop: asyncio.AbstractEventLoop, due: float) -> None:
    delay = due - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


def _completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def _error(status: int, message: str | None = None) -> web.Response:
    return web.Response(status=status, body=error_body(status, message), content_type=_JSON)
