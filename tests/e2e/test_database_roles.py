"""deploy/postgres/init-databases.sh (compose's first start of PostgreSQL), run on a private
cluster: history's database belongs to an owner role that only the migrations use, and the
role the service runs as owns nothing, so it cannot disable the audit log's trigger."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .private_postgres import PrivatePostgres, private_postgres

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "init-databases.sh"


@pytest.fixture(scope="module")
def initialised() -> Iterator[PrivatePostgres]:
    with private_postgres() as cluster:
        env = {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(cluster.port),
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": "postgres",
            "PARLEY_AUTH_DB_PASSWORD": "auth-password",
            "PARLEY_HISTORY_DB_PASSWORD": "history-password",
            "PARLEY_HISTORY_OWNER_DB_PASSWORD": "owner-password",
        }
        done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        yield cluster


def _psql(cluster: PrivatePostgres, sql: str, *, user: str = "postgres", database: str = "postgres") -> str:
    url = f"postgresql://{user}@127.0.0.1:{cluster.port}/{database}"
    done = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise PermissionError(done.stderr.strip())
    return done.stdout.strip()


def test_each_database_has_its_owner(initialised: PrivatePostgres) -> None:
    owners = _psql(
        initialised,
        "SELECT datname || '=' || pg_get_userbyid(datdba) FROM pg_database "
        "WHERE datname LIKE 'parley_%' ORDER BY datname",
    )
    assert owners.splitlines() == ["parley_auth=parley_auth", "parley_history=parley_history_owner"]


def test_the_history_service_role_logs_in_but_owns_nothing(initialised: PrivatePostgres) -> None:
    role = _psql(
        initialised,
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
        "WHERE rolname = 'parley_history'",
    )
    assert role == "t|f|f|f"
    # A table the migrations made (as the owner): the service's role cannot alter it, so it
    # cannot switch a trigger off nor take the table over.
    _psql(
        initialised, "CREATE TABLE audit_like (x int)", user="parley_history_owner", database="parley_history"
    )
    assert _psql(initialised, "SELECT current_user", user="parley_history", database="parley_history") == (
        "parley_history"
    )
    with pytest.raises(PermissionError, match="must be owner"):
        _psql(
            initialised,
            "ALTER TABLE audit_like DISABLE TRIGGER ALL",
            user="parley_history",
            database="parley_history",
        )


def test_other_roles_cannot_connect_to_historys_database(initialised: PrivatePostgres) -> None:
    with pytest.raises(PermissionError, match="permission denied"):
        _psql(initialised, "SELECT 1", user="parley_auth", database="parley_history")
