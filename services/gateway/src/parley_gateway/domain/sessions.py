"""Session ids that carry their owner.

A session id is an owned id (`parley_contracts.owned_ids`): a UUID version 8
whose first 64 bits are a hash of the owner's user id. Any gateway process can
tell whether a user may resume a session without shared state:
`owns(session_id, user_id)`.

Conversation and message ids the gateway mints carry their owner the same
way (`new_owned_id`), as do the project ids history mints, so that a prompt
naming another user's conversation, message or project is refused at the
edge (`foreign`).

Snapshot requests for a resync (as opposed to a resume) carry ids marked in
a way of their own, so that other gateways do not mistake them for a takeover.
"""

from __future__ import annotations

import os
from uuid import UUID

from parley_contracts.owned_ids import RandomBytes, foreign, new_owned_id, owns, uuid8

__all__ = [
    "foreign",
    "is_resync_request",
    "new_owned_id",
    "new_session_id",
    "owns",
    "resync_request_id",
]

_RESYNC_MARK = b"resync"


def new_session_id(user_id: str, *, random_bytes: RandomBytes = os.urandom) -> UUID:
    return new_owned_id(user_id, random_bytes=random_bytes)


def resync_request_id(*, random_bytes: RandomBytes = os.urandom) -> UUID:
    return uuid8(_RESYNC_MARK + random_bytes(2), random_bytes(8))


def is_resync_request(request_id: UUID) -> bool:
    return request_id.version == 8 and request_id.bytes[:6] == _RESYNC_MARK
