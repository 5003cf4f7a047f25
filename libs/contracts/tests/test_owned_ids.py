from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from parley_contracts import new_id
from parley_contracts.owned_ids import foreign, new_owned_id, owns, uuid8


def test_an_owned_id_names_its_owner() -> None:
    id_ = new_owned_id("alice")
    assert owns(id_, "alice")
    assert not owns(id_, "bob")
    assert not owns(id_, "alice ")
    assert not owns(uuid4(), "alice")


def test_owned_ids_are_distinct_version_8_uuids() -> None:
    ids = {new_owned_id("alice") for _ in range(1000)}
    assert len(ids) == 1000
    for id_ in list(ids)[:20]:
        assert id_.version == 8
        assert id_.variant == "specified in RFC 4122"
    a, b = new_owned_id("alice"), new_owned_id("alice")
    assert a.bytes[:8] == b.bytes[:8]  # the owner part is shared, the random part is not
    assert a.bytes[8:] != b.bytes[8:]


def test_ids_minted_before_the_move_keep_their_owner() -> None:
    """The gateway's session ids of before (pinned here) still belong to the same users."""
    assert new_owned_id("alice", random_bytes=lambda n: bytes(range(n))) == UUID(
        "69a98d5d-060e-82b4-8001-020304050607"
    )
    assert owns(UUID("cccd3850-b93e-88d8-bfff-ffffffffffff"), "b0b-uuid")


def test_only_a_marked_id_of_another_user_is_foreign() -> None:
    assert foreign(new_owned_id("bob"), "alice")
    assert not foreign(new_owned_id("alice"), "alice")
    assert not foreign(new_id(), "alice")  # unmarked (version 7): its owner's store decides
    assert not foreign(uuid4(), "alice")


def test_uuid8_sets_version_and_variant_only() -> None:
    id_ = uuid8(b"\xff" * 8, b"\xff" * 8)
    assert (id_.version, id_.variant) == (8, "specified in RFC 4122")
    assert id_ == UUID("ffffffff-ffff-8fff-bfff-ffffffffffff")
    with pytest.raises(ValueError, match="8 bytes"):
        uuid8(b"short", bytes(8))
