"""The test as an inference worker on the real broker: it takes prompts from
its model's requests queue, streams what the test tells it to the prompt's
`reply_to`, answers snapshot requests, records cancels, and sends heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from parley_contracts import (
    CONTROL_COMMANDS,
    CancelGeneration,
    Event,
    EventDecoder,
    FinishReason,
    PromptSubmitted,
    RequestSnapshot,
    SnapshotItem,
    StreamFailed,
    StreamFinished,
    StreamMetrics,
    StreamRestarted,
    StreamSnapshots,
    TokenDelta,
    Usage,
    WorkerHeartbeat,
)
from parley_contracts.topology import CHAT_CONTROL, WORKER_HEARTBEATS, inference_queue
from parley_platform.rabbit import declare, declare_exchange

_CONTROL = EventDecoder(CONTROL_COMMANDS)


@dataclass
class Generation:
    request: PromptSubmitted
    attempt: int = 0
    seq: int = 0
    text: str = ""
    done: bool = False

    @property
    def message_id(self) -> UUID:
        return self.request.message_id


@dataclass
class FakeWorker:
    amqp_url: str
    model: str = field(default_factory=lambda: f"model-{uuid4().hex[:8]}")
    worker_id: str = field(default_factory=lambda: f"worker-{uuid4().hex[:8]}")
    capacity: int = 4
    interval_s: float = 0.3
    answer_snapshots: bool = True

    def __post_init__(self) -> None:
        self.requests: asyncio.Queue[Generation] = asyncio.Queue()
        self.generations: dict[UUID, Generation] = {}
        self.cancels: list[CancelGeneration] = []
        self.snapshot_requests: list[RequestSnapshot] = []
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._lock = asyncio.Lock()
        self._beating: asyncio.Task[None] | None = None
        self._quiet = asyncio.Event()
        self._heartbeats: AbstractExchange | None = None

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self._connection.channel()
        self._channel = channel
        spec = inference_queue(self.model)
        await declare(channel, spec)
        requests = await channel.get_queue(spec.name)
        await requests.consume(self._on_request)
        control = await channel.declare_queue(exclusive=True, auto_delete=True)
        await control.bind(await declare_exchange(channel, CHAT_CONTROL))
        await control.consume(self._on_control, no_ack=True)
        self._heartbeats = await declare_exchange(channel, WORKER_HEARTBEATS)
        self._beating = asyncio.create_task(self._beat())

    async def stop(self, *, farewell: bool = True) -> None:
        self.stop_heartbeats()
        if self._beating is not None:
            # The loop ends after its current beat: cancelling it inside a
            # publish would close the channel under us ("closed by RPC timeout").
            await asyncio.gather(self._beating, return_exceptions=True)
        if farewell:
            await self.heartbeat(stopping=True, free_slots=self.capacity)
        if self._connection is not None:
            await self._connection.close()

    def stop_heartbeats(self) -> None:
        self._quiet.set()

    # Prompts and streams.

    async def next_request(self, timeout: float = 5.0) -> Generation:
        async with asyncio.timeout(timeout):
            return await self.requests.get()

    async def delta(self, gen: Generation, text: str) -> None:
        async with self._lock:
            gen.seq += 1
            gen.text += text
            event = TokenDelta(message_id=gen.message_id, attempt=gen.attempt, seq=gen.seq, text=text)
            await self._send(gen.request.reply_to, event)

    async def stale_delta(self, gen: Generation, text: str, *, attempt: int, seq: int) -> None:
        event = TokenDelta(message_id=gen.message_id, attempt=attempt, seq=seq, text=text)
        await self._send(gen.request.reply_to, event)

    async def restart(self, gen: Generation) -> None:
        async with self._lock:
            gen.attempt, gen.seq, gen.text = gen.attempt + 1, 1, ""
            event = StreamRestarted(message_id=gen.message_id, attempt=gen.attempt, seq=gen.seq)
            await self._send(gen.request.reply_to, event)

    async def finish(self, gen: Generation, finish_reason: FinishReason = "stop") -> None:
        async with self._lock:
            gen.seq += 1
            gen.done = True
            event = StreamFinished(
                message_id=gen.message_id,
                attempt=gen.attempt,
                seq=gen.seq,
                text=gen.text,
                finish_reason=finish_reason,
                usage=Usage(prompt_tokens=7, completion_tokens=gen.seq - 1),
                metrics=StreamMetrics(ttft_ms=12.0, tokens_per_s=50.0),
            )
            await self._send(gen.request.reply_to, event)

    async def fail(self, gen: Generation, code: str, message: str) -> None:
        async with self._lock:
            gen.seq += 1
            gen.done = True
            event = StreamFailed(
                message_id=gen.message_id, attempt=gen.attempt, seq=gen.seq, code=code, message=message
            )
            await self._send(gen.request.reply_to, event)

    async def send_raw(self, queue: str, body: bytes) -> None:
        assert self._channel is not None
        await self._channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue)

    async def heartbeat(self, *, stopping: bool = False, free_slots: int | None = None) -> None:
        assert self._channel is not None
        running = sum(1 for g in self.generations.values() if not g.done)
        beat = WorkerHeartbeat(
            worker_id=self.worker_id,
            models=(self.model,),
            capacity=self.capacity,
            free_slots=max(self.capacity - running, 0) if free_slots is None else free_slots,
            interval_s=self.interval_s,
            stopping=stopping,
        )
        assert self._heartbeats is not None
        await self._heartbeats.publish(aio_pika.Message(beat.to_json()), routing_key="")

    # Consumers.

    async def _send(self, queue: str, event: Event) -> None:
        assert self._channel is not None
        await self._channel.default_exchange.publish(aio_pika.Message(event.to_json()), routing_key=queue)

    async def _on_request(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            prompt = PromptSubmitted.model_validate_json(message.body)
            if prompt.model != self.model:
                return  # a prompt left over from an earlier test
            gen = Generation(prompt)
            self.generations[gen.message_id] = gen
            self.requests.put_nowait(gen)

    async def _on_control(self, message: AbstractIncomingMessage) -> None:
        command = _CONTROL.decode(message.body)
        if isinstance(command, CancelGeneration):
            self.cancels.append(command)
        elif isinstance(command, RequestSnapshot):
            self.snapshot_requests.append(command)
            if self.answer_snapshots:
                await self._answer(command)

    async def _answer(self, request: RequestSnapshot) -> None:
        async with self._lock:
            items = tuple(
                SnapshotItem(message_id=g.message_id, attempt=g.attempt, seq=g.seq, text=g.text)
                for g in self.generations.values()
                if not g.done and g.request.session_id == request.session_id
            )
            answer = StreamSnapshots(request_id=request.request_id, worker_id=self.worker_id, items=items)
            await self._send(request.reply_to, answer)

    async def _beat(self) -> None:
        while not self._quiet.is_set():
            with contextlib.suppress(Exception):
                await self.heartbeat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self.interval_s)
