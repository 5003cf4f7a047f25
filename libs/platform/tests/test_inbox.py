"""The inbox every consumer reads events with: decode, check the sender, drop with one line."""

from __future__ import annotations

import logging

import pytest

from parley_contracts import QuotaExceeded, QuotaRestored, UnsupportedEvent
from parley_contracts.senders import UNCHECKED, ForgedEvent, Senders
from parley_platform.inbox import Inbox

SENDERS = Senders.parse("auth=u-auth,gateway=u-gateway,history=u-history,inference=u-inference")


def _exceeded() -> QuotaExceeded:
    return QuotaExceeded(user_id="u1", quota="tokens_per_day", used=11, limit=10)


def _inbox(dropped: list[UnsupportedEvent] | None = None) -> Inbox[QuotaExceeded | QuotaRestored]:
    on_drop = dropped.append if dropped is not None else None
    return Inbox(QuotaExceeded, QuotaRestored, senders=SENDERS, where="q.quota", on_drop=on_drop)


def test_an_event_from_its_owner_is_read() -> None:
    event = _exceeded()
    assert _inbox().read(event.to_json(), sender="u-auth") == event


@pytest.mark.parametrize(
    ("body", "sender", "level", "says"),
    [
        (b"not json", "u-auth", logging.WARNING, "body is not JSON"),
        (b'{"type": "user.registered"}', "u-auth", logging.WARNING, "unknown event type 'user.registered'"),
        (_exceeded().to_json(), "u-history", logging.ERROR, "sent by broker user 'u-history'"),
        (_exceeded().to_json(), None, logging.ERROR, "sent by broker user None"),
    ],
    ids=["not-json", "unknown-type", "forged", "no-sender"],
)
def test_a_message_that_must_go_is_dropped_with_one_line(
    body: bytes, sender: str | None, level: int, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    dropped: list[UnsupportedEvent] = []
    with caplog.at_level(logging.DEBUG, logger="parley_platform.inbox"):
        assert _inbox(dropped).read(body, sender=sender, message_id="m-1") is None
    (record,) = caplog.records
    assert record.levelno == level
    assert says in record.getMessage()
    assert "on q.quota (message m-1): " in record.getMessage()
    (reason,) = dropped
    assert isinstance(reason, ForgedEvent) == (level == logging.ERROR)


def test_decode_keeps_the_reason_for_callers_that_dead_letter() -> None:
    with pytest.raises(ForgedEvent):
        _inbox().decode(_exceeded().to_json(), sender="u-gateway")
    with pytest.raises(UnsupportedEvent, match="not a JSON object"):
        _inbox().decode(b"[]", sender="u-auth")


def test_check_tells_a_sender_by_the_type_it_claims(caplog: pytest.LogCaptureFixture) -> None:
    inbox = _inbox()
    assert inbox.check("quota.exceeded", sender="u-auth")
    with caplog.at_level(logging.ERROR, logger="parley_platform.inbox"):
        assert not inbox.check("quota.exceeded", sender="u-inference")
    assert "forged" in caplog.text


def test_one_shared_credential_checks_no_sender() -> None:
    inbox = Inbox(QuotaExceeded, senders=UNCHECKED, where="q")
    assert isinstance(inbox.read(_exceeded().to_json(), sender=None), QuotaExceeded)
    assert isinstance(inbox.read(_exceeded().to_json(), sender="anyone"), QuotaExceeded)
