#!/bin/sh
# First start of a PostgreSQL server for streamsuite (the official image runs it once, from
# /docker-entrypoint-initdb.d): the database, the writer role (owns the data, used by the
# ingestor) and the read-only role (query API, web). Used by the Helm chart and compose.yaml;
# mirrors dev/src/devstack/postgres.py. Passwords come from the environment.
set -eu
: "${WRITER_PASSWORD:?}" "${READER_PASSWORD:?}"
db="${STREAMSUITE_DATABASE:-streamsuite}"
writer="${STREAMSUITE_WRITER:-streamsuite_writer}"
reader="${STREAMSUITE_READER:-streamsuite_reader}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v db="$db" -v writer="$writer" -v reader="$reader" \
     -v writer_pw="$WRITER_PASSWORD" -v reader_pw="$READER_PASSWORD" <<'SQL'
CREATE ROLE :"writer" LOGIN PASSWORD :'writer_pw';
CREATE ROLE :"reader" LOGIN PASSWORD :'reader_pw';
ALTER ROLE :"reader" SET default_transaction_read_only = on;
CREATE DATABASE :"db" OWNER :"writer";
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db" \
     -v db="$db" -v writer="$writer" -v reader="$reader" <<'SQL'
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"writer";
GRANT CONNECT ON DATABASE :"db" TO :"reader";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE :"writer" GRANT SELECT ON TABLES TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"writer" GRANT SELECT ON SEQUENCES TO :"reader";
SQL
