"""Broker subscribers: `completion.finished` from `auth.usage` into the usage ledger; requests
for the model catalogue on `catalog.requests`, answered with `catalog.updated`; requests for
recent account access changes on `access.requests` (gateways that start)."""

from __future__ import annotations

import logging

from faststream.rabbit import Channel, QueueType, RabbitQueue, RabbitResponse

from parley_auth import access, catalog, usage
from parley_auth.bootstrap import Auth
from parley_auth.outage import DATABASE_ERRORS
from parley_contracts import CompletionFinished, utcnow
from parley_contracts.access import ACCESS_REQUESTS
from parley_contracts.catalog import CATALOG_REQUESTS
from parley_contracts.topology import AUTH_USAGE
from parley_platform.broker import AckPolicy, Hold, subscribe
from parley_platform.inbox import Inbox
from parley_platform.rpc import reply

log = logging.getLogger(__name__)

CATALOG_REQUESTS_QUEUE = RabbitQueue(CATALOG_REQUESTS, durable=True, queue_type=QueueType.CLASSIC)
"""Durable, classic, no arguments: a worker publishes its request here by name (default exchange)
and waits on the direct reply-to; any auth replica answers."""

ACCESS_REQUESTS_QUEUE = RabbitQueue(ACCESS_REQUESTS, durable=True, queue_type=QueueType.CLASSIC)
"""The same for gateways asking which accounts' access changed lately."""


def register_consumers(auth: Auth) -> None:
    broker = auth.lifespan.broker
    settings, metrics = auth.settings, auth.metrics

    async def on_completion(event: CompletionFinished) -> None:
        counted = await usage.record_completion(event, auth=auth)
        metrics.events.labels("counted" if counted else "duplicate").inc()
        metrics.lag.set(max(0.0, (utcnow() - event.occurred_at).total_seconds()))
        log.debug(
            "completion %s of user %s: %s", event.event_id, event.user_id, "counted" if counted else "dup"
        )

    subscribe(
        broker,
        AUTH_USAGE,
        Inbox(
            CompletionFinished,
            senders=settings.senders,
            where=AUTH_USAGE.name,
            on_drop=lambda _: metrics.events.labels("unsupported").inc(),
        ),
        on_completion,
        title="auth:completion.finished",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        hold=Hold(
            DATABASE_ERRORS,
            initial_s=settings.store_retry_initial_s,
            max_s=settings.store_retry_max_s,
            on_retry=metrics.store_retries.inc,
        ),
    )

    @broker.subscriber(
        CATALOG_REQUESTS_QUEUE,
        channel=Channel(),
        # A request that cannot be answered now is dropped: its worker asks again after its timeout.
        ack_policy=AckPolicy.REJECT_ON_ERROR,
        title="auth:catalog.requests",
    )
    async def on_catalog_request() -> RabbitResponse:
        event = await catalog.current(auth=auth)
        log.debug("catalogue revision %d sent", event.revision)
        return reply(event, user_id=settings.broker_user)

    @broker.subscriber(
        ACCESS_REQUESTS_QUEUE,
        channel=Channel(),
        ack_policy=AckPolicy.REJECT_ON_ERROR,
        title="auth:access.requests",
    )
    async def on_access_request() -> RabbitResponse:
        changes = await access.recent(
            accounts=auth.accounts, clock=auth.now, access_ttl_s=settings.access_ttl_s
        )
        log.debug("%d recent access change(s) sent", len(changes.changes))
        return reply(changes.model_dump_json().encode(), user_id=settings.broker_user)
