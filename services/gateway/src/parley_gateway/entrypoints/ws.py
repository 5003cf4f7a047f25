"""`/ws`: one client socket (docs/architecture.md section 7).

The socket reads frames in one task and sends from two places (its own
answers, and the session relay's stream frames) under one lock, so that
every frame goes out whole and stream frames get consecutive session seqs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from starlette.websockets import WebSocket

from parley_contracts import new_id
from parley_gateway import services
from parley_gateway.bootstrap import Gateway
from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import BrokerUnavailable, CloseCode, ErrorCode, GatewayError
from parley_gateway.domain.frames import (
    Hello,
    Ping,
    Prompt,
    Resume,
    Stop,
    accepted_frame,
    error_frame,
    parse_frame,
    pong_frame,
    ready_frame,
)
from parley_gateway.domain.limits import EventWindow
from parley_gateway.domain.sessions import new_owned_id, new_session_id, owns, resync_request_id
from parley_gateway.domain.stream import DeltaFrame, StreamErrorFrame, StreamFrame
from parley_gateway.ports import Subscription
from parley_gateway.relay import SessionRelay
from parley_platform.telemetry import bind_log_context, log_context

log = logging.getLogger(__name__)
# WebSocket frames have no instrumentation library: a prompt's trace starts here, and the
# broker middleware carries it on with `prompt.submitted`.
_tracer = trace.get_tracer(__name__)


class _Gone(Exception):
    """The client disconnected."""


class ClientConnection:
    def __init__(self, websocket: WebSocket, gateway: Gateway) -> None:
        self._ws = websocket
        self._gw = gateway
        self._settings = gateway.settings
        self._metrics = gateway.metrics
        self._send_lock = asyncio.Lock()
        self._seq = 0
        self._principal: Principal | None = None
        self._session_id: UUID | None = None
        self._relay: SessionRelay | None = None
        self._subscription: Subscription | None = None
        self._requests: set[UUID] = set()
        self._accepted_at: dict[UUID, float] = {}
        self._expiry: asyncio.Task[None] | None = None
        self._background: asyncio.Task[None] | None = None
        self._finished = asyncio.Event()
        self._closing = False
        self._taken_over = False
        self._resumes = EventWindow(self._settings.resumes_per_minute_per_socket, clock=gateway.clock)

    # Lifecycle.

    async def run(self) -> None:
        await self._ws.accept()
        self._metrics.open_sockets.inc()
        reader = asyncio.create_task(self._read_loop())
        finished = asyncio.create_task(self._finished.wait())
        try:
            await asyncio.wait({reader, finished}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done() and not reader.cancelled() and (exc := reader.exception()) is not None:
                log.error("socket failed", exc_info=exc)
        finally:
            for task in (reader, finished):
                task.cancel()
            await asyncio.gather(reader, finished, return_exceptions=True)
            if self._expiry is not None:
                self._expiry.cancel()
            await self._detach()
            if not self._closing:
                self._closing = True
                with contextlib.suppress(Exception):
                    await self._ws.close(1000)
            self._metrics.open_sockets.dec()
            log.info("socket closed (session %s)", self._session_id)

    async def _read_loop(self) -> None:
        try:
            if not await self._authenticate():
                return
            while not self._closing:
                data, binary = await self._receive()
                await self._dispatch(data, binary)
        except _Gone:
            pass
        finally:
            self._finished.set()

    async def _receive(self) -> tuple[str | bytes | None, bool]:
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            raise _Gone
        if message.get("bytes") is not None:
            return message["bytes"], True
        return message.get("text"), False

    # Authentication.

    async def _authenticate(self) -> bool:
        try:
            async with asyncio.timeout(self._settings.hello_timeout_s):
                while True:
                    data, binary = await self._receive()
                    try:
                        frame = parse_frame(data, max_bytes=self._settings.max_frame_bytes, binary=binary)
                    except GatewayError as error:
                        await self._send_error(error)
                        continue
                    if isinstance(frame, Hello):
                        break
                    await self._send_error(
                        GatewayError(
                            ErrorCode.NOT_AUTHENTICATED,
                            "send a 'hello' frame with an access token first",
                            request_id=getattr(frame, "request_id", None),
                            message_id=getattr(frame, "message_id", None),
                        )
                    )
        except TimeoutError:
            await self._close_with(
                GatewayError(
                    ErrorCode.HELLO_TIMEOUT,
                    f"no 'hello' within {self._settings.hello_timeout_s:g} s",
                    close=CloseCode.UNAUTHORIZED,
                )
            )
            return False
        return await self._hello(frame)

    async def _hello(self, frame: Hello) -> bool:
        """The first `hello`, or a later one that renews the token (same user)."""
        try:
            principal = await self._gw.verifier.verify(frame.token)
        except GatewayError as error:
            await self._close_with(error)
            return False
        first = self._principal is None
        if self._principal is not None and principal.user_id != self._principal.user_id:
            await self._close_with(
                GatewayError(
                    ErrorCode.INVALID_TOKEN,
                    "the token is for another user than this socket's",
                    close=CloseCode.UNAUTHORIZED,
                )
            )
            return False
        self._principal = principal
        self._schedule_expiry(principal)
        if not first:
            if frame.session_id is not None and frame.session_id != self._session_id:
                await self._resume(frame.session_id, frame.last_seq)
            elif self._session_id is not None:
                await self._send(ready_frame(self._session_id))
            return True
        if frame.session_id is None:
            return await self._attach(new_session_id(principal.user_id), None, resume=False)
        if not owns(frame.session_id, principal.user_id):
            await self._close_with(
                GatewayError(
                    ErrorCode.SESSION_FORBIDDEN,
                    "this session belongs to another user",
                    close=CloseCode.FORBIDDEN,
                )
            )
            return False
        try:
            self._admit_resume(principal)
        except GatewayError as error:
            await self._close_with(GatewayError(error.code, error.message, close=CloseCode.TRY_AGAIN_LATER))
            return False
        return await self._attach(frame.session_id, frame.last_seq, resume=True)

    def _admit_resume(self, principal: Principal) -> None:
        """Count a resume against this socket and its user; `GatewayError` (rate_limited) past
        either limit. Each resume asks every worker and gateway for snapshots."""
        wait = self._resumes.try_take("socket")
        if wait is None:
            wait = self._gw.resumes.try_take(principal.user_id)
        if wait is not None:
            raise GatewayError(
                ErrorCode.RATE_LIMITED, f"too many session resumes; try again in {max(wait, 0.1):.1f} s"
            )

    def _schedule_expiry(self, principal: Principal) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.create_task(self._expire_at(principal.expires_at))

    async def _expire_at(self, expires_at: float) -> None:
        await asyncio.sleep(max(expires_at + self._settings.jwt_leeway_s - time.time(), 0.0))
        log.info("session %s: token expired", self._session_id)
        await self._close_with(
            GatewayError(
                ErrorCode.TOKEN_EXPIRED, "the access token has expired", close=CloseCode.UNAUTHORIZED
            )
        )

    # Sessions.

    async def _attach(self, session_id: UUID, last_seq: int | None, *, resume: bool) -> bool:
        if resume and not await self._gw.queues.exists(session_id):
            # Gone (it outlives its socket for minutes only) or never opened: nothing to resume,
            # and nothing is declared for an id the client made up. A new session instead.
            assert self._principal is not None
            log.info("session %s: nothing to resume; a new session", session_id)
            session_id, last_seq, resume = new_session_id(self._principal.user_id), None, False
        relay = SessionRelay(
            session_id,
            sink=self,
            senders=self._settings.senders,
            clock=self._gw.clock,
            snapshot_wait_s=self._settings.snapshot_wait_s,
            resync_interval_s=self._settings.resync_interval_s,
            request_resync=lambda: self._request_resync(session_id),
            on_started=self._on_started,
            on_ended=self._on_ended,
            issued=self.issued,
            on_superseded=self._superseded,
        )
        await self._gw.hub.claim(session_id, self)
        if not await self._still_allowed():
            # An access change between the token check and the claim found no socket to close.
            self._gw.hub.release(session_id, self)
            return False
        try:
            subscription = await self._gw.queues.open(session_id, relay.deliver)
        except BrokerUnavailable as exc:
            self._gw.hub.release(session_id, self)
            log.warning("session %s: cannot consume its queue: %s", session_id, exc)
            await self._close_with(
                GatewayError(
                    ErrorCode.BROKER_UNAVAILABLE,
                    "the message broker is unavailable; reconnect later",
                    close=CloseCode.TRY_AGAIN_LATER,
                )
            )
            return False
        self._session_id, self._relay, self._subscription = session_id, relay, subscription
        bind_log_context(session_id=session_id)
        self._seq = last_seq or 0
        self._metrics.sessions.inc()
        await self._send(ready_frame(session_id))
        log.info("session %s: %s (last_seq %s)", session_id, "resumed" if resume else "opened", last_seq)
        hold = None
        if resume:
            request_id = new_id()
            self._requests.add(request_id)
            hold = await services.request_snapshots(
                session_id, publisher=self._gw.publisher, registry=self._gw.registry, request_id=request_id
            )
        relay.start(hold)
        return True

    async def _detach(self) -> None:
        relay, subscription, session_id = self._relay, self._subscription, self._session_id
        if relay is None or session_id is None:
            return
        self._relay = self._subscription = None
        if subscription is not None:
            await subscription.cancel()
        await relay.stop()
        self._gw.hub.release(session_id, self)
        self._metrics.sessions.dec()
        # Generations still running keep their user's slots: those end with the outcome event
        # (or the lease), not with the socket, so that reconnecting cannot run more at once.
        self._accepted_at.clear()

    async def _resume(self, session_id: UUID, last_seq: int | None) -> None:
        assert self._principal is not None
        if not owns(session_id, self._principal.user_id):
            raise GatewayError(ErrorCode.SESSION_FORBIDDEN, "this session belongs to another user")
        self._admit_resume(self._principal)
        await self._detach()
        await self._attach(session_id, last_seq, resume=True)

    async def _request_resync(self, session_id: UUID) -> None:
        await services.request_snapshots(
            session_id,
            publisher=self._gw.publisher,
            registry=self._gw.registry,
            request_id=resync_request_id(),
        )

    def _on_started(self, message_id: UUID) -> None:
        if self._principal is not None:
            self._gw.generations.add(self._principal.user_id, message_id)

    def _on_ended(self, message_id: UUID) -> None:
        if self._principal is not None:
            self._gw.generations.finish(self._principal.user_id, message_id)
        self._accepted_at.pop(message_id, None)

    def _superseded(self) -> None:
        self._background = asyncio.create_task(self.take_over())

    # hub.Holder

    def issued(self, request_id: UUID) -> bool:
        return request_id in self._requests

    async def take_over(self) -> None:
        if self._taken_over:
            return
        self._taken_over = True
        session_id = self._session_id
        await self._detach()
        log.info("session %s: taken over by another socket", session_id)
        await self._close_with(
            GatewayError(
                ErrorCode.SESSION_TAKEN_OVER,
                "this session was resumed by another connection",
                close=CloseCode.TAKEN_OVER,
            )
        )

    async def access_changed(self) -> None:
        await self._still_allowed()

    async def _still_allowed(self) -> bool:
        """Whether the account's access still allows the socket's token (its role is capped
        to what the account has now); else the socket gets the reason and closes."""
        principal = self._principal
        if principal is None or self._closing:
            return not self._closing
        try:
            self._principal = self._gw.verifier.access.check(principal)
        except GatewayError as error:
            log.info("session %s: %s; closing", self._session_id, error.message)
            await self._close_with(error)
            return False
        return True

    # Frames.

    async def _dispatch(self, data: str | bytes | None, binary: bool) -> None:
        try:
            frame = parse_frame(data, max_bytes=self._settings.max_frame_bytes, binary=binary)
            if isinstance(frame, Ping):
                await self._send(pong_frame())
            elif isinstance(frame, Prompt):
                await self._prompt(frame)
            elif isinstance(frame, Stop):
                await self._stop(frame)
            elif isinstance(frame, Resume):
                await self._resume(frame.session_id, frame.last_seq)
            else:
                await self._hello(frame)
        except GatewayError as error:
            if error.close is not None:
                await self._close_with(error)
            else:
                await self._send_error(error)
        except Exception:
            log.exception("session %s: frame handling failed", self._session_id)
            await self._send_error(GatewayError(ErrorCode.INTERNAL_ERROR, "the gateway failed on this frame"))

    async def _prompt(self, prompt: Prompt) -> None:
        relay, principal, session_id = self._attached()
        command = services.SubmitPrompt(
            principal, session_id, prompt, message_id=new_owned_id(principal.user_id)
        )
        attributes = {
            "parley.session_id": str(session_id),
            "parley.message_id": str(command.message_id),
            "parley.model": prompt.model,
        }
        # A refused prompt (GatewayError) leaves the span with an error status and the reason.
        with (
            _tracer.start_as_current_span("ws prompt", kind=SpanKind.SERVER, attributes=attributes),
            log_context(message_id=command.message_id),
        ):
            await self._submit(relay, command)

    async def _submit(self, relay: SessionRelay, command: services.SubmitPrompt) -> None:
        relay.expect(command.message_id)
        try:
            accepted = await services.submit_prompt(
                command,
                publisher=self._gw.publisher,
                registry=self._gw.registry,
                rate=self._gw.rate,
                generations=self._gw.generations,
                blocked=self._gw.blocked,
            )
        except GatewayError as error:
            relay.discard(command.message_id)
            self._metrics.prompts.labels(outcome=str(error.code)).inc()
            raise
        except BaseException:
            relay.discard(command.message_id)
            raise
        self._accepted_at[accepted.message_id] = self._gw.clock()
        self._metrics.prompts.labels(outcome="accepted").inc()
        await self._send(
            accepted_frame(
                accepted.request_id, accepted.conversation_id, accepted.message_id, accepted.prompt_message_id
            )
        )
        relay.accepted(accepted.message_id)

    async def _stop(self, stop: Stop) -> None:
        relay, principal, _ = self._attached()
        running = relay.is_running(stop.message_id)
        await services.stop_generation(
            principal, stop.message_id, running=running, publisher=self._gw.publisher
        )

    def _attached(self) -> tuple[SessionRelay, Principal, UUID]:
        relay, principal, session_id = self._relay, self._principal, self._session_id
        if relay is None or principal is None or session_id is None:
            raise GatewayError(ErrorCode.NOT_AUTHENTICATED, "no session is attached to this socket")
        return relay, principal, session_id

    # Sending.

    async def _send(self, frame: dict[str, Any]) -> bool:
        if self._closing:
            return False
        text = orjson.dumps(frame).decode()
        async with self._send_lock:
            try:
                await self._ws.send_text(text)
            except Exception:
                self._finished.set()
                return False
        return True

    async def send_stream(self, frames: Sequence[StreamFrame]) -> bool:
        """`StreamSink`: number the frames with the session seq and send them."""
        async with self._send_lock:
            for frame in frames:
                if self._closing:
                    return False
                self._seq += 1
                text = orjson.dumps(frame.to_wire(self._seq)).decode()
                try:
                    await self._ws.send_text(text)
                except Exception:
                    self._finished.set()
                    return False
                self._count(frame)
        return True

    def _count(self, frame: StreamFrame) -> None:
        self._metrics.stream_frame(type(frame).__name__).inc()
        if isinstance(frame, DeltaFrame):
            self._metrics.delta_frames.inc()
            started = self._accepted_at.pop(frame.message_id, None)
            if started is not None:
                self._metrics.ttft.observe(self._gw.clock() - started)
        elif isinstance(frame, StreamErrorFrame):
            self._metrics.error_frames.labels(code=frame.code).inc()

    async def _send_error(self, error: GatewayError) -> None:
        self._metrics.error_frames.labels(code=str(error.code)).inc()
        await self._send(error_frame(error))

    async def _close_with(self, error: GatewayError) -> None:
        await self._send_error(error)
        if self._closing:
            return
        self._closing = True
        code = int(error.close or CloseCode.TRY_AGAIN_LATER)
        log.info("session %s: closing with %d (%s)", self._session_id, code, error.code)
        with contextlib.suppress(Exception):
            await self._ws.close(code=code, reason=str(error.code))
        self._finished.set()
