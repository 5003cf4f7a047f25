from __future__ import annotations

from uuid import uuid4

from parley_contracts import new_id
from parley_gateway.domain.sessions import is_resync_request, new_session_id, owns, resync_request_id


def test_a_session_id_names_its_owner() -> None:
    session = new_session_id("alice")
    assert owns(session, "alice")
    assert not owns(session, "bob")
    assert not owns(session, "alice ")
    assert not owns(uuid4(), "alice")


def test_session_ids_are_valid_distinct_uuids() -> None:
    sessions = {new_session_id("alice") for _ in range(1000)}
    assert len(sessions) == 1000
    for session in list(sessions)[:20]:
        assert session.version == 8
        assert session.variant == "specified in RFC 4122"
    # The owner part is shared; the random part is not.
    a, b = new_session_id("alice"), new_session_id("alice")
    assert a.bytes[:8] == b.bytes[:8]
    assert a.bytes[8:] != b.bytes[8:]


def test_session_id_randomness_is_injectable() -> None:
    session = new_session_id("alice", random_bytes=lambda n: b"\x00" * n)
    assert session == new_session_id("alice", random_bytes=lambda n: b"\x00" * n)
    assert owns(session, "alice")


def test_resync_requests_are_told_apart() -> None:
    assert is_resync_request(resync_request_id())
    assert not is_resync_request(new_id())
    assert not is_resync_request(new_session_id("resync"))
