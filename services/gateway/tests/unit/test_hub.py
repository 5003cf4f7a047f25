from __future__ import annotations

from uuid import UUID, uuid4

from parley_contracts import RequestSnapshot
from parley_gateway.domain.sessions import new_session_id, resync_request_id
from parley_gateway.hub import SessionHub
from tests.fakes import until


class Holder:
    def __init__(self) -> None:
        self.requests: set[UUID] = set()
        self.taken_over = False
        self.access_checks = 0

    def issued(self, request_id: UUID) -> bool:
        return request_id in self.requests

    async def take_over(self) -> None:
        self.taken_over = True

    async def access_changed(self) -> None:
        self.access_checks += 1


async def test_a_new_socket_takes_a_session_over_in_this_process() -> None:
    hub, session = SessionHub(), uuid4()
    first, second = Holder(), Holder()
    await hub.claim(session, first)
    await hub.claim(session, first)
    before = first.taken_over
    await hub.claim(session, second)
    assert (before, first.taken_over) == (False, True)
    hub.release(session, first)  # the old socket's late release leaves the new one alone
    assert hub.holder(session) is second
    hub.release(session, second)
    assert len(hub) == 0


async def test_a_resume_elsewhere_takes_the_session_over() -> None:
    hub, session = SessionHub(), uuid4()
    holder = Holder()
    own = uuid4()
    holder.requests.add(own)
    await hub.claim(session, holder)

    def request(request_id: UUID, session_id: UUID = session) -> RequestSnapshot:
        return RequestSnapshot(request_id=request_id, session_id=session_id, reply_to=f"session.{session_id}")

    hub.on_snapshot_request(request(own))  # its own request
    hub.on_snapshot_request(request(resync_request_id()))  # a resync is no takeover
    hub.on_snapshot_request(request(uuid4(), uuid4()))  # another session
    assert not holder.taken_over
    hub.on_snapshot_request(request(uuid4()))
    await until(lambda: holder.taken_over)
    assert hub.holder(session) is None


async def test_an_access_change_has_only_that_users_sockets_check_their_token() -> None:
    hub = SessionHub()
    alice_1, alice_2, bob = Holder(), Holder(), Holder()
    await hub.claim(new_session_id("alice"), alice_1)
    await hub.claim(new_session_id("alice"), alice_2)
    await hub.claim(new_session_id("bob"), bob)
    assert hub.on_access_changed("alice") == 2
    await until(lambda: alice_1.access_checks == alice_2.access_checks == 1)
    assert bob.access_checks == 0
    assert hub.on_access_changed("carol") == 0
