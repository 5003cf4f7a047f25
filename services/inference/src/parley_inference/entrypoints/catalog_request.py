"""A starting worker asks the catalogue's owner (auth) for the current catalogue, request-reply
on `catalog.requests`; without an answer it serves its models file until a `catalog.updated`
comes."""

from __future__ import annotations

import logging

from faststream.rabbit import RabbitBroker

from parley_contracts import UnsupportedEvent
from parley_contracts.catalog import CATALOG_REQUESTS, CatalogUpdated
from parley_contracts.senders import Senders
from parley_inference.entrypoints.consumers import CATALOG_DECODER
from parley_platform.rabbit import queue_exists

log = logging.getLogger(__name__)


async def current_catalog(
    broker: RabbitBroker, *, timeout_s: float, user_id: str, senders: Senders
) -> CatalogUpdated | None:
    """The catalogue auth answers with; None (logged) when no catalogue service runs, it does
    not answer within `timeout_s`, or the answer is not auth's."""
    if timeout_s <= 0 or not await queue_exists(await broker.connect(), CATALOG_REQUESTS):
        log.info("no runtime catalogue service: serving the models file")
        return None
    try:
        response = await broker.request(b"{}", queue=CATALOG_REQUESTS, timeout=timeout_s, user_id=user_id)
    except TimeoutError:
        log.warning("the runtime catalogue did not answer within %.1f s: serving the models file", timeout_s)
        return None
    try:
        event = senders.decode(CATALOG_DECODER, response.body, response.raw_message.user_id)
    except UnsupportedEvent as exc:
        log.warning(
            "the answer from %s was rejected (%s): serving the models file", CATALOG_REQUESTS, exc.reason
        )
        return None
    assert isinstance(event, CatalogUpdated)
    return event
