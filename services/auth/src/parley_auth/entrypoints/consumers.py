"""Broker subscribers (FastStream): `completion.finished` from `auth.usage` into the usage
ledger; requests for the model catalogue on `catalog.requests`, answered with `catalog.updated`;
requests for recent account access changes on `access.requests` (gateways that start)."""

from __future__ import annotations

import logging

from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, QueueType, RabbitQueue, RabbitResponse

from parley_auth import access, catalog, usage
from parley_auth.adapters.rabbit import RabbitMessage
from parley_auth.bootstrap import Auth
from parley_auth.outage import DATABASE_ERRORS
from parley_contracts import CompletionFinished, EventDecoder, UnsupportedEvent, utcnow
from parley_contracts.access import ACCESS_REQUESTS
from parley_contracts.catalog import CATALOG_REQUESTS
from parley_contracts.topology import AUTH_USAGE, CHAT_EVENTS
from parley_platform.outage import retry_while_unavailable
from parley_platform.rabbit import rabbit_exchange, rabbit_queue

log = logging.getLogger(__name__)

_DECODER = EventDecoder([CompletionFinished])

CATALOG_REQUESTS_QUEUE = RabbitQueue(CATALOG_REQUESTS, durable=True, queue_type=QueueType.CLASSIC)
"""Durable, classic, no arguments: a worker publishes its request here by name (default exchange)
and waits on the direct reply-to; any auth replica answers."""

ACCESS_REQUESTS_QUEUE = RabbitQueue(ACCESS_REQUESTS, durable=True, queue_type=QueueType.CLASSIC)
"""The same for gateways asking which accounts' access changed lately."""


def register_consumers(auth: Auth) -> None:
    router = auth.router

    @router.subscriber(
        rabbit_queue(AUTH_USAGE, routing_key="completion.finished"),
        rabbit_exchange(CHAT_EVENTS),
        # A channel of its own: subscribers stopped at once on a shared channel can race each
        # other's basic.cancel at shutdown ("Channel closed by RPC timeout").
        channel=Channel(),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        no_reply=True,
        title="auth:completion.finished",
    )
    async def on_completion(message: RabbitMessage) -> None:
        try:
            event = auth.settings.senders.decode(_DECODER, message.body, message.raw_message.user_id)
        except UnsupportedEvent as exc:
            log.error("dropping a message on %s: %s", AUTH_USAGE.name, exc.reason)
            auth.metrics.events.labels("unsupported").inc()
            return
        assert isinstance(event, CompletionFinished)
        counted = await retry_while_unavailable(
            lambda: usage.record_completion(event, auth=auth),
            unavailable=DATABASE_ERRORS,
            what=f"completion {event.event_id}",
            initial_s=auth.settings.store_retry_initial_s,
            max_s=auth.settings.store_retry_max_s,
            on_retry=auth.metrics.store_retries.inc,
        )
        auth.metrics.events.labels("counted" if counted else "duplicate").inc()
        auth.metrics.lag.set(max(0.0, (utcnow() - event.occurred_at).total_seconds()))
        log.debug(
            "completion %s of user %s: %s", event.event_id, event.user_id, "counted" if counted else "dup"
        )

    @router.subscriber(
        CATALOG_REQUESTS_QUEUE,
        channel=Channel(),
        # A request that cannot be answered now is dropped: its worker asks again after its timeout.
        ack_policy=AckPolicy.REJECT_ON_ERROR,
        response_model=None,
        title="auth:catalog.requests",
    )
    async def on_catalog_request(message: RabbitMessage) -> RabbitResponse:
        event = await catalog.current(auth=auth)
        log.debug("catalogue revision %d sent to %s", event.revision, message.reply_to or "nobody")
        return RabbitResponse(
            event.to_json(),
            content_type="application/json",
            message_type=event.type,
            message_id=str(event.event_id),
            user_id=auth.settings.broker_user,
        )

    @router.subscriber(
        ACCESS_REQUESTS_QUEUE,
        channel=Channel(),
        ack_policy=AckPolicy.REJECT_ON_ERROR,
        response_model=None,
        title="auth:access.requests",
    )
    async def on_access_request(message: RabbitMessage) -> RabbitResponse:
        changes = await access.recent(
            accounts=auth.accounts, clock=auth.now, access_ttl_s=auth.settings.access_ttl_s
        )
        log.debug("%d recent access change(s) sent to %s", len(changes.changes), message.reply_to or "nobody")
        return RabbitResponse(
            changes.model_dump_json().encode(),
            content_type="application/json",
            user_id=auth.settings.broker_user,
        )
