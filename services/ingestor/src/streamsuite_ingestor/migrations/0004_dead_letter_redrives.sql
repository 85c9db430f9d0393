-- dead_letter_redrives: a dead letter's content sent again (as it was, or edited), by whom, when.
--
-- The web UI's Redrive publishes, in one Kafka transaction, the documents to the records topic
-- and a redrive event to the DLQ topic: a dead-letter event with origin 'web', stage 'redrive'
-- and a JSON object as its detail ({"dead_letter_id", "by", "documents", "edited"}). The
-- ingestor stores DLQ events into dead_letters as it does every other one (it stays the only
-- writer, and the web UI keeps its read-only role); this trigger turns such an event into a
-- row here instead of a dead letter. An event that does not have that shape is stored as a
-- dead letter like any other, so nothing is lost.

CREATE TABLE dead_letter_redrives (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dead_letter_id  bigint NOT NULL,
    redriven_by     text NOT NULL,
    redriven_at     timestamptz,
    source          text,
    sha256          text,
    documents       integer NOT NULL,
    edited          boolean NOT NULL,
    -- Where the redrive event was read: each event is one redrive however often it is read.
    dlq_topic       text NOT NULL,
    dlq_partition   integer NOT NULL,
    dlq_offset      bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX dead_letter_redrives_dlq_coordinates
    ON dead_letter_redrives (dlq_topic, dlq_partition, dlq_offset);
CREATE INDEX dead_letter_redrives_dead_letter ON dead_letter_redrives (dead_letter_id, id);

CREATE FUNCTION dead_letter_redrive() RETURNS trigger
LANGUAGE plpgsql
-- The schema the migration runs in, whatever the inserting session's search_path.
SET search_path FROM CURRENT
AS $$
DECLARE
    d jsonb;
BEGIN
    IF NEW.detail IS NOT JSON OBJECT THEN
        RETURN NEW;
    END IF;
    d := NEW.detail::jsonb;
    IF coalesce(d->>'dead_letter_id', '') !~ '^[0-9]{1,18}$'
       OR jsonb_typeof(d->'by') IS DISTINCT FROM 'string'
       OR coalesce(d->>'documents', '') !~ '^[0-9]{1,9}$'
       OR jsonb_typeof(d->'edited') IS DISTINCT FROM 'boolean' THEN
        RETURN NEW;
    END IF;
    INSERT INTO dead_letter_redrives
        (dead_letter_id, redriven_by, redriven_at, source, sha256, documents, edited,
         dlq_topic, dlq_partition, dlq_offset)
    VALUES ((d->>'dead_letter_id')::bigint, left(d->>'by', 200), NEW.refused_at, NEW.source,
            NEW.sha256, (d->>'documents')::integer, (d->>'edited')::boolean,
            NEW.dlq_topic, NEW.dlq_partition, NEW.dlq_offset)
    ON CONFLICT DO NOTHING;
    RETURN NULL;  -- recorded as a redrive, not as a dead letter
END
$$;

CREATE TRIGGER dead_letter_redrive BEFORE INSERT ON dead_letters
    FOR EACH ROW WHEN (NEW.origin = 'web' AND NEW.stage = 'redrive')
    EXECUTE FUNCTION dead_letter_redrive();
