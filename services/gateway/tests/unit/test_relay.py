from __future__ import annotations

import asyncio
import logging
import time
from uuid import UUID, uuid4

import pytest

from parley_contracts import SnapshotItem, StreamSnapshots, TokenDelta, new_id
from parley_contracts.senders import Senders
from parley_gateway.domain.sessions import resync_request_id
from parley_gateway.domain.stream import ResumeHold
from parley_gateway.relay import SessionRelay
from tests.fakes import SENDERS, UNCHECKED, FakeQueue, FakeSink, until
from tests.unit.test_stream import delta, finished


class Harness:
    def __init__(
        self, *, last_seq: int = 0, snapshot_wait_s: float = 0.5, senders: Senders = UNCHECKED
    ) -> None:
        self.session_id = uuid4()
        self.sink = FakeSink(last_seq)
        self.started: list[UUID] = []
        self.ended: list[UUID] = []
        self.resyncs = 0
        self.own_requests: set[UUID] = set()
        self.superseded = 0
        self.relay = SessionRelay(
            self.session_id,
            sink=self.sink,
            senders=senders,
            clock=time.monotonic,
            snapshot_wait_s=snapshot_wait_s,
            resync_interval_s=60.0,
            request_resync=self._resync,
            on_started=self.started.append,
            on_ended=self.ended.append,
            issued=self.own_requests.__contains__,
            on_superseded=self._superseded,
        )
        self.queue = FakeQueue(self.relay.deliver)

    def _superseded(self) -> None:
        self.superseded += 1

    async def _resync(self) -> None:
        self.resyncs += 1

    def answer(self, request_id: UUID, worker_id: str, *items: SnapshotItem) -> None:
        self.queue.publish(StreamSnapshots(request_id=request_id, worker_id=worker_id, items=items))


async def test_live_frames_are_numbered_acked_and_ended() -> None:
    h, m = Harness(), uuid4()
    h.relay.expect(m)
    h.relay.accepted(m)
    h.relay.start()
    h.queue.publish(delta(m, 1, "Hel"))
    h.queue.publish(delta(m, 2, "lo"))
    h.queue.publish(finished(m, 3, "Hello"))
    await until(lambda: h.ended == [m])
    assert [(f["type"], f["seq"]) for f in h.sink.frames] == [("delta", 1), ("delta", 2), ("done", 3)]
    assert h.sink.text(m) == "Hello"
    await until(lambda: h.queue.states() == ["acked"] * 3)
    assert not h.relay.is_running(m)


async def test_frames_wait_for_the_prompt_to_be_accepted() -> None:
    h, m = Harness(), uuid4()
    h.relay.start()
    h.relay.expect(m)
    h.queue.publish(delta(m, 1, "fast worker"))
    await asyncio.sleep(0.02)
    assert h.sink.frames == []  # `accepted` has not been sent yet
    h.relay.accepted(m)
    await until(lambda: len(h.sink.frames) == 1)


async def test_a_refused_prompt_releases_its_gate_and_drops_its_frames() -> None:
    h, m = Harness(), uuid4()
    h.relay.start()
    h.relay.expect(m)
    h.queue.publish(delta(m, 1, "x"))
    h.relay.discard(m)
    await until(lambda: h.queue.states() == ["acked"])
    assert h.sink.frames == []


async def test_unknown_versions_are_logged_acked_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    h, m = Harness(), uuid4()
    h.relay.expect(m)
    h.relay.accepted(m)
    h.relay.start()
    body = delta(m, 1, "a").model_dump(mode="json") | {"version": 99}
    import orjson

    h.queue.publish(orjson.dumps(body))
    h.queue.publish(b"not json at all")
    h.queue.publish(delta(m, 1, "a"))
    with caplog.at_level(logging.WARNING, logger="parley_gateway.relay_intake"):
        await until(lambda: h.queue.states() == ["acked"] * 3)
    assert [f["type"] for f in h.sink.frames] == ["delta"]
    assert "unsupported version 99 of 'token.delta'" in caplog.text
    assert str(h.session_id) in caplog.text


async def test_stream_events_of_a_sender_but_inference_are_acked_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h, m = Harness(senders=SENDERS), uuid4()
    h.relay.expect(m)
    h.relay.accepted(m)
    h.relay.start()
    with caplog.at_level(logging.ERROR, logger="parley_gateway.relay_intake"):
        h.queue.publish(delta(m, 1, "forged"), sender="parley-history")
        h.queue.publish(finished(m, 1, "forged"))  # no user_id at all
        h.queue.publish(delta(m, 1, "Hel"), sender="parley-inference")
        h.queue.publish(finished(m, 2, "Hello"), sender="parley-inference")
        await until(lambda: h.queue.states() == ["acked"] * 4)
    assert [f["type"] for f in h.sink.frames] == ["delta", "done"]
    assert h.sink.text(m) == "Hello"
    assert (
        f"dropping a forged message on session {h.session_id}: 'token.delta' sent by broker user "
        "'parley-history'" in caplog.text
    )
    assert "'stream.finished' sent by broker user None" in caplog.text


async def test_with_one_broker_user_for_all_any_sender_is_relayed() -> None:
    h, m = Harness(senders=UNCHECKED), uuid4()
    h.relay.expect(m)
    h.relay.accepted(m)
    h.relay.start()
    h.queue.publish(delta(m, 1, "Hi"), sender="parley-history")
    h.queue.publish(finished(m, 2, "Hi"))
    await until(lambda: h.ended == [m])
    assert h.sink.types() == ["delta", "done"]


async def test_stop_requeues_what_was_not_sent_in_order() -> None:
    h, m = Harness(), uuid4()
    h.relay.expect(m)
    h.relay.accepted(m)
    h.queue.publish(delta(m, 1, "a"))
    h.relay.start()
    await until(lambda: h.queue.states() == ["acked"])
    h.sink.alive = False  # the client went away
    h.queue.publish(delta(m, 2, "b"))
    h.queue.publish(delta(m, 3, "c"))
    await asyncio.sleep(0.01)
    await h.relay.stop()
    assert h.queue.states() == ["acked", "requeued", "requeued"]
    late = h.queue.publish(delta(m, 4, "d"))
    await until(lambda: late.state == "requeued")


async def test_resume_holds_frames_until_every_worker_answered() -> None:
    h = Harness(last_seq=10, snapshot_wait_s=5.0)
    running, ended_meanwhile = uuid4(), uuid4()
    request = uuid4()
    # What the session queue holds when the new socket attaches:
    h.queue.publish(delta(running, 4, "d"))
    h.queue.publish(delta(ended_meanwhile, 2, "y"))
    end = h.queue.publish(finished(ended_meanwhile, 3, "xyz"))
    h.answer(request, "w1", SnapshotItem(message_id=running, attempt=0, seq=4, text="abcd"))
    h.queue.publish(delta(running, 5, "e"))
    h.relay.start(ResumeHold(request, frozenset({"w1", "w2"})))
    await asyncio.sleep(0.05)
    assert h.sink.frames == []  # w2 has not answered
    assert end.state == "unsettled"  # an end stays in the queue until the client has it
    h.answer(request, "w2")
    await until(lambda: len(h.sink.frames) == 3)
    assert [(f["type"], f["seq"], f.get("text")) for f in h.sink.frames] == [
        ("snapshot", 11, "abcd"),
        ("done", 12, "xyz"),
        ("delta", 13, "e"),
    ]
    assert h.started == [running, ended_meanwhile]
    assert h.ended == [ended_meanwhile]
    assert h.relay.running == {running}
    await until(lambda: set(h.queue.states()) == {"acked"})
    assert h.resyncs == 0


async def test_resume_stops_holding_after_the_snapshot_wait() -> None:
    h, m = Harness(snapshot_wait_s=0.1), uuid4()
    h.queue.publish(delta(m, 1, "a"))
    started = time.monotonic()
    h.relay.start(ResumeHold(uuid4(), frozenset({"silent-worker"})))
    await until(lambda: len(h.sink.frames) == 1)
    assert time.monotonic() - started >= 0.1
    assert h.sink.frames[0]["seq"] == 1


async def test_a_late_answer_rescues_an_unsynced_stream_and_resyncs_are_rate_limited() -> None:
    h, m = Harness(snapshot_wait_s=0.0), uuid4()
    h.relay.start(ResumeHold(uuid4(), frozenset()))
    h.queue.publish(delta(m, 6, "f"))
    h.queue.publish(delta(m, 7, "g"))
    await until(lambda: len(h.queue.states()) == 2 and set(h.queue.states()) == {"acked"})
    assert h.sink.frames == []
    await until(lambda: h.resyncs == 1)
    h.answer(uuid4(), "w1", SnapshotItem(message_id=m, attempt=0, seq=7, text="abcdefg"))
    h.queue.publish(delta(m, 8, "h"))
    await until(lambda: len(h.sink.frames) == 2)
    assert h.sink.text(m) == "abcdefgh"
    assert h.resyncs == 1


async def test_a_socket_gone_during_the_hold_requeues_the_held_ends() -> None:
    h, m = Harness(snapshot_wait_s=5.0), uuid4()
    h.queue.publish(TokenDelta(message_id=m, seq=2, text="b"))
    h.queue.publish(finished(m, 3, "abc"))
    h.relay.start(ResumeHold(uuid4(), frozenset({"w1"})))
    await until(lambda: h.queue.states()[0] == "acked")
    await h.relay.stop()
    assert h.queue.states() == ["acked", "requeued"]


async def test_an_answer_to_a_later_resume_elsewhere_makes_the_relay_let_go() -> None:
    earlier = new_id()  # a resume before this socket attached
    h, m = Harness(), uuid4()
    h.relay.expect(m)
    h.relay.accepted(m)
    h.relay.start()
    own = new_id()
    h.own_requests.add(own)
    h.answer(own, "w1")
    h.answer(earlier, "w1", SnapshotItem(message_id=m, attempt=0, seq=0, text=""))
    h.answer(resync_request_id(), "w1")
    await until(lambda: h.queue.states() == ["acked"] * 3)
    later = new_id()  # someone resumed the session after this socket attached
    h.answer(later, "w1", SnapshotItem(message_id=m, attempt=0, seq=1, text="a"))
    h.queue.publish(delta(m, 2, "b"))
    await until(lambda: h.superseded == 1)
    await h.relay.stop()
    assert h.queue.states()[3:] == ["requeued", "requeued"]
    assert h.sink.frames == []


async def test_an_incomplete_hold_asks_again_for_snapshots() -> None:
    h = Harness(snapshot_wait_s=0.05)
    h.relay.start(ResumeHold(uuid4(), frozenset({"w1"})))
    await until(lambda: h.resyncs == 1)


async def test_messages_that_arrive_together_are_sent_in_order_then_acked() -> None:
    h, m, other = Harness(), uuid4(), uuid4()
    for message_id in (m, other):
        h.relay.expect(message_id)
        h.relay.accepted(message_id)
    h.relay.start()
    for event in (delta(m, 1, "a"), delta(other, 1, "x"), delta(m, 2, "b"), finished(m, 3, "ab")):
        h.queue.publish(event)
    await until(lambda: h.queue.states() == ["acked"] * 4)
    assert [(f["type"], f["seq"], f["text"]) for f in h.sink.frames] == [
        ("delta", 1, "a"),
        ("delta", 2, "x"),
        ("delta", 3, "b"),
        ("done", 4, "ab"),
    ]
    assert h.ended == [m]
