"""One HTTP chat completion on the broker path of a WebSocket prompt: a session
of its own (queue and relay), the same `submit_prompt` (limits, quotas, the
model check), the same stream frames. Closing the run before the end lets go
of the session only: the worker finishes the answer and history stores it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from uuid import UUID

from parley_contracts import new_id
from parley_gateway.bootstrap import Gateway
from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import BrokerUnavailable, ErrorCode, GatewayError
from parley_gateway.domain.frames import Prompt
from parley_gateway.domain.openai_api import ChatCompletionRequest
from parley_gateway.domain.sessions import new_owned_id, new_session_id, resync_request_id
from parley_gateway.domain.stream import END_FRAMES, StreamFrame
from parley_gateway.ports import Subscription
from parley_gateway.relay import SessionRelay
from parley_gateway.services import prompts, snapshots
from parley_gateway.submission import submit_expected

log = logging.getLogger(__name__)


class CompletionRun:
    """`start`, then iterate `frames()` up to the end frame, then `close` (always)."""

    def __init__(self, gateway: Gateway, principal: Principal) -> None:
        self._gw = gateway
        self._principal = principal
        self._session_id = new_session_id(principal.user_id)
        self._frames: asyncio.Queue[StreamFrame] = asyncio.Queue()
        self._relay: SessionRelay | None = None
        self._subscription: Subscription | None = None
        self._message_id: UUID | None = None
        self._ended = False

    async def start(self, request: ChatCompletionRequest) -> prompts.Accepted:
        """Publish the prompt; raises `GatewayError` when it is refused."""
        gw = self._gw
        relay = SessionRelay(
            self._session_id,
            sink=self,
            senders=gw.settings.senders,
            clock=gw.clock,
            snapshot_wait_s=gw.settings.snapshot_wait_s,
            resync_interval_s=gw.settings.resync_interval_s,
            request_resync=self._request_resync,
            on_started=lambda _message_id: None,
            on_ended=self._on_ended,
        )
        prompt = Prompt(
            type="prompt",
            request_id=str(new_id()),
            model=request.model,
            messages=request.chat_messages(),
            params=request.params(),
        )
        user_id = self._principal.user_id
        command = prompts.SubmitPrompt(
            self._principal, self._session_id, prompt, message_id=new_owned_id(user_id)
        )
        try:
            prompts.check_admission(
                command, registry=gw.registry, rate=gw.rate, generations=gw.generations, blocked=gw.blocked
            )
        except GatewayError as error:
            gw.metrics.prompts.labels(outcome=str(error.code)).inc()
            raise
        try:
            self._subscription = await gw.queues.open(self._session_id, relay.deliver)
        except BrokerUnavailable as exc:
            raise GatewayError(
                ErrorCode.BROKER_UNAVAILABLE, "the message broker is unavailable; try again"
            ) from exc
        self._relay = relay
        relay.start()
        accepted = await submit_expected(command, relay=relay, gateway=gw)
        self._message_id = accepted.message_id
        relay.accepted(accepted.message_id)
        return accepted

    async def frames(self) -> AsyncIterator[StreamFrame]:
        """The answer's frames, up to and including its `done` or `error`."""
        while True:
            frame = await self._frames.get()
            yield frame
            if isinstance(frame, END_FRAMES):
                return

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.cancel()
            self._subscription = None
        if self._relay is not None:
            await self._relay.stop()
            self._relay = None
        if self._message_id is not None and not self._ended:
            # The answer goes on, and holds its user's slot until its outcome event.
            log.info("completion %s: the client left before the end", self._message_id)

    # relay callbacks (StreamSink)

    async def send_stream(self, frames: Sequence[StreamFrame]) -> bool:
        for frame in frames:
            self._frames.put_nowait(frame)
        return True

    def _on_ended(self, message_id: UUID) -> None:
        self._ended = True
        self._gw.generations.finish(self._principal.user_id, message_id)

    async def _request_resync(self) -> None:
        await snapshots.request_snapshots(
            self._session_id,
            publisher=self._gw.publisher,
            registry=self._gw.registry,
            request_id=resync_request_id(),
        )
