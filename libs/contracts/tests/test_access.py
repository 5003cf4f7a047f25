from datetime import UTC, datetime, timedelta

import pytest

from parley_contracts import DOMAIN_EVENTS, EventDecoder, UserAccessChanged
from parley_contracts.access import AccessRevoked, RecentAccessChanges, effective_role, newer

NOW = datetime(2026, 11, 27, 12, 0, 0, 300_000, tzinfo=UTC)
TTL = timedelta(minutes=15)


def _change(*, disabled: bool = False, role: str = "user", cut: datetime | None = None) -> UserAccessChanged:
    return UserAccessChanged(
        user_id="u1",
        disabled=disabled,
        role=role,  # type: ignore[arg-type]
        tokens_not_before=cut,
        occurred_at=NOW,
        relevant_until=NOW + TTL,
    )


def test_no_change_keeps_the_token_role() -> None:
    assert effective_role(None, role="admin", issued_at=0.0, now=NOW) == "admin"


def test_a_disabled_account_refuses_every_token_even_a_fresh_one() -> None:
    change = _change(disabled=True, cut=NOW)
    with pytest.raises(AccessRevoked, match="disabled"):
        effective_role(change, role="user", issued_at=NOW.timestamp() + 60, now=NOW)


def test_after_re_enabling_tokens_from_before_the_disable_are_refused_and_later_ones_work() -> None:
    change = _change(cut=NOW)  # disabled at NOW (x.3 s), enabled again since
    same_second_before = float(int(NOW.timestamp()))  # `iat` is whole seconds
    with pytest.raises(AccessRevoked, match="sign in again"):
        effective_role(change, role="user", issued_at=same_second_before, now=NOW)
    with pytest.raises(AccessRevoked):
        effective_role(change, role="user", issued_at=None, now=NOW)
    later = float(int(NOW.timestamp()) + 5)
    assert effective_role(change, role="user", issued_at=later, now=NOW + timedelta(seconds=6)) == "user"


def test_a_demoted_admins_token_is_a_users_and_a_promoted_users_stays_a_users() -> None:
    issued = NOW.timestamp() - 60
    assert effective_role(_change(role="user"), role="admin", issued_at=issued, now=NOW) == "user"
    assert effective_role(_change(role="admin"), role="user", issued_at=issued, now=NOW) == "user"
    assert effective_role(_change(role="admin"), role="admin", issued_at=issued, now=NOW) == "admin"


def test_a_change_lapses_once_every_token_it_concerns_has_expired() -> None:
    change = _change(disabled=True, cut=NOW)
    assert effective_role(change, role="admin", issued_at=None, now=NOW + TTL) == "admin"


def test_newer_orders_by_time_then_event_id() -> None:
    first = _change()
    second = _change(disabled=True)  # same occurred_at, later UUIDv7
    assert newer(first, None)
    assert newer(second, first)
    assert not newer(first, second)


def test_the_event_and_the_reply_round_trip() -> None:
    change = _change(disabled=True, cut=NOW)
    assert UserAccessChanged in DOMAIN_EVENTS
    assert EventDecoder(DOMAIN_EVENTS).decode(change.to_json()) == change
    reply = RecentAccessChanges(changes=(change,))
    assert RecentAccessChanges.model_validate_json(reply.model_dump_json()) == reply
