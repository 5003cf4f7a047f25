#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL data directory (docker-entrypoint-initdb.d).
# One database per service: each service owns its data, no service reads another's tables
# (docs/architecture.md section 4). Passwords come from the compose environment.
#
# auth's role owns its database. history's is owned by parley_history_owner, which only the
# migrations use (`migrate` with PARLEY_HISTORY_RUNTIME_ROLE=parley_history grants the runtime
# role its rights): the running service, parley_history, is no owner, so it can neither disable the
# audit log's trigger nor rewrite its rows, only read and append to it.
set -eu

psql_admin() {
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "$@"
}

# A LOGIN role with a password.
role() {
    psql_admin -v role="$1" -v password="$2" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
SQL
}

# A database owned by a role, closed to everyone else until the owner grants.
database() {
    psql_admin -v database="$1" -v owner="$2" <<'SQL'
CREATE DATABASE :"database" OWNER :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
}

role parley_auth "${PARLEY_AUTH_DB_PASSWORD:?}"
database parley_auth parley_auth

role parley_history_owner "${PARLEY_HISTORY_OWNER_DB_PASSWORD:?}"
role parley_history "${PARLEY_HISTORY_DB_PASSWORD:?}"
database parley_history parley_history_owner
# The runtime role may connect; its table rights come from the migrations.
psql_admin -v database=parley_history -v role=parley_history <<'SQL'
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";
SQL
