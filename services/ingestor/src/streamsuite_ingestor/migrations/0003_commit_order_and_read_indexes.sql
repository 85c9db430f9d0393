-- Reads at scale (issue 16).
--
-- Commit order for the stream: ids are taken at INSERT but become visible at COMMIT, so with
-- two writers a batch that commits late can carry ids below ones already streamed. Each row
-- records the transaction that wrote it; a reader streams only rows whose transaction is below
-- its snapshot's xmin (finished, so nothing below it can still appear), in (xid, id) order.
-- Added without a default first and given it after, so existing rows are not rewritten: their
-- xid stays NULL and counts as 0 (committed before any streamed row).
ALTER TABLE records ADD COLUMN xid xid8;
ALTER TABLE records ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX records_commit_order ON records ((coalesce(xid, '0'::xid8)), id);

-- has_key: jsonb_path_ops (records_payload) cannot index key existence; jsonb_ops can, for
-- the jsonpath existence prefilter the query layer adds. jsonb_ops serves containment and
-- jsonpath as well, so it replaces records_payload instead of joining it: GIN upkeep is the
-- largest cost of an insert, and two of them cut the table's COPY ceiling about 4x.
CREATE INDEX records_payload_keys ON records USING gin (payload);
DROP INDEX IF EXISTS records_payload;

-- Newest first with an exact source or name: the page walks these backwards and stops at LIMIT.
CREATE INDEX records_source_id ON records (source, id);
CREATE INDEX records_name_id ON records (name, id) WHERE name IS NOT NULL;
-- records_name (name) is the leading column of records_name_id: it serves `name = $1` too.
DROP INDEX IF EXISTS records_name;
