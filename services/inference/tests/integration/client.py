"""The test's side of the broker: a gateway stand-in that publishes prompts
and control commands and reads session queues and domain events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from parley_contracts import (
    DOMAIN_EVENTS,
    SESSION_STREAM_EVENTS,
    ChatMessage,
    Event,
    EventDecoder,
    GenerationParams,
    PromptSubmitted,
    StreamEvent,
    StreamFailed,
    StreamFinished,
    TokenDelta,
    WorkerHeartbeat,
    new_id,
)
from parley_contracts.topology import (
    CHAT_CONTROL,
    CHAT_EVENTS,
    INFERENCE_DEAD,
    WORKER_HEARTBEATS,
    inference_queue,
    prompt_headers,
    session_queue,
)
from parley_inference.entrypoints.requests import delivery_count
from parley_platform.rabbit import declare, declare_queue

_stream = EventDecoder(SESSION_STREAM_EVENTS)
_domain = EventDecoder(DOMAIN_EVENTS)
_heartbeats = EventDecoder([WorkerHeartbeat])

TEST_REQUESTS = inference_queue("test")
"""The requests queue of the models file's `test` model."""
REQUEST_QUEUES = (TEST_REQUESTS, inference_queue("refused"))


class Inbox:
    """Decoded messages of one queue, as they arrive."""

    def __init__(self, decoder: EventDecoder) -> None:
        self._decoder = decoder
        self.items: list[Event] = []
        self._changed = asyncio.Event()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self.items.append(self._decoder.decode(message.body))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 10.0) -> list[Event]:
        async with asyncio.timeout(timeout):
            while not predicate(self.items):
                self._changed.clear()
                await self._changed.wait()
        return self.items

    async def first(self, predicate: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        await self.wait_for(lambda items: any(predicate(e) for e in items), timeout)
        return next(e for e in self.items if predicate(e))


class Session(Inbox):
    def __init__(self, session_id: UUID) -> None:
        super().__init__(_stream)
        self.session_id = session_id
        self.reply_to = f"session.{session_id}"

    def for_message(self, message_id: UUID) -> list[StreamEvent]:
        return [e for e in self.items if isinstance(e, StreamEvent) and e.message_id == message_id]

    def deltas(self, message_id: UUID, attempt: int | None = None) -> list[TokenDelta]:
        return [
            e
            for e in self.for_message(message_id)
            if isinstance(e, TokenDelta) and (attempt is None or e.attempt == attempt)
        ]

    async def end(self, message_id: UUID, timeout: float = 10.0) -> StreamFinished | StreamFailed:
        event = await self.first(
            lambda e: isinstance(e, StreamFinished | StreamFailed) and e.message_id == message_id, timeout
        )
        assert isinstance(event, StreamFinished | StreamFailed)
        return event


class BrokerClient:
    def __init__(self, connection: AbstractRobustConnection, channel: AbstractChannel) -> None:
        self.connection = connection
        self.channel = channel
        self._queues: list[AbstractQueue] = []

    @classmethod
    async def connect(cls, amqp_url: str) -> BrokerClient:
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel()
        await declare(channel, INFERENCE_DEAD, *REQUEST_QUEUES)
        return cls(connection, channel)

    async def close(self) -> None:
        for name in (INFERENCE_DEAD.name, *(spec.name for spec in REQUEST_QUEUES)):
            queue = await self.channel.get_queue(name, ensure=True)
            await queue.purge()
        await self.connection.close()

    async def session(self) -> Session:
        session = Session(new_id())
        queue = await declare_queue(self.channel, session_queue(session.session_id))
        await queue.consume(session.on_message, no_ack=True)
        self._queues.append(queue)
        return session

    async def _listen(self, exchange: str, routing_key: str, decoder: EventDecoder) -> Inbox:
        inbox = Inbox(decoder)
        queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=routing_key)
        await queue.consume(inbox.on_message, no_ack=True)
        return inbox

    async def domain_events(self, routing_key: str = "completion.*") -> Inbox:
        return await self._listen(CHAT_EVENTS.name, routing_key, _domain)

    async def heartbeats(self) -> Inbox:
        return await self._listen(WORKER_HEARTBEATS.name, "", _heartbeats)

    async def publish_raw(
        self, exchange: str, routing_key: str, body: bytes, *, headers: dict[str, str] | None = None
    ) -> None:
        target = await self.channel.get_exchange(exchange)
        message = aio_pika.Message(body, content_type="application/json", delivery_mode=2, headers=headers)
        await target.publish(message, routing_key=routing_key)

    async def submit(self, prompt: PromptSubmitted) -> None:
        await self.publish_raw(
            CHAT_EVENTS.name, prompt.type, prompt.to_json(), headers=prompt_headers(prompt.model)
        )

    async def control(self, command: Event) -> None:
        await self.publish_raw(CHAT_CONTROL.name, "", command.to_json())

    async def take_all(self, queue_name: str, *, expect: int = 0, within_s: float = 2.0) -> list[Taken]:
        """Remove and return the ready messages of a queue, looking for
        `within_s` (or until `expect` came): messages a closed channel returns
        take a moment to be ready again. Quorum queues report no reliable
        message count on RabbitMQ 3.10 (0, or seconds late), so tests look."""
        queue = await self.channel.get_queue(queue_name, ensure=False)
        taken: list[Taken] = []
        async with asyncio.timeout(within_s + 1):
            deadline = asyncio.get_running_loop().time() + within_s
            while True:
                message = await queue.get(no_ack=True, fail=False)
                if message is not None:
                    taken.append(Taken(body=message.body, delivery_count=delivery_count(message.headers)))
                    continue
                if (expect and len(taken) >= expect) or asyncio.get_running_loop().time() >= deadline:
                    return taken
                await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Taken:
    body: bytes
    delivery_count: int

    def prompt(self) -> PromptSubmitted:
        return PromptSubmitted.model_validate_json(self.body)


def make_prompt(
    session: Session, *, model: str = "test", user_id: str = "user-1", content: str = "Tell me a story"
) -> PromptSubmitted:
    return PromptSubmitted(
        user_id=user_id,
        session_id=session.session_id,
        request_id=str(new_id()),
        conversation_id=new_id(),
        message_id=new_id(),
        prompt_message_id=new_id(),
        model=model,
        messages=(ChatMessage(role="user", content=content),),
        params=GenerationParams(max_tokens=200, temperature=0.5),
        reply_to=session.reply_to,
    )
