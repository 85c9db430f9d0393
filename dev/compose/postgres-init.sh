#!/bin/sh
# First start of the compose PostgreSQL: the database, the writer role (owns the data, used by
# the ingestor) and the read-only role (query API, web). Mirrors dev/src/devstack/postgres.py.
# Runs once, from /docker-entrypoint-initdb.d, with the passwords from the environment.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v writer_pw="$WRITER_PASSWORD" -v reader_pw="$READER_PASSWORD" <<'SQL'
CREATE ROLE streamsuite_writer LOGIN PASSWORD :'writer_pw';
CREATE ROLE streamsuite_reader LOGIN PASSWORD :'reader_pw';
ALTER ROLE streamsuite_reader SET default_transaction_read_only = on;
CREATE DATABASE streamsuite OWNER streamsuite_writer;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname streamsuite <<'SQL'
REVOKE ALL ON DATABASE streamsuite FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE streamsuite TO streamsuite_writer;
GRANT CONNECT ON DATABASE streamsuite TO streamsuite_reader;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE streamsuite_writer GRANT SELECT ON TABLES TO streamsuite_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE streamsuite_writer GRANT SELECT ON SEQUENCES TO streamsuite_reader;
SQL
