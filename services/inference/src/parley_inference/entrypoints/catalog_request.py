"""A starting worker asks the catalogue's owner (auth) for the current catalogue, request-reply
on `catalog.requests`; without an answer it serves its models file until a `catalog.updated`
comes."""

from __future__ import annotations

import logging

from parley_contracts.catalog import CATALOG_REQUESTS, CatalogUpdated
from parley_contracts.senders import Senders
from parley_inference.entrypoints.consumers import catalog_inbox
from parley_platform.broker import RabbitBroker
from parley_platform.rpc import NoAnswer, ask

log = logging.getLogger(__name__)


async def current_catalog(
    broker: RabbitBroker, *, timeout_s: float, user_id: str, senders: Senders
) -> CatalogUpdated | None:
    """The catalogue auth answers with; None (logged) when no catalogue service runs, it does
    not answer within `timeout_s`, or the answer is not auth's."""
    try:
        answer = await ask(broker, CATALOG_REQUESTS, timeout_s=timeout_s, user_id=user_id)
    except NoAnswer as exc:
        log.warning("the runtime catalogue: %s: serving the models file", exc.reason)
        return None
    return catalog_inbox(f"{CATALOG_REQUESTS} answers", senders).read(answer.body, sender=answer.sender)
