import uuid
from datetime import UTC, datetime, timedelta

from parley_auth.domain.access import mark_changed
from parley_auth.domain.accounts import Role
from parley_auth.domain.model import Account

DISABLED_AT = datetime(2026, 11, 27, 12, 0, 10, 300_000, tzinfo=UTC)
USER = Role.USER


def _user(*, disabled: bool, role: Role = USER) -> Account:
    return Account(
        id=uuid.uuid4(), email="a@parley.dev", email_norm="a@parley.dev", display_name="A",
        password_hash="!", role=role, created_at=DISABLED_AT, updated_at=DISABLED_AT, disabled=disabled,
    )  # fmt: skip


def test_only_disable_enable_and_role_changes_are_access_changes() -> None:
    user = _user(disabled=False)
    assert not mark_changed(user, was_disabled=False, was_role=USER, now=DISABLED_AT)
    assert (user.access_changed_at, user.tokens_not_before) == (None, None)
    user.role = Role.ADMIN
    assert mark_changed(user, was_disabled=False, was_role=USER, now=DISABLED_AT)
    assert (user.access_changed_at, user.tokens_not_before) == (DISABLED_AT, None)


def test_a_disable_sets_the_cutoff_and_enabling_later_keeps_it() -> None:
    user = _user(disabled=True)
    mark_changed(user, was_disabled=False, was_role=USER, now=DISABLED_AT)
    assert user.tokens_not_before == DISABLED_AT
    user.disabled = False
    enabled_at = DISABLED_AT + timedelta(seconds=3)
    mark_changed(user, was_disabled=True, was_role=USER, now=enabled_at)
    assert (user.access_changed_at, user.tokens_not_before) == (enabled_at, DISABLED_AT)


def test_enabled_within_the_second_of_the_disable_the_cutoff_stays_the_disable() -> None:
    # `iat` is whole seconds: a token from earlier in that second is refused, and so is one
    # issued in it after the enable (it heals a second later); no token from before survives.
    user = _user(disabled=True)
    mark_changed(user, was_disabled=False, was_role=USER, now=DISABLED_AT)
    user.disabled = False
    mark_changed(user, was_disabled=True, was_role=USER, now=DISABLED_AT + timedelta(milliseconds=400))
    assert user.tokens_not_before == DISABLED_AT
