"""`/ws`: one client socket (docs/architecture.md section 7).

`domain.socket_session` decides; this performs its steps on the Starlette WebSocket, the
broker and the hub, and turns refusals into `error` frames and close codes. The socket
reads frames in one task; what it sends goes through `ws_writer.SocketWriter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from uuid import UUID

from starlette.websockets import WebSocket

from parley_gateway.bootstrap import Gateway
from parley_gateway.domain.errors import (
    BrokerUnavailable,
    ErrorCode,
    GatewayError,
)
from parley_gateway.domain.frames import Hello
from parley_gateway.domain.limits import EventWindow
from parley_gateway.domain.socket_session import SocketSession
from parley_gateway.domain.socket_steps import (
    Attach,
    Close,
    Detach,
    ExpireAt,
    Refuse,
    Send,
    Step,
    Submit,
    Verify,
)
from parley_gateway.entrypoints import ws_session
from parley_gateway.entrypoints.close_codes import close_code
from parley_gateway.entrypoints.ws_writer import SocketWriter
from parley_gateway.ports import Subscription
from parley_gateway.relay import SessionRelay
from parley_gateway.services import snapshots
from parley_platform.telemetry import bind_log_context

log = logging.getLogger(__name__)


class _Gone(Exception):
    """The client disconnected."""


class ClientConnection:
    def __init__(self, websocket: WebSocket, gateway: Gateway) -> None:
        self._ws = websocket
        self._gw = gateway
        self._metrics = gateway.metrics
        settings = gateway.settings
        self._session = SocketSession(
            max_frame_bytes=settings.max_frame_bytes,
            hello_timeout_s=settings.hello_timeout_s,
            leeway_s=settings.jwt_leeway_s,
            socket_resumes=EventWindow(settings.resumes_per_minute_per_socket, clock=gateway.clock),
            user_resumes=gateway.resumes,
            check_access=gateway.verifier.access.check,
        )
        self._relay: SessionRelay | None = None
        self._subscription: Subscription | None = None
        self._finished = asyncio.Event()
        self._out = SocketWriter(
            websocket, self._session, metrics=gateway.metrics, clock=gateway.clock, on_gone=self._finished.set
        )
        self._expiry: asyncio.Task[None] | None = None
        self._background: asyncio.Task[None] | None = None

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
            if self._session.begin_close():
                with contextlib.suppress(Exception):
                    await self._ws.close(1000)
            self._metrics.open_sockets.dec()
            log.info("socket closed (session %s)", self._session.session_id)

    async def _read_loop(self) -> None:
        try:
            try:
                async with asyncio.timeout(self._gw.settings.hello_timeout_s):
                    hello = await self._await_hello()
            except TimeoutError:
                await self._perform(self._session.hello_timed_out())
                return
            await self._perform(hello)
            while not self._session.closing:
                data, binary = await self._receive()
                await self._dispatch(data, binary)
        except _Gone:
            pass
        finally:
            self._finished.set()

    async def _await_hello(self) -> list[Step]:
        """Refuse frames up to the `hello`; its steps, performed after the wait: checking its
        token (maybe a JWKS fetch) is not the client's delay."""
        while True:
            steps = self._session.on_frame(*await self._receive())
            if any(isinstance(step, Verify) for step in steps):
                return steps
            await self._perform(steps)

    async def _receive(self) -> tuple[str | bytes | None, bool]:
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            raise _Gone
        if message.get("bytes") is not None:
            return message["bytes"], True
        return message.get("text"), False

    async def _dispatch(self, data: str | bytes | None, binary: bool) -> None:
        try:
            await self._perform(self._session.on_frame(data, binary))
        except GatewayError as error:
            await self._perform(self._session.failed(error))
        except Exception:
            log.exception("session %s: frame handling failed", self._session.session_id)
            failure = GatewayError(ErrorCode.INTERNAL_ERROR, "the gateway failed on this frame")
            await self._out.send_error(failure)

    # Steps.

    async def _perform(self, steps: Sequence[Step]) -> None:
        for step in steps:
            if isinstance(step, Send):
                await self._out.send(step.frame)
            elif isinstance(step, Refuse):
                await self._out.send_error(step.error)
            elif isinstance(step, Close):
                await self._close_with(step.error)
            elif isinstance(step, Verify):
                await self._verify(step.hello)
            elif isinstance(step, ExpireAt):
                self._schedule_expiry(step.deadline)
            elif isinstance(step, Attach):
                await self._attach(step)
            elif isinstance(step, Detach):
                await self._detach()
            elif isinstance(step, Submit):
                assert self._relay is not None  # the session said it is attached
                await ws_session.submit(step, relay=self._relay, gateway=self._gw, out=self._out)
            else:
                assert self._relay is not None
                await ws_session.stop(step, relay=self._relay, gateway=self._gw)

    async def _verify(self, hello: Hello) -> None:
        try:
            principal = await self._gw.verifier.verify(hello.token)
        except GatewayError as error:
            await self._perform(self._session.refused(error))
            return
        await self._perform(self._session.verified(hello, principal))

    def _schedule_expiry(self, deadline: float) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.create_task(self._expire_at(deadline))

    async def _expire_at(self, deadline: float) -> None:
        await asyncio.sleep(max(deadline - time.time(), 0.0))
        log.info("session %s: token expired", self._session.session_id)
        await self._perform(self._session.token_expired())

    # Sessions.

    async def _attach(self, attach: Attach) -> None:
        if attach.resume and not await self._gw.queues.exists(attach.session_id):
            log.info("session %s: nothing to resume; a new session", attach.session_id)
            attach = self._session.nothing_to_resume()
        session_id = attach.session_id
        relay = ws_session.new_relay(
            session_id,
            gateway=self._gw,
            sink=self._out,
            on_started=self._on_started,
            on_ended=self._on_ended,
            issued=self.issued,
            on_superseded=self._superseded,
        )
        await self._gw.hub.claim(session_id, self)
        # An access change between the token check and the claim found no socket to close.
        await self._perform(self._session.access_changed())
        if self._session.closing:
            self._gw.hub.release(session_id, self)
            return
        try:
            subscription = await self._gw.queues.open(session_id, relay.deliver)
        except BrokerUnavailable as exc:
            self._gw.hub.release(session_id, self)
            log.warning("session %s: cannot consume its queue: %s", session_id, exc)
            await self._perform(self._session.attach_failed())
            return
        self._relay, self._subscription = relay, subscription
        bind_log_context(session_id=session_id)
        self._metrics.sessions.inc()
        await self._perform(self._session.attached(attach))
        log.info(
            "session %s: %s (last_seq %s)",
            session_id,
            "resumed" if attach.resume else "opened",
            attach.last_seq,
        )
        hold = None
        if attach.resume:
            hold = await snapshots.request_snapshots(
                session_id,
                publisher=self._gw.publisher,
                registry=self._gw.registry,
                request_id=self._session.snapshot_request(),
            )
        relay.start(hold)

    async def _detach(self) -> None:
        relay, subscription, session_id = self._relay, self._subscription, self._session.session_id
        if relay is None or session_id is None:
            return
        self._relay = self._subscription = None
        self._session.detached()
        if subscription is not None:
            await subscription.cancel()
        await relay.stop()
        self._gw.hub.release(session_id, self)
        self._metrics.sessions.dec()
        # Generations still running keep their user's slots: those end with the outcome event
        # (or the lease), not with the socket, so that reconnecting cannot run more at once.
        self._out.detached()

    def _on_started(self, message_id: UUID) -> None:
        if self._session.principal is not None:
            self._gw.generations.add(self._session.principal.user_id, message_id)

    def _on_ended(self, message_id: UUID) -> None:
        if self._session.principal is not None:
            self._gw.generations.finish(self._session.principal.user_id, message_id)
        self._out.ended(message_id)

    def _superseded(self) -> None:
        self._background = asyncio.create_task(self.take_over())

    # hub.Holder

    def issued(self, request_id: UUID) -> bool:
        return self._session.issued(request_id)

    async def take_over(self) -> None:
        steps = self._session.taken_over()
        if steps:
            log.info("session %s: taken over by another socket", self._session.session_id)
        await self._perform(steps)

    async def access_changed(self) -> None:
        await self._perform(self._session.access_changed())

    # Closing.

    async def _close_with(self, error: GatewayError) -> None:
        await self._out.send_error(error)
        if not self._session.begin_close():
            return
        code = int(close_code(error))
        log.info(
            "session %s: closing with %d (%s: %s)", self._session.session_id, code, error.code, error.message
        )
        with contextlib.suppress(Exception):
            await self._ws.close(code=code, reason=str(error.code))
        self._finished.set()
