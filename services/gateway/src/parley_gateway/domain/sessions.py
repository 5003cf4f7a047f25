"""Session ids that carry their owner.

A session id is a UUID (RFC 9562 version 8) whose first 64 bits, but for the
version nibble, are a hash of the owner's user id; the last 64 bits are
random. Any gateway process can tell whether a user may resume a session
without shared state: `owns(session_id, user_id)`.

Conversation and message ids the gateway mints carry their owner the same
way, so that a prompt naming another user's conversation or message is
refused at the edge (`foreign`). Ids of another version (conversations from
before this) cannot tell; history ignores another user's events anyway.

Snapshot requests for a resync (as opposed to a resume) carry ids marked in
the same way, so that other gateways do not mistake them for a takeover.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from uuid import UUID

_PERSON = b"parley-session"
_VERSION_8 = 0x80
_RESYNC_MARK = b"resync"

RandomBytes = Callable[[int], bytes]


def _with_version(head: bytes) -> bytes:
    out = bytearray(head)
    out[6] = (out[6] & 0x0F) | _VERSION_8
    return bytes(out)


def _with_variant(tail: bytes) -> bytes:
    out = bytearray(tail)
    out[0] = (out[0] & 0x3F) | 0x80
    return bytes(out)


def _owner_head(user_id: str) -> bytes:
    digest = hashlib.blake2b(user_id.encode("utf-8"), digest_size=8, person=_PERSON).digest()
    return _with_version(digest)


def new_session_id(user_id: str, *, random_bytes: RandomBytes = os.urandom) -> UUID:
    return UUID(bytes=_owner_head(user_id) + _with_variant(random_bytes(8)))


def owns(session_id: UUID, user_id: str) -> bool:
    """Whether `user_id` may attach to `session_id` (constant time)."""
    return hmac.compare_digest(session_id.bytes[:8], _owner_head(user_id))


def new_owned_id(user_id: str, *, random_bytes: RandomBytes = os.urandom) -> UUID:
    """A conversation or message id that carries its owner, as a session id does."""
    return new_session_id(user_id, random_bytes=random_bytes)


def foreign(id_: UUID, user_id: str) -> bool:
    """Whether `id_` is owner-marked (version 8) for another user than `user_id`."""
    return id_.version == 8 and not owns(id_, user_id)


def resync_request_id(*, random_bytes: RandomBytes = os.urandom) -> UUID:
    head = _with_version(_RESYNC_MARK + random_bytes(2))
    return UUID(bytes=head + _with_variant(random_bytes(8)))


def is_resync_request(request_id: UUID) -> bool:
    return request_id.version == 8 and request_id.bytes[:6] == _RESYNC_MARK
