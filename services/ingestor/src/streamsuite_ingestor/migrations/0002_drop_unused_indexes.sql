-- Every index on records costs every insert its maintenance (issue 15): keep only those a query
-- of the API or the web UI uses (streamsuite_common.query.sql).
--
-- records_source (source, doc_index) repeats the leading column of records_identity
-- (source, sha256, doc_index), which serves `source = $1` as well; no query orders by doc_index.
DROP INDEX IF EXISTS records_source;
-- records_produced (produced_at, id): no query filters or sorts by produced_at (since/until and
-- the per-minute stats read ingested_at, served by records_ingested).
DROP INDEX IF EXISTS records_produced;
--
-- Kept: records_pkey (by id, pages), records_identity and records_kafka_coordinates (the
-- idempotent inserts), records_payload (key/value, contains, jsonpath: GIN), records_ingested
-- (since/until, stats per minute), records_kind (kind, newest first), records_name (name),
-- records_age (age_min/age_max).
