"""Outside development, history refuses to keep its audit log where it cannot be protected
(SQLite) or signed (no PARLEY_HISTORY_AUDIT_KEY), naming the setting."""

from __future__ import annotations

import pytest

from parley_history.__main__ import main
from parley_history.settings import DEV_AUDIT_SECRET, Settings
from tests.conftest import AUDIT_KEY, AUDIT_SECRET

POSTGRES = "postgresql://history@db.invalid/history"
SQLITE = "sqlite:///history.db"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PARLEY_HISTORY_DEV", "PARLEY_HISTORY_AUDIT_KEY", "PARLEY_HISTORY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("command", ["serve", "consume"])
def test_serving_on_sqlite_needs_dev_mode(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARLEY_HISTORY_DATABASE_URL", SQLITE)
    monkeypatch.setenv("PARLEY_HISTORY_AUDIT_KEY", AUDIT_SECRET)
    assert main([command]) == 2
    error = capsys.readouterr().err
    assert f"refusing to {command}" in error
    assert "SQLite" in error
    assert "PARLEY_HISTORY_DEV=1" in error


@pytest.mark.parametrize(
    "argv", [["serve"], ["consume"], ["verify"], ["replay", "--from-log", "--into", POSTGRES]]
)
def test_the_audit_key_is_needed_outside_dev_mode(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARLEY_HISTORY_DATABASE_URL", POSTGRES)
    assert main(argv) == 2
    assert "PARLEY_HISTORY_AUDIT_KEY is not set" in capsys.readouterr().err


def test_settings_say_why_not() -> None:
    production = Settings(database_url=POSTGRES, audit_key=AUDIT_SECRET)
    assert production.startup_refusal(writes_events=True) is None
    key = production.signing_key()
    assert key is not None
    assert key.key_id == AUDIT_KEY.key_id
    assert Settings(database_url=POSTGRES).signing_key() is None
    assert Settings(database_url=SQLITE, audit_key=AUDIT_SECRET).startup_refusal(writes_events=False) is None
    with pytest.raises(ValueError, match="at least 32 characters"):
        Settings(audit_key="short")
    with pytest.raises(ValueError, match="PARLEY_HISTORY_RUNTIME_ROLE"):
        Settings(runtime_role='x"; DROP TABLE audit_log; --')


def test_dev_mode_signs_with_a_fixed_public_key() -> None:
    dev = Settings(database_url=SQLITE, dev=True)
    assert dev.startup_refusal(writes_events=True) is None
    key, again = dev.signing_key(), Settings(dev=True).signing_key()
    assert key is not None
    assert again is not None
    assert key.key_id == again.key_id
    assert DEV_AUDIT_SECRET not in AUDIT_SECRET.encode()
