"""One session queue to one socket: decode, order, filter, number, send, ack.

The relay consumes with manual acks: a message is acked once its frames are
sent (or it is dropped), so that when the socket goes away everything
received but not sent goes back to the queue (`stop`) for a resume on any
gateway process. On resume it first holds the session's events until every
worker that may hold one of its generations has answered the snapshot
request (or the wait is over), then sends the snapshots and the held events
(`domain.stream` decides what to drop). The queue's side (tickets, decoding,
settling) is `relay_intake.SessionIntake`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from parley_contracts import SnapshotItem, StreamEvent, StreamFailed, StreamFinished, StreamSnapshots
from parley_contracts.senders import Senders
from parley_gateway.domain.clock import Clock
from parley_gateway.domain.stream import END_FRAMES, ResumeHold, StreamFrame, StreamTracker
from parley_gateway.ports import Delivery, StreamSink
from parley_gateway.relay_intake import SessionIntake

log = logging.getLogger(__name__)

MessageCallback = Callable[[UUID], None]

_MAX_BATCH = 256
"""Messages relayed together at most (one send, then their acks)."""


class SessionRelay:
    def __init__(
        self,
        session_id: UUID,
        *,
        sink: StreamSink,
        senders: Senders,
        clock: Clock,
        snapshot_wait_s: float,
        resync_interval_s: float,
        request_resync: Callable[[], Awaitable[None]],
        on_started: MessageCallback,
        on_ended: MessageCallback,
        issued: Callable[[UUID], bool] = lambda _request_id: False,
        on_superseded: Callable[[], None] = lambda: None,
    ) -> None:
        self.session_id = session_id
        self._intake = SessionIntake(session_id, senders=senders, issued=issued, on_superseded=on_superseded)
        self._sink = sink
        self._clock = clock
        self._snapshot_wait_s = snapshot_wait_s
        self._resync_interval_s = resync_interval_s
        self._request_resync = request_resync
        self._on_started = on_started
        self._on_ended = on_ended
        self._tracker = StreamTracker()
        self._gates: dict[UUID, asyncio.Event] = {}
        self._pump: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._last_resync: float | None = None

    # Called by the session queue adapter, in delivery order.

    def deliver(self, delivery: Delivery) -> None:
        self._intake.deliver(delivery)

    # Called by the socket.

    def expect(self, message_id: UUID) -> None:
        """A prompt is being published: hold its frames until `accepted` is sent."""
        self._tracker.expect(message_id)
        self._gates[message_id] = asyncio.Event()

    def accepted(self, message_id: UUID) -> None:
        gate = self._gates.pop(message_id, None)
        if gate is not None:
            gate.set()

    def discard(self, message_id: UUID) -> None:
        self._tracker.discard(message_id)
        self.accepted(message_id)

    def is_running(self, message_id: UUID) -> bool:
        return self._tracker.is_running(message_id)

    @property
    def running(self) -> frozenset[UUID]:
        return self._tracker.running

    def start(self, hold: ResumeHold | None = None) -> None:
        if self._pump is None:
            self._pump = asyncio.create_task(self._run(hold), name=f"relay-{self.session_id}")

    async def stop(self) -> None:
        """Stop sending; give back what was received but not sent, in order.
        Cancel the subscription first, so that nothing more arrives."""
        self._intake.close()
        for gate in self._gates.values():
            gate.set()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        requeued = await self._intake.give_back()
        if requeued:
            log.info("session %s: %d message(s) requeued for a later resume", self.session_id, requeued)

    # The pump.

    async def _run(self, hold: ResumeHold | None) -> None:
        if hold is not None and not await self._hold(hold):
            return
        while True:
            if not await self._handle(await self._intake.take(_MAX_BATCH)):
                return

    async def _handle(self, tickets: list[int]) -> bool:
        """Relay what arrived together: its frames in one send, then its acks.
        Under load many messages wait in the inbox at once, and one send and
        one pass of acks for all of them keeps the relay ahead of its queue.
        Returns False when the relay stops (socket gone, resumed elsewhere);
        what was not sent stays unsettled for `stop` to requeue."""
        frames: list[StreamFrame] = []
        handled: list[int] = []
        go_on = True
        for ticket in tickets:
            event = self._intake.decode(ticket)
            if isinstance(event, StreamSnapshots):
                if self._intake.superseded(event):
                    go_on = False
                    break
                frames += self._apply_snapshots(event.items)
            elif event is not None:
                # its prompt not `accepted` yet: what came before goes out first
                if event.message_id in self._gates and not await self._send(frames, handled):
                    return False
                try:
                    frames += await self._apply(event)
                except Exception:
                    log.exception("session %s: could not relay a message; dropping it", self.session_id)
            handled.append(ticket)
        if not await self._send(frames, handled):
            return False
        if self._tracker.take_resync_wish():
            self._maybe_resync()
        return go_on

    async def _send(self, frames: list[StreamFrame], tickets: list[int]) -> bool:
        """Send `frames`, then ack `tickets` (whose frames they are); both are emptied."""
        try:
            if not await self._emit(frames):
                return False
        except Exception:
            log.exception(
                "session %s: could not relay %d frame(s); dropping them", self.session_id, len(frames)
            )
        frames.clear()
        for ticket in tickets:
            await self._intake.ack(ticket)
        tickets.clear()
        return True

    async def _hold(self, hold: ResumeHold) -> bool:
        deadline = self._clock() + self._snapshot_wait_s
        items: list[SnapshotItem] = []
        held: list[tuple[StreamEvent, int | None]] = []
        while not hold.complete:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    ticket = await self._intake.next()
            except TimeoutError:
                break
            if not await self._hold_one(ticket, hold, items, held):
                return False
        log.info(
            "session %s: resuming with %d snapshot item(s), %d held event(s); %s",
            self.session_id,
            len(items),
            len(held),
            "all workers answered" if hold.complete else "snapshot wait over",
        )
        if not await self._emit(self._apply_snapshots(items)):
            return False
        for event, end_ticket in held:
            if not await self._emit(await self._apply(event)):
                return False
            if end_ticket is not None:
                await self._intake.ack(end_ticket)
        self._tracker.take_resync_wish()
        if not hold.complete:
            # An answer may have gone to the socket that held the session before: ask again.
            self._maybe_resync()
        return True

    async def _hold_one(
        self,
        ticket: int,
        hold: ResumeHold,
        items: list[SnapshotItem],
        held: list[tuple[StreamEvent, int | None]],
    ) -> bool:
        event = self._intake.decode(ticket)
        if isinstance(event, StreamSnapshots):
            if self._intake.superseded(event):
                return False
            items.extend(event.items)
            hold.answer(event.request_id, event.worker_id)
        elif isinstance(event, StreamFinished | StreamFailed):
            held.append((event, ticket))  # an end is kept in the queue until the client has it
            return True
        elif event is not None:
            held.append((event, None))  # a snapshot or the end covers it if the socket goes
        await self._intake.ack(ticket)
        return True

    # Steps.

    def _apply_snapshots(self, items: Sequence[SnapshotItem]) -> list[StreamFrame]:
        frames: list[StreamFrame] = []
        for item in items:
            known = self._tracker.is_known(item.message_id)
            frame = self._tracker.apply_snapshot(item)
            if frame is not None:
                frames.append(frame)
                if not known:
                    self._on_started(item.message_id)
        return frames

    async def _apply(self, event: StreamEvent) -> list[StreamFrame]:
        gate = self._gates.get(event.message_id)
        if gate is not None:
            await gate.wait()
        known = self._tracker.is_known(event.message_id)
        frames = self._tracker.process(event)
        if not known and self._tracker.is_running(event.message_id):
            self._on_started(event.message_id)
        return frames

    async def _emit(self, frames: list[StreamFrame]) -> bool:
        if not frames:
            return True
        if not await self._sink.send_stream(frames):
            return False
        for frame in frames:
            if isinstance(frame, END_FRAMES):
                log.info(
                    "session %s message %s: stream ended (%s)",
                    self.session_id,
                    frame.message_id,
                    type(frame).__name__,
                )
                self._on_ended(frame.message_id)
        return True

    def _maybe_resync(self) -> None:
        now = self._clock()
        if self._last_resync is not None and now - self._last_resync < self._resync_interval_s:
            return
        self._last_resync = now
        log.info(
            "session %s: unsynced stream(s) %s: asking for a snapshot",
            self.session_id,
            sorted(str(m) for m in self._tracker.unsynced),
        )
        self._spawn(self._request_resync())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
