#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL data directory (docker-entrypoint-initdb.d).
# One database and one owner role per service: each service owns its data, no service reads
# another's tables (DESIGN section 4). Passwords come from the compose environment.
set -eu

create() {
    role="$1"; password="$2"; database="$3"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v role="$role" -v password="$password" -v database="$database" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
}

create parley_auth "${PARLEY_AUTH_DB_PASSWORD:?}" parley_auth
create parley_history "${PARLEY_HISTORY_DB_PASSWORD:?}" parley_history
