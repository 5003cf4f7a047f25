"""Ids that carry their owner.

An owned id is a UUID (RFC 9562 version 8) whose first 64 bits, but for the
version nibble, are an unkeyed hash of the owner's user id; the last 64 bits
are random. A service that holds no rows of the owner (the gateway) can then
refuse an id of another user's thing at once: `foreign(id_, user_id)`.

The gateway mints sessions, conversations and messages this way, history its
projects. Ids of another version (minted before this) cannot tell; their
owner's store decides, as it always did.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from uuid import UUID

# The gateway's session ids came first: the same personalisation keeps ids minted
# before this module existed owned by the same users.
_PERSON = b"parley-session"
_VERSION_8 = 0x80

RandomBytes = Callable[[int], bytes]


def uuid8(head: bytes, tail: bytes) -> UUID:
    """A version 8 UUID of 8 + 8 bytes, but for the version nibble and the variant bits."""
    if len(head) != 8 or len(tail) != 8:
        raise ValueError("uuid8 takes 8 bytes of head and 8 of tail")
    high, low = bytearray(head), bytearray(tail)
    high[6] = (high[6] & 0x0F) | _VERSION_8
    low[0] = (low[0] & 0x3F) | 0x80
    return UUID(bytes=bytes(high + low))


def _owner_head(user_id: str) -> bytes:
    digest = hashlib.blake2b(user_id.encode("utf-8"), digest_size=8, person=_PERSON).digest()
    return uuid8(digest, bytes(8)).bytes[:8]


def new_owned_id(user_id: str, *, random_bytes: RandomBytes = os.urandom) -> UUID:
    return uuid8(_owner_head(user_id), random_bytes(8))


def owns(id_: UUID, user_id: str) -> bool:
    """Whether `id_` is owner-marked for `user_id` (constant time)."""
    return hmac.compare_digest(id_.bytes[:8], _owner_head(user_id))


def foreign(id_: UUID, user_id: str) -> bool:
    """Whether `id_` is owner-marked (version 8) for another user than `user_id`."""
    return id_.version == 8 and not owns(id_, user_id)
